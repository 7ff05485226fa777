"""kill -9 of a `tocsin server` process: no acknowledged event lost, no firing lost or duplicated, proactive
windows resume at their original deadlines after a restart."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import httpx
from sqlalchemy import create_engine, text

from tests.server.helpers import automation, event, reactive, wait_for


def _db(sp) -> object:
    return create_engine(sp.database_url or f"sqlite:///{sp.home / 'tocsin.db'}")


def _counts(engine, name: str) -> tuple[set[str], int, int]:
    with engine.connect() as conn:
        ids = {r[0] for r in conn.execute(text("SELECT id FROM events WHERE event = :n"), {"n": name})}
        n_firings, distinct = conn.execute(text("SELECT count(*), count(DISTINCT event_id) FROM firings")).one()
    return ids, n_firings, distinct


def ingest_until_killed(sp, name: str, kill_after: float, senders: int = 4) -> set[str]:
    """Post batches from several threads; kill -9 the server mid-stream. Returns the acknowledged ids."""
    acked: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def send() -> None:
        with httpx.Client(base_url=sp.api, headers=sp.headers(), timeout=5) as c:
            while not stop.is_set():
                batch = [event(name, f"test.dur.{i}") for i in range(25)]
                try:
                    r = c.post("/events", json=batch)
                except httpx.HTTPError:
                    continue
                if r.status_code == 204:
                    with lock:
                        acked.update(e["id"] for e in batch)

    threads = [threading.Thread(target=send) for _ in range(senders)]
    for t in threads:
        t.start()
    time.sleep(kill_after)
    sp.kill()
    stop.set()
    for t in threads:
        t.join(10)
    return acked


def test_kill_9_during_ingest_loses_no_acknowledged_event_and_no_firing(server_process) -> None:
    sp = server_process()
    with httpx.Client(base_url=sp.api, headers=sp.headers()) as c:
        c.post("/automations/", json=automation("every event", reactive(expect="test.dur"))).raise_for_status()
    acked = ingest_until_killed(sp, "test.dur", kill_after=1.5)
    assert len(acked) > 100
    engine = _db(sp)
    stored, _, _ = _counts(engine, "test.dur")
    assert acked <= stored, f"{len(acked - stored)} acknowledged events lost"
    sp.start()  # same home, same database
    # every stored event is evaluated exactly once after the restart: one firing each, none twice
    wait_for(lambda: _counts(engine, "test.dur")[1] >= len(stored), timeout=30)
    time.sleep(0.3)
    stored, n_firings, distinct = _counts(engine, "test.dur")
    assert n_firings == distinct == len(stored)
    sp.terminate()


def test_proactive_window_fires_at_its_original_deadline_after_kill_9(server_process) -> None:
    sp = server_process()
    trigger = {"type": "event", "posture": "Proactive", "expect": ["test.heartbeat"], "threshold": 1,
               "within": 10}
    with httpx.Client(base_url=sp.api, headers=sp.headers()) as c:
        aid = c.post("/automations/", json=automation("silence", trigger)).json()["id"]
        windows = wait_for(lambda: c.get(f"/automations/{aid}/state").json()["windows"])
    deadline = datetime.fromisoformat(windows[0]["deadline"])
    time.sleep(1.0)
    sp.kill()
    time.sleep(0.5)
    sp.start()
    with httpx.Client(base_url=sp.api, headers=sp.headers()) as c:
        fired = wait_for(lambda: c.get(f"/automations/{aid}/state").json()["recent_firings"], timeout=20)
    triggered = datetime.fromisoformat(fired[-1]["triggered"])
    lateness = (triggered - deadline).total_seconds()
    assert 0 <= lateness < 0.5, f"fired {lateness:.3f}s after the original deadline"
    sp.terminate()


def test_sigterm_drains_accepted_events_before_exit(server_process) -> None:
    sp = server_process()
    with httpx.Client(base_url=sp.api, headers=sp.headers()) as c:
        c.post("/automations/", json=automation("drain", reactive(expect="test.drain"))).raise_for_status()
        sent = [event("test.drain") for _ in range(500)]
        assert c.post("/events", json=sent).status_code == 204
    assert sp.terminate() in (0, -15)  # uvicorn re-raises SIGTERM after its graceful shutdown
    stored, n_firings, _ = _counts(_db(sp), "test.drain")
    assert len(stored) == 500 and n_firings == 500
    assert '"msg": "tocsin server stopped"' in sp.log()
