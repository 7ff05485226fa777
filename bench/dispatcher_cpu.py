"""CPU per webhook delivery of the dispatcher alone:

    .venv/bin/python bench/dispatcher_cpu.py [--rows 4000] [--destinations 8] [--repeat 3]

The engine's dispatcher (app.py's class, constructed as app.py does) runs in this process with nothing else:
no HTTP ingest, no evaluator. `--rows` outbox rows (one call-webhook action each, `--destinations` webhook
blocks, payload `{{ firing.triggered }} {{ event.id }}`) are planned by `tocsin.delivery.planner.plan` from real
firings, committed, and then the dispatcher is started; the clock runs from start until every row is settled.
The sink is bench/delivery.py's (an asyncio HTTP/1.1 server in another process), so its CPU is not counted.

Prints deliveries/s and this process's CPU (time.process_time; user and system from getrusage) per delivery: dispatch passes + render + send +
outcome events (all of the dispatcher's work, the SQLite commits included).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from delivery import Sink  # bench/delivery.py


def _rows(n: int, blocks: list[str], now: datetime) -> list[dict[str, Any]]:
    from tocsin.delivery.planner import plan
    from tocsin.schemas.events import ReceivedEvent
    from tocsin.schemas.triggers import parse_trigger
    from tocsin.triggers import Firing

    trigger_doc = {"type": "event", "posture": "Reactive", "expect": ["bench.cpu"], "threshold": 1, "within": 0}
    trigger = parse_trigger(trigger_doc)
    docs = {}
    autos = []
    for i, block in enumerate(blocks):
        aid = str(uuid.uuid4())
        autos.append(aid)
        docs[aid] = {
            "id": aid, "name": f"cpu-{i}", "description": "", "tags": [], "trigger": trigger_doc,
            "actions": [{"type": "call-webhook", "block_document_id": block,
                         "payload": "{{ firing.triggered }} {{ event.id }}"}],
        }
    firings, firing_json, triggered = [], [], []
    for k in range(n):
        event = ReceivedEvent(id=uuid.uuid4(), occurred=now, received=now, event="bench.cpu",
                              resource={"prefect.resource.id": "bench.thing"})
        firing = Firing(automation_id=uuid.UUID(autos[k % len(autos)]), trigger_path="", trigger=trigger,
                        triggered=now, triggering_event=event)
        firings.append(firing)
        firing_json.append(firing.to_json())
        triggered.append({"id": str(uuid.uuid4()), "body": event.model_dump_json()})
    return plan(firings, firing_json, triggered, docs, now)


def _thread_cpu() -> dict[str, float]:
    """CPU seconds (user + system) of each live thread of this process, by thread name (from /proc)."""
    import os
    import threading

    names = {t.native_id: t.name for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        name = names.get(int(tid), "other")
        name = "tocsin-send" if name.startswith("tocsin-send") else name
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def run(rows: int, destinations: int) -> tuple[float, float, float, float, dict[str, float]]:
    from tocsin.clock import SystemClock
    from tocsin.delivery.dispatcher import Dispatcher
    from tocsin.delivery.redaction import RedactingVault
    from tocsin.secrets import SecretBox
    from tocsin.server.metrics import Metrics
    from tocsin.server.settings import Settings
    from tocsin.store import Store
    from tocsin.store import outbox as outbox_rows
    from tocsin.store.tables import outbox

    sink = Sink()
    url = sink.url
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        settings = Settings.from_env({"TOCSIN_HOME": str(home)})
        store = Store.open(settings.database_url)
        clock = SystemClock()
        vault = RedactingVault(store, clock, SecretBox.from_environment({"TOCSIN_HOME": str(home)}))
        blocks = [vault.create_block({"name": f"b{i}", "type": "webhook", "data": {"url": f"{url}?d={i}"}})["id"]
                  for i in range(destinations)]
        vault.load_everything()
        planned = _rows(rows, blocks, clock.now())
        with store.write() as conn:
            conn.execute(outbox.insert(), planned)
        dispatcher = Dispatcher(store, clock, settings, Metrics(), vault, on_events=lambda: None)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        main0 = time.thread_time()
        dispatcher.start()
        while True:
            time.sleep(0.05)
            with store.reader.connect() as conn:
                if outbox_rows.pending_count(conn) == 0:
                    break
        threads = _thread_cpu()
        main = time.thread_time() - main0  # this thread's polling is not the dispatcher's work
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0 - main
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        user, system = ru1.ru_utime - ru0.ru_utime, ru1.ru_stime - ru0.ru_stime
        threads.pop("MainThread", None)
        dispatcher.stop()
        with store.reader.connect() as conn:
            done = conn.execute(outbox.select().where(outbox.c.status == outbox_rows.DELIVERED)).all()
        assert len(done) == rows, f"{len(done)} of {rows} delivered"
        store.close()
    sink.stop()
    per = {name: seconds / rows * 1000 for name, seconds in threads.items()}
    return rows / wall, cpu / rows * 1000, user / rows * 1000, system / rows * 1000, per


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--destinations", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for _ in range(args.repeat):
        rate, ms, user, system, per = run(args.rows, args.destinations)
        threads = ", ".join(f"{name} {v:.3f}" for name, v in sorted(per.items(), key=lambda kv: -kv[1]) if v)
        print(f"{args.rows} deliveries: {rate:7.0f}/s, CPU {ms:.3f} ms per delivery "
              f"(process user+system {user + system:.3f} incl. the polling thread; by thread: {threads})",
              flush=True)


if __name__ == "__main__":
    main()
