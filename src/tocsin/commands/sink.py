"""`tocsin sink`: a local stand-in for Slack, Teams, PagerDuty, Twilio, webhooks and SMTP that prints what
arrives. Aim blocks' URLs (or `api_base_url`) at it to see alerts without touching a real service.

Each request is answered 200 (Twilio: 201, PagerDuty: 202, as the real services do) and printed as one line
`[channel] text`; with --jsonl every arrival is also appended as one JSON object to a file.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs

Record = dict[str, Any]


def describe(path: str, body: bytes, content_type: str) -> Record:
    """Recognise the service from the request shape and pull out the human-readable text."""
    text = body.decode("utf-8", "replace")
    data: Any = None
    if "json" in content_type or text[:1] in "{[":
        try:
            data = json.loads(text)
        except ValueError:
            data = None
    if "/Messages.json" in path:  # Twilio: form-encoded
        form = {k: v[0] for k, v in parse_qs(text).items()}
        return {"channel": "twilio-sms", "to": form.get("To"), "text": form.get("Body", "")}
    if isinstance(data, dict) and "routing_key" in data and "event_action" in data:
        payload = data.get("payload") or {}
        return {"channel": "pagerduty", "severity": payload.get("severity"), "dedup_key": data.get("dedup_key"),
                "text": payload.get("summary", "")}
    if isinstance(data, dict) and data.get("type") == "message" and "attachments" in data:
        texts = [b.get("text", "") for a in data["attachments"] for b in (a.get("content") or {}).get("body", [])]
        return {"channel": "ms-teams", "text": " | ".join(t for t in texts if t)}
    if isinstance(data, dict) and ("text" in data or "blocks" in data):
        return {"channel": "slack", "text": data.get("text", "")}
    return {"channel": "webhook", "text": text if data is None else json.dumps(data, sort_keys=True)}


class SinkServer:
    """An HTTP sink on a loopback port; `records` keeps every arrival in order."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, on_record: Callable[[Record], None] | None = None):
        self.records: list[Record] = []
        self._lock = threading.Lock()
        self._on_record = on_record
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                record = describe(self.path, body, self.headers.get("Content-Type", ""))
                record["path"] = self.path
                record["delivery_id"] = self.headers.get("X-Tocsin-Delivery-Id")
                sink.add(record)
                status = 201 if record["channel"] == "twilio-sms" else 202 if record["channel"] == "pagerduty" else 200
                reply = b'{"status":"success"}' if status == 202 else b"ok"
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_PUT = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.url = f"http://{host}:{self.httpd.server_address[1]}"

    def add(self, record: Record) -> None:
        with self._lock:
            self.records.append(record)
        if self._on_record:
            self._on_record(record)

    def start(self) -> SinkServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def start_smtp(sink: SinkServer, host: str, port: int) -> Any:
    """A real SMTP server (aiosmtpd) feeding the same sink; returns its controller, or None if unavailable."""
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        return None

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            message = message_from_bytes(envelope.content, policy=default_policy)
            body = message.get_body(preferencelist=("plain", "html"))
            sink.add({"channel": "email", "to": ", ".join(envelope.rcpt_tos), "subject": message["subject"],
                      "text": (body.get_content() if body else "").strip()})
            return "250 OK"

    controller = Controller(Handler(), hostname=host, port=port)
    controller.start()
    return controller


def format_record(record: Record) -> str:
    extra = ""
    if record.get("to"):
        extra += f" to={record['to']}"
    if record.get("subject"):
        extra += f" subject={record['subject']!r}"
    if record.get("severity"):
        extra += f" severity={record['severity']}"
    return f"[{record['channel']}]{extra} {record.get('text', '')}".rstrip()


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("sink", help="print notifications sent to a local stand-in for Slack & co")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4399, help="HTTP port (default 4399)")
    parser.add_argument("--smtp-port", type=int, default=0, help="also accept email on this SMTP port")
    parser.add_argument("--jsonl", type=Path, help="append every arrival to this file as JSON lines")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    jsonl = args.jsonl.open("a", buffering=1) if args.jsonl else None

    def on_record(record: Record) -> None:
        print(format_record(record), flush=True)
        if jsonl:
            jsonl.write(json.dumps(record) + "\n")

    sink = SinkServer(args.host, args.port, on_record=on_record)
    smtp = start_smtp(sink, args.host, args.smtp_port) if args.smtp_port else None
    print(f"tocsin sink listening on {sink.url}" + (f" and smtp://{args.host}:{args.smtp_port}" if smtp else ""),
          file=sys.stderr, flush=True)
    try:
        sink.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if smtp:
            smtp.stop()
    return 0
