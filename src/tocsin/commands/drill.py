"""`tocsin drill AUTOMATION_ID [--url] [--token] [--timeout SECONDS]`: send one real `[TEST]` notification
through each notifying action of an automation on a running engine, wait for the outcomes and print them.

Exit status 0 when every drilled delivery arrived, 1 otherwise (dead letter, still retrying at the timeout,
or an error reaching the engine).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, TextIO

from tocsin.errors import TocsinError

FINAL = ("delivered", "dead")


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "drill", help="send one [TEST] notification through each action of an automation"
    )
    parser.add_argument("automation", help="automation id on the engine")
    parser.add_argument("--url", default=os.environ.get("TOCSIN_URL", "http://127.0.0.1:4300"))
    parser.add_argument("--token", default=os.environ.get("TOCSIN_API_TOKEN"))
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for outcomes (default 60)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from tocsin.client import TocsinClient

    out = out or sys.stdout
    client = TocsinClient(args.url, args.token)
    try:
        started = client.request("POST", f"/automations/{args.automation}/drill")
        for item in started["skipped"]:
            print(f"{item['path']} {item['type']}: skipped ({item['reason']})", file=out)
        if not started["deliveries"]:
            print(
                "nothing to drill: the automation has no send-notification or call-webhook action", file=out
            )
            return 1
        results = wait(client, [d["id"] for d in started["deliveries"]], args.timeout)
    except TocsinError as exc:
        print(f"error: {exc}", file=out)
        return 1
    ok = True
    for item in started["deliveries"]:
        result = results[item["id"]]
        status = result["status"] if result["status"] in FINAL else f"{result['status']} (timed out waiting)"
        line = (
            f"{item['path']} {result['action_type']} -> {status}, attempts {result['attempts']}, "
            f"delivery id {item['id']}"
        )
        if result.get("last_error"):
            line += f": {result['last_error']}"
        print(line, file=out)
        ok = ok and result["status"] == "delivered"
    return 0 if ok else 1


def wait(client: Any, ids: list[str], timeout_seconds: float) -> dict[str, dict[str, Any]]:
    """The deliveries' last known state, polling until all are final or the timeout passes."""
    deadline = time.monotonic() + timeout_seconds
    results: dict[str, dict[str, Any]] = {}
    while True:
        for delivery_id in ids:
            if results.get(delivery_id, {}).get("status") not in FINAL:
                results[delivery_id] = client.request("GET", f"/deliveries/{delivery_id}")
        if all(r["status"] in FINAL for r in results.values()) or time.monotonic() > deadline:
            return results
        time.sleep(0.1)
