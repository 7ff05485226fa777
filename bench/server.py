"""Benchmark of the engine server (`tocsin server`, SQLite, durable) on loopback.

Prints, and writes as JSON with --json PATH:
1. cold start: process spawn on a fresh TOCSIN_HOME to a 200 from /api/health (median of 3);
2. idle memory after start: RSS (VmRSS) of the API process and summed over all processes, and PSS summed over
   all processes (shared pages counted once: the children are forked and share the API process's heap);
3. ingest: events/s through POST /api/events, batches of 100 with 4 requests in flight (as the Prefect anchor),
   every batch acknowledged only after its commit (synchronous=FULL);
4. event-to-firing at 1,000 events/s sustained: events paced in batches of 10 every 10 ms for `--seconds`;
   latency = client send time -> the firing row is visible in the database (polled every 0.5 ms);
5. proactive lateness: `--proactive` Proactive automations (within 10 s); lateness = firing time - window end;
6. memory in use (PSS of all processes): a deployment (a Slack block and a webhook block, whose URLs are stored
   encrypted; 5 automations with Jinja templates, one proactive) after 100 events and 200 deliveries to a
   loopback sink; then restarted on that home and idle; then after 10 more events.

Parts 3 and 4 run for both process layouts: the default three processes and `--single-process`.

Usage: python bench/server.py [--json out.json] [--modes processes,single]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import procs  # bench/procs.py

TOKEN = "bench-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, home: Path, single_process: bool = False) -> None:
        self.home = home
        self.single_process = single_process
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        env = {**os.environ, "TOCSIN_HOME": str(self.home), "TOCSIN_API_TOKEN": TOKEN}
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from tocsin.cli import main; raise SystemExit(main())", "server",
             "--port", str(self.port), "--log-level", "WARNING", *(["--single-process"] if self.single_process else [])],
            env=env, stdout=subprocess.DEVNULL, stderr=open(self.home.parent / f"{self.home.name}.log", "wb"))
        while True:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("server exited")
            time.sleep(0.005)

    def pids(self) -> list[int]:
        """The server process and its evaluator and dispatcher processes."""
        assert self.proc is not None
        return procs.engine_pids(self.proc.pid)

    def rss_mb(self, pid: int | None = None) -> float:
        assert self.proc is not None
        return procs.rss_mb([pid or self.proc.pid])

    def total_rss_mb(self) -> float:
        return procs.rss_mb(self.pids())

    def total_pss_mb(self) -> float:
        return procs.pss_mb(self.pids())

    def cpu_seconds(self) -> float:
        return procs.cpu_seconds(self.pids())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.home / "tocsin.db", check_same_thread=False)


def headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}", "content-type": "application/json"}


def ev(name: str, i: int) -> dict:
    return {"id": str(uuid.uuid4()), "event": name, "occurred": datetime.now(timezone.utc).isoformat(),
            "resource": {"prefect.resource.id": f"bench.r.{i % 50}"}, "payload": {"i": i}}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def bench_ingest(server: Server, total: int, batch: int, inflight: int) -> float:
    bodies = [json.dumps([ev("bench.ingest", i * batch + j) for j in range(batch)]).encode()
              for i in range(total // batch)]
    it = iter(bodies)
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(headers=headers(), timeout=60) as c:
            while True:
                with lock:
                    body = next(it, None)
                if body is None:
                    return
                r = c.post(server.url + "/events", content=body)
                assert r.status_code == 204, r.text

    threads = [threading.Thread(target=worker) for _ in range(inflight)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return total / (time.perf_counter() - t0)


def bench_latency(server: Server, rate: int, seconds: float) -> dict[str, float]:
    with httpx.Client(headers=headers(), timeout=30) as c:
        c.post(server.url + "/automations/", json={
            "name": "latency", "actions": [],
            "trigger": {"posture": "Reactive", "expect": ["bench.ping"], "threshold": 1, "within": 0}})
    conn = server.db()
    last_rowid = conn.execute("SELECT coalesce(max(rowid), 0) FROM firings").fetchone()[0]
    sent_at: dict[str, float] = {}
    seen_at: dict[str, float] = {}
    done = threading.Event()

    def watch() -> None:
        nonlocal last_rowid
        while not done.is_set() or len(seen_at) < len(sent_at):
            rows = conn.execute("SELECT rowid, event_id FROM firings WHERE rowid > ?", (last_rowid,)).fetchall()
            now = time.time()
            for rowid, eid in rows:
                seen_at[eid] = now
                last_rowid = max(last_rowid, rowid)
            if done.is_set() and time.time() > deadline_wait:
                return
            time.sleep(0.0005)

    deadline_wait = float("inf")
    watcher = threading.Thread(target=watch)
    watcher.start()
    # a pacer hands a batch of 10 to a pool of senders every 10 ms, so a slow answer does not lower the rate
    import queue

    per_tick, tick = 10, 10 / rate
    todo: queue.Queue[list[dict] | None] = queue.Queue()

    def sender() -> None:
        with httpx.Client(headers=headers(), timeout=30) as c:
            while (batch := todo.get()) is not None:
                t_send = time.time()
                for e in batch:
                    sent_at[e["id"]] = t_send
                r = c.post(server.url + "/events", content=json.dumps(batch))
                assert r.status_code == 204

    senders = [threading.Thread(target=sender) for _ in range(4)]
    for t in senders:
        t.start()
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < seconds:
        todo.put([ev("bench.ping", n + j) for j in range(per_tick)])
        n += per_tick
        delay = start + (n / per_tick) * tick - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    for _ in senders:
        todo.put(None)
    for t in senders:
        t.join()
    achieved = n / (time.perf_counter() - start)
    deadline_wait = time.time() + 10
    done.set()
    watcher.join()
    lat = [(seen_at[i] - t) * 1000 for i, t in sent_at.items() if i in seen_at]
    return {"rate_achieved": achieved, "events": len(sent_at), "firings_seen": len(lat),
            "p50_ms": statistics.median(lat), "p99_ms": pct(lat, 99), "max_ms": max(lat)}


def bench_proactive(server: Server, count: int) -> dict[str, float]:
    ids = []
    with httpx.Client(headers=headers(), timeout=30) as c:
        for i in range(count):
            r = c.post(server.url + "/automations/", json={
                "name": f"silence-{i}", "actions": [],
                "trigger": {"posture": "Proactive", "expect": [f"bench.beat.{i}"], "threshold": 1, "within": 10}})
            ids.append(r.json()["id"])
        time.sleep(0.5)
        deadlines = {}
        for aid in ids:
            windows = c.get(f"{server.url}/automations/{aid}/state").json()["windows"]
            deadlines[aid] = datetime.fromisoformat(windows[0]["deadline"])
        time.sleep(max(0.0, (max(deadlines.values()) - datetime.now(timezone.utc)).total_seconds()) + 1.5)
        late = []
        for aid in ids:
            fired = c.get(f"{server.url}/automations/{aid}/state").json()["recent_firings"]
            first = min(datetime.fromisoformat(f["triggered"]) for f in fired)
            late.append((first - deadlines[aid]).total_seconds() * 1000)
    return {"automations": count, "p50_ms": statistics.median(late), "p99_ms": pct(late, 99), "max_ms": max(late)}


class _Sink(BaseHTTPRequestHandler):
    """Answers 200 to every POST and counts them. A thread of this process, not bench/delivery.py's `Sink`:
    that one is a Python process of its own, which would share the interpreter's file pages with the server and
    lower the PSS measured (by ~1.5 MB: 116.4 vs 117.7 MB after use)."""

    received = 0

    def do_POST(self) -> None:  # noqa: N802 - the handler's name is the HTTP method
        self.rfile.read(int(self.headers.get("content-length") or 0))
        type(self).received += 1
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def bench_memory_in_use(home: Path, single: bool = False) -> dict[str, float]:
    """PSS of all processes after a small deployment has been used, then restarted, then used a little."""
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{sink.server_port}"
    out: dict[str, float] = {}
    s = Server(home, single_process=single)
    s.start()
    with httpx.Client(base_url=s.url, headers=headers(), timeout=30) as c:
        def block(name: str, kind: str) -> str:
            r = c.post("/blocks/", json={"name": name, "type": kind, "data": {"url": f"{url}/{name}"}})
            r.raise_for_status()
            return str(r.json()["id"])

        slack, hook = block("slack", "slack-webhook"), block("hook", "webhook")
        for n in range(5):
            actions = [
                {"type": "send-notification", "block_document_id": slack, "subject": "{{ automation.name }} fired",
                 "body": "{% for i in range(2) %}*{% endfor %} {{ event.resource.id | upper }} at "
                         "{{ event.occurred }}: {{ event.event }}"},
                {"type": "call-webhook", "block_document_id": hook,
                 "payload": '{"id": "{{ event.id }}", "n": ' + str(n) + "}"},
            ]
            trigger = {"type": "event", "posture": "Reactive", "expect": [f"use.e{n}"], "threshold": 1, "within": 0}
            c.post("/automations/", json={"name": f"use-{n}", "trigger": trigger, "actions": actions}).raise_for_status()
        proactive = {"type": "event", "posture": "Proactive", "expect": ["use.heartbeat"], "threshold": 1,
                     "within": 60, "for_each": ["prefect.resource.id"]}
        c.post("/automations/", json={"name": "heartbeat", "trigger": proactive,
                                      "actions": [{"type": "do-nothing"}]}).raise_for_status()
        for _ in range(5):
            c.post("/events", json=[ev(f"use.e{i % 5}", i) for i in range(20)]
                   + [ev("use.heartbeat", i) for i in range(5)]).raise_for_status()
        deadline = time.monotonic() + 30
        while _Sink.received < 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        out["deliveries"] = _Sink.received
        time.sleep(3)
        out["pss_after_use_mb"] = round(s.total_pss_mb(), 1)
        s.stop()
        port, api = s.port, s.url
        s = Server(home, single_process=single)
        s.port, s.url = port, api  # the client's address
        s.start()
        time.sleep(3)
        out["pss_restarted_idle_mb"] = round(s.total_pss_mb(), 1)
        c.post("/events", json=[ev(f"use.e{i % 5}", i) for i in range(10)]).raise_for_status()
        time.sleep(3)
        out["pss_restarted_after_10_events_mb"] = round(s.total_pss_mb(), 1)
        s.stop()
    sink.shutdown()
    return out


def run_mode(tmp: str, single: bool, args: argparse.Namespace) -> dict[str, object]:
    """Ingest and event-to-firing for one process layout."""
    out: dict[str, object] = {}
    label = "single process" if single else "three processes"
    s = Server(Path(tmp) / f"ingest-{int(single)}", single_process=single)
    s.start()
    time.sleep(1.5)  # the evaluator and dispatcher processes finish loading
    out["load_before_ingest"] = round(os.getloadavg()[0], 2)
    cpu0 = s.cpu_seconds()
    out["ingest_events_per_s"] = round(bench_ingest(s, args.ingest_events, 100, 4))
    out["ingest_server_cpu_us_per_event"] = round(1e6 * (s.cpu_seconds() - cpu0) / args.ingest_events, 1)
    print(f"[{label}] ingest, batches of 100, 4 in flight, SQLite synchronous=FULL: {out['ingest_events_per_s']} "
          f"events/s (server CPU {out['ingest_server_cpu_us_per_event']} us/event, all processes, until "
          f"acknowledged; load before {out['load_before_ingest']})", flush=True)
    out["ingest_events_per_s_batch1000"] = round(bench_ingest(s, args.ingest_events, 1000, 4))
    print(f"[{label}] ingest, batches of 1000: {out['ingest_events_per_s_batch1000']} events/s", flush=True)
    out["rss_after_ingest_mb"] = round(s.total_rss_mb(), 1)
    s.stop()

    s = Server(Path(tmp) / f"latency-{int(single)}", single_process=single)
    s.start()
    time.sleep(1.5)
    out["load_before_latency"] = round(os.getloadavg()[0], 2)
    cpu0 = s.cpu_seconds()
    lat = bench_latency(s, 1000, args.seconds)
    lat["server_cpu_us_per_event"] = 1e6 * (s.cpu_seconds() - cpu0) / max(1, lat["events"])
    out["event_to_firing_at_1000_per_s"] = {k: round(v, 2) for k, v in lat.items()}
    print(f"[{label}] event-to-firing at {lat['rate_achieved']:.0f} events/s for {args.seconds:.0f} s: "
          f"p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms, max {lat['max_ms']:.1f} ms "
          f"({lat['firings_seen']}/{lat['events']} firings; server CPU {lat['server_cpu_us_per_event']:.0f} "
          f"us/event; load before {out['load_before_latency']})", flush=True)
    s.stop()
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", default=None)
    parser.add_argument("--ingest-events", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--proactive", type=int, default=100)
    parser.add_argument("--modes", default="processes,single", help="processes, single, or both (comma-separated)")
    args = parser.parse_args()
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-") as tmp:
        starts = []
        for i in range(3):
            s = Server(Path(tmp) / f"cold{i}")
            starts.append(s.start())
            if i == 0:
                time.sleep(3)
                out["idle_rss_mb"] = round(s.rss_mb(), 1)
                out["idle_rss_all_processes_mb"] = round(s.total_rss_mb(), 1)
                out["idle_pss_all_processes_mb"] = round(s.total_pss_mb(), 1)
            s.stop()
        out["cold_start_s"] = round(statistics.median(starts), 3)
        s = Server(Path(tmp) / "cold-single", single_process=True)
        s.start()
        time.sleep(3)
        out["idle_rss_single_process_mb"] = round(s.rss_mb(), 1)
        out["idle_pss_single_process_mb"] = round(s.total_pss_mb(), 1)
        s.stop()
        print(f"cold start (fresh home, median of 3): {out['cold_start_s']:.3f} s", flush=True)
        print(f"idle RSS: API process {out['idle_rss_mb']} MB, all three processes "
              f"{out['idle_rss_all_processes_mb']} MB; --single-process {out['idle_rss_single_process_mb']} MB",
              flush=True)
        print(f"idle PSS (shared pages counted once): all three processes {out['idle_pss_all_processes_mb']} MB; "
              f"--single-process {out['idle_pss_single_process_mb']} MB", flush=True)
        out["memory_in_use"] = bench_memory_in_use(Path(tmp) / "in-use")
        use = out["memory_in_use"]
        print(f"memory in use, PSS of the three processes: {use['pss_after_use_mb']} MB after "
              f"{use['deliveries']:.0f} deliveries; restarted on that home, idle: {use['pss_restarted_idle_mb']} MB; "
              f"after 10 more events: {use['pss_restarted_after_10_events_mb']} MB", flush=True)
        for mode in args.modes.split(","):
            out[mode] = run_mode(tmp, mode == "single", args)

        s = Server(Path(tmp) / "proactive")
        s.start()
        pro = bench_proactive(s, args.proactive)
        out["proactive_lateness"] = {k: round(v, 2) for k, v in pro.items()}
        print(f"proactive lateness ({pro['automations']} automations, within 10 s): p50 {pro['p50_ms']:.1f} ms, "
              f"p99 {pro['p99_ms']:.1f} ms, max {pro['max_ms']:.1f} ms", flush=True)
        s.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
