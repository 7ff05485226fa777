"""End-to-end figures of a real `tocsin server`, shaped like ../shared/bench/prefect-anchor so the two compare.

Scenarios (each on a fresh engine, SQLite, loopback only):
- restart: cold start to a healthy /api/health on a fresh database (3 runs), idle RSS;
- paced10-200: 200 events at 10/s, one call-webhook automation: unloaded event -> webhook latency;
- reactive-N: N events in batches of 100, 4 requests in flight, one automation: ingest rate, delivered, lost,
  duplicated, actions/s end to end, latency p50/p95/p99 (sink arrival minus the sender's emit time);
- fanout100-100: 100 matching automations x 100 events = 10,000 webhook calls;
- proactive: 100 `bench.start` events, 50 of them followed by `bench.done`, within 10 s, for_each resource: the 50
  silent ones must fire; lateness after the deadline.
Usage: python bench/e2e.py [--sizes 1000,5000] [--out results.json]. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import procs  # bench/procs.py
import requests

TOCSIN = str(Path(sys.executable).parent / "tocsin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class Sink:
    """Records (arrival time, body) of every POST."""

    def __init__(self) -> None:
        self.records: list[tuple[float, dict[str, Any]]] = []
        lock = threading.Lock()
        records = self.records

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                now = time.time()
                try:
                    data = json.loads(body)
                except ValueError:
                    data = {"raw": body.decode(errors="replace")}
                data["_delivery"] = self.headers.get("X-Tocsin-Delivery-Id")
                with lock:
                    records.append((now, data))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def reset(self) -> None:
        self.records.clear()


class Engine:
    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="tocsin-bench-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_urlsafe(16)
        self.headers = {"Authorization": f"Bearer {self.token}"}
        env = {**os.environ, "TOCSIN_HOME": str(self.home), "TOCSIN_API_TOKEN": self.token}
        started = time.time()
        self.proc = subprocess.Popen([TOCSIN, "server", "--port", str(self.port), "--log-level", "WARNING"],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while True:
            try:
                if requests.get(f"{self.url}/api/health", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.time() - started > 30:
                raise RuntimeError("engine did not start")
            time.sleep(0.01)
        self.cold_start_s = time.time() - started
        self.session = requests.Session()
        self.session.headers.update(self.headers)

    def pids(self) -> list[int]:
        """The server process and its children (the evaluator and dispatcher processes)."""
        return procs.engine_pids(self.proc.pid)

    def rss_mb(self) -> float:
        """Resident memory of all the engine's processes (shared pages counted in each)."""
        return procs.rss_mb(self.pids())

    def pss_mb(self) -> float:
        """Proportional set size of all the engine's processes: pages they share counted once in all."""
        return procs.pss_mb(self.pids())

    def cpu_seconds(self) -> float:
        return procs.cpu_seconds(self.pids())

    def post(self, path: str, body: Any) -> Any:
        response = self.session.post(f"{self.url}{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json() if response.content else None

    def webhook_automation(self, sink: Sink, name: str, trigger: dict[str, Any]) -> None:
        if not hasattr(self, "_block"):
            self._block = self.post("/api/blocks/", {"name": "bench-sink", "type": "webhook",
                                                     "data": {"url": sink.url + "/hook"}})["id"]
        self.post("/api/automations/", {
            "name": name, "trigger": trigger,
            "actions": [{"type": "call-webhook", "block_document_id": self._block,
                         "payload": '{"event_id": "{{ event.id }}", "resource": "{{ event.resource.id }}", '
                                    '"automation": "' + name + '"}'}]})

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def event(name: str, resource: str) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "occurred": datetime.now(timezone.utc).isoformat(), "event": name,
            "resource": {"prefect.resource.id": resource}}


def send_batches(engine: Engine, events: list[dict[str, Any]], batch: int, concurrency: int) -> dict[str, float]:
    """POST in batches; each event's emit time is when its batch was sent."""
    emitted: dict[str, float] = {}
    batches = [events[i:i + batch] for i in range(0, len(events), batch)]

    def post(chunk: list[dict[str, Any]]) -> None:
        sent = time.time()
        for e in chunk:
            emitted[e["id"]] = sent
        response = engine.session.post(f"{engine.url}/api/events", json=chunk, timeout=60)
        response.raise_for_status()

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(post, batches))
    return emitted


def wait_for(sink: Sink, expected: int, max_wait: float, idle: float = 10.0) -> None:
    deadline, last_n, last_change = time.time() + max_wait, -1, time.time()
    while time.time() < deadline and len(sink.records) < expected:
        if len(sink.records) != last_n:
            last_n, last_change = len(sink.records), time.time()
        elif time.time() - last_change > idle:
            return
        time.sleep(0.02)
    time.sleep(0.5)  # late duplicates, if any, get a chance to show up


def analyse(sink: Sink, emitted: dict[str, float], n_automations: int, t0: float, t1: float) -> dict[str, Any]:
    keys = [(r["event_id"], r.get("automation")) for _, r in sink.records if "event_id" in r]
    unique = set(keys)
    latencies = [(t - emitted[r["event_id"]]) * 1000 for t, r in sink.records if r.get("event_id") in emitted]
    arrivals = [t for t, _ in sink.records]
    expected = len(emitted) * n_automations
    return {
        "expected": expected, "delivered": len(unique), "lost": expected - len(unique & {
            (e, a) for e in emitted for a in {k[1] for k in unique}}) if unique else expected,
        "dup": len(keys) - len(unique),
        "ingest_ev_s": round(len(emitted) / max(t1 - t0, 1e-9)),
        "e2e_act_s": round(len(unique) / max((max(arrivals) if arrivals else t1) - t0, 1e-9), 1),
        "p50_ms": round(pct(latencies, 50), 1), "p95_ms": round(pct(latencies, 95), 1),
        "p99_ms": round(pct(latencies, 99), 1), "max_ms": round(max(latencies), 1) if latencies else None,
    }


def run_reactive(sink: Sink, name: str, n: int, n_automations: int = 1, *, paced: float | None = None,
                 batch: int = 100, concurrency: int = 4) -> dict[str, Any]:
    engine = Engine()
    try:
        for i in range(n_automations):
            engine.webhook_automation(sink, f"bench-{i}", {"expect": ["bench.*"], "posture": "Reactive", "threshold": 1})
        engine.post("/api/events", [event("bench.warmup", "bench.w")])
        wait_for(sink, n_automations, 30)
        sink.reset()
        events = [event("bench.ping", f"bench.r{i % 100}") for i in range(n)]
        cpu0 = engine.cpu_seconds()
        t0 = time.time()
        if paced:
            emitted = {}
            for e in events:
                emitted[e["id"]] = time.time()
                engine.session.post(f"{engine.url}/api/events", json=[e], timeout=30).raise_for_status()
                time.sleep(max(0.0, 1 / paced - (time.time() - emitted[e["id"]])))
        else:
            emitted = send_batches(engine, events, batch, concurrency)
        t1 = time.time()
        wait_for(sink, n * n_automations, 600)
        result = {"scenario": name, "n": n, "automations": n_automations, **analyse(sink, emitted, n_automations, t0, t1),
                  "server_cpu_s": round(engine.cpu_seconds() - cpu0, 2), "rss_mb": round(engine.rss_mb(), 1)}
        sink.reset()
        return result
    finally:
        engine.stop()


def run_proactive(sink: Sink, n_start: int = 100, n_done: int = 50, within: float = 10) -> dict[str, Any]:
    engine = Engine()
    try:
        engine.webhook_automation(sink, "bench-proactive", {
            "after": ["bench.start"], "expect": ["bench.done"], "for_each": ["prefect.resource.id"],
            "posture": "Proactive", "threshold": 1, "within": within})
        starts = [event("bench.start", f"bench.p{i}") for i in range(n_start)]
        sent = time.time()
        engine.post("/api/events", starts)
        deadline = {e["resource"]["prefect.resource.id"]: sent + within for e in starts}
        engine.post("/api/events", [event("bench.done", f"bench.p{i}") for i in range(n_done)])
        wait_for(sink, n_start - n_done, within + 30, idle=within + 5)
        fired = [(t, r["resource"]) for t, r in sink.records if "resource" in r]
        expected = {f"bench.p{i}" for i in range(n_done, n_start)}
        got = [res for _, res in fired]
        late = [t - deadline[res] for t, res in fired if res in deadline]
        sink.reset()
        return {"scenario": "proactive", "expected": len(expected), "correct": len(set(got) & expected),
                "wrong": len(set(got) - expected), "dup": len(got) - len(set(got)),
                "lateness_p50_s": round(pct(late, 50), 3), "lateness_max_s": round(max(late), 3) if late else None}
    finally:
        engine.stop()


def run_restart(runs: int = 3) -> dict[str, Any]:
    starts, rss, pss = [], [], []
    for _ in range(runs):
        engine = Engine()
        time.sleep(3)
        rss.append(engine.rss_mb())
        pss.append(engine.pss_mb())
        starts.append(engine.cold_start_s)
        engine.stop()
    return {"scenario": "restart", "cold_start_s": round(statistics.median(starts), 2),
            "cold_start_range": [round(min(starts), 2), round(max(starts), 2)], "idle_rss_mb": round(statistics.median(rss), 1),
            "idle_pss_mb": round(statistics.median(pss), 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,5000")
    parser.add_argument("--scenarios", default="restart,paced,reactive,fanout100,proactive")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sink = Sink()
    results: list[dict[str, Any]] = []
    chosen = args.scenarios.split(",")
    if "restart" in chosen:
        results.append(run_restart())
    if "paced" in chosen:
        results.append(run_reactive(sink, "paced10-200", 200, paced=10.0))
    if "reactive" in chosen:
        for n in [int(s) for s in args.sizes.split(",") if s]:
            results.append(run_reactive(sink, f"reactive-{n}", n))
    if "fanout100" in chosen:
        results.append(run_reactive(sink, "fanout100-100", 100, n_automations=100))
    if "proactive" in chosen:
        results.append(run_proactive(sink))
    for r in results:
        print(json.dumps(r), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
