"""The evaluation worker: feeds committed events, in commit order, to the pure evaluator and writes what
it decided in one transaction per step.

One step:
1. read up to `evaluation_batch` events past the cursor (woken at once by ingest, or by NOTIFY from another
   process on PostgreSQL; never by polling);
2. before evaluating a lifecycle self-event (tocsin.automation.created|updated|deleted) re-load that
   automation, so automation changes take effect at a definite point of the event stream;
3. run each event through `Evaluator.on_event`; if the evaluator's next deadline has passed, `on_tick`. Most
   events interest no trigger (`Evaluator.sees`, by name): those that follow nothing are only passed by
   (`Evaluator.pass_by`, which moves the events clock and remembers the id), their JSON peeked, not parsed;
4. drop firings about the automation's own outcomes (loop protection);
5. build the firings' rows, their tocsin.automation.triggered events and their outbox rows (JSON written
   piecewise around texts made once: each trigger's, automation's, action's and stored event's), then in ONE
   transaction: append those events and, when nothing else was committed since step 1, evaluate them too
   (meta-alerting, bounded depth), advance the cursor (compare-and-set on the version), persist the
   evaluator's state changes, write the firings and the outbox rows. The write lock is held only for that.
If the transaction fails, the in-memory evaluator is thrown away and restored from the database, which still
holds the state that matches the cursor. Between steps the thread sleeps until woken or until the evaluator's
next deadline (proactive windows fire on time, not on a sweep).

On PostgreSQL only the holder of the `evaluation` lease evaluates; the others stand by and take over when it
expires (a killed process). The version compare-and-set makes a stale holder's commit fail, so no event is
evaluated twice and no firing is written twice.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from datetime import datetime
from typing import Any
from uuid import UUID

from tocsin.clock import Clock
from tocsin.schemas.events import ReceivedEvent
from tocsin.schemas.triggers import parse_trigger
from tocsin.server import self_events
from tocsin.server.metrics import Metrics
from tocsin.server.settings import Settings
from tocsin.store import Store
from tocsin.store import automations as automation_rows
from tocsin.store import evaluation as state_rows
from tocsin.store import events as event_rows
from tocsin.store import leases
from tocsin.store.timeutil import to_us
from tocsin.triggers import Changes, Evaluator, Firing, InMemoryStateStore

log = logging.getLogger("tocsin.server.scheduler")
LEASE = "evaluation"
SELF_EVENT_DEPTH = 8  # generations of self-events evaluated within one step (meta-alerting chains)
# firings per evaluation transaction: a burst that fires thousands is written in steps of about this many, so
# the write lock (which ingest and the dispatcher wait for) is never held for long
MAX_STEP_FIRINGS = 256
MIN_SLEEP = 0.0005  # seconds; lower bound of a timed wait so a deadline in the past never spins the CPU
# seconds a step that only passed events by (changing nothing but the events clock and the ids seen) may leave
# its cursor unwritten: the next transaction takes it along, so a stream of such events costs a few
# transactions a second instead of one per step (each holds the write lock that ingest waits for)
PASS_BY_WRITE_DELAY = 0.1


class LostOwnership(Exception):
    """Another process advanced the evaluation state: this process must reload before evaluating again."""


class EvaluationWorker:
    def __init__(self, store: Store, clock: Clock, settings: Settings, metrics: Metrics,
                 action_planner: Any = None) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.metrics = metrics
        self.action_planner = action_planner  # turns firings into outbox rows once actions exist
        self.uses_lease = store.dialect == "postgresql"
        self.ev: Evaluator | None = None
        self.cursor = 0
        self.version = 0
        self.names: dict[str, str] = {}
        self.docs: dict[str, dict[str, Any]] = {}  # automation documents, for planning their actions
        self.on_outbox: Any = None  # called after a step wrote outbox rows
        self.epoch: int | None = None
        self._lease_renew_at = 0.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tocsin-evaluation", daemon=True)
        self._listener: threading.Thread | None = None
        self._last_tick_deadline: datetime | None = None
        self._trigger_json: dict[int, tuple[Any, str]] = {}  # id(trigger) -> (trigger, its JSON text)
        self._reader: event_rows.EventReader | None = None  # the evaluating thread's own read connection
        self._pending: Changes | None = None  # changes of steps that only passed events by, not yet written...
        self._pending_due = 0.0  # ...until this time.monotonic() at the latest

    # -- lifecycle --------------------------------------------------------------------------------------------------
    def start(self) -> None:
        with self.store.write() as conn:
            state_rows.ensure_row(conn)
        self._thread.start()
        if self.store.dialect == "postgresql":
            self._listener = threading.Thread(target=self._listen, name="tocsin-listen", daemon=True)
            self._listener.start()

    def notify(self) -> None:
        if not self._wake.is_set():  # wake-ups while a step runs need no lock round each
            self._wake.set()

    def stop(self) -> None:
        """Finish the step in progress, evaluate what is already committed (bounded), release the lease."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=self.settings.shutdown_drain_seconds + 5)

    @property
    def is_leader(self) -> bool:
        return self.ev is not None

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Test helper: wait until every committed event has been evaluated."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.store.reader.connect() as conn:
                if self.ev is not None and event_rows.last_seq(conn) <= self.cursor:
                    return True
            time.sleep(0.01)
        return False

    # -- main loop --------------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self._hold_lease():
                    self._wake.wait(self.settings.lease_ttl_seconds / 4)
                    self._wake.clear()
                    continue
                if self.ev is None:
                    self._restore()
                self._wake.clear()
                if self._step():
                    continue
                if not self._stop.is_set():  # a stop asked for while restoring: its wake-up was cleared above
                    self._wake.wait(self._sleep_seconds())
            except LostOwnership:
                log.warning("evaluation state moved on elsewhere; reloading")
                self._drop()
            except Exception:  # noqa: BLE001 - never let the worker die; reload from the database
                log.exception("evaluation step failed; reloading state from the database")
                self._drop()
                self._stop.wait(0.5)
        self._drain()

    def _drain(self) -> None:
        if self.ev is None:
            return
        deadline = time.monotonic() + self.settings.shutdown_drain_seconds
        try:
            while time.monotonic() < deadline and self._step():
                pass
            if self._pending is not None:  # write what was passed by now, not after the delay
                self._pending_due = 0.0
                self._step()
        except Exception:  # noqa: BLE001
            log.exception("evaluation during shutdown failed")
        if self.uses_lease and self.epoch is not None:
            with self.store.write() as conn:
                leases.release(conn, LEASE, self.settings.instance_id, self.epoch)
        self._drop()

    def _drop(self) -> None:
        self.ev = None
        self.epoch = None
        self._pending = None  # the database has the state that matches its cursor
        if self._reader is not None:
            reader, self._reader = self._reader, None
            try:
                reader.close()
            except Exception:  # noqa: BLE001 - a broken connection is dropped all the same
                log.warning("closing the event reader failed", exc_info=True)
        self.metrics.leader.set(0)

    def _sleep_seconds(self) -> float:
        timeout = 3600.0
        if self.uses_lease:
            timeout = max(MIN_SLEEP, self._lease_renew_at - time.monotonic())
        if self._pending is not None:
            timeout = min(timeout, max(MIN_SLEEP, self._pending_due - time.monotonic()))
        assert self.ev is not None
        deadline = self.ev.next_deadline()
        if deadline is not None:
            timeout = min(timeout, max(MIN_SLEEP, (deadline - self.clock.now()).total_seconds()))
        return timeout

    def _hold_lease(self) -> bool:
        if not self.uses_lease:
            return True
        now = time.monotonic()
        if self.epoch is not None and now < self._lease_renew_at:
            return True
        ttl = self.settings.lease_ttl_seconds
        wall_us = to_us(self.clock.now())
        with self.store.write() as conn:
            if self.epoch is not None:
                if leases.renew(conn, LEASE, self.settings.instance_id, self.epoch, wall_us, int(ttl * 1e6)):
                    self._lease_renew_at = now + ttl / 3
                    return True
                log.warning("lost the evaluation lease")
                self._drop()
                return False
            epoch = leases.acquire(conn, LEASE, self.settings.instance_id, wall_us, int(ttl * 1e6))
        if epoch is None:
            return False
        log.info("took the evaluation lease", extra={"epoch": epoch, "instance": self.settings.instance_id})
        self.epoch = epoch
        self.ev = None
        self._lease_renew_at = now + ttl / 3
        return True

    def _restore(self) -> None:
        now = self.clock.now()
        with self.store.reader.connect() as conn:
            loaded = state_rows.load_state(conn, now)
            docs = automation_rows.list_all(conn)
        self.names = {d["id"]: d["name"] for d in docs}
        self.docs = {d["id"]: d for d in docs}
        ev = Evaluator(store=InMemoryStateStore.restore(loaded.snapshot), clock=self.clock)
        for aid, trigger in loaded.triggers.items():
            try:
                ev.load(UUID(aid), parse_trigger(trigger))
            except Exception:  # noqa: BLE001
                log.exception("cannot load a stored trigger; skipping it", extra={"automation_id": aid})
        ev.store.drain_changes()
        self.cursor, self.version, self.ev = loaded.cursor, loaded.version, ev
        self.metrics.leader.set(1)
        log.info("evaluation state restored", extra={"cursor": self.cursor, "automations": len(loaded.triggers),
                                                     "windows": len(ev.store.buckets)})

    # -- one step ---------------------------------------------------------------------------------------------------
    def _consume(self, ev: Evaluator, rows: list[tuple[int, str, str]], step: state_rows.Step,
                 fired: list[tuple[Firing, datetime | None]], bodies: dict[UUID, str],
                 max_firings: int | None = None) -> int:
        """Run stored events (seq, name, JSON) through the evaluator, in order; stop after the event that
        brings the firings to `max_firings`. Returns how many events were consumed.

        An event that no trigger can look at (`Evaluator.sees`) and that follows nothing is only passed by:
        its id and times are read off its JSON without building the event."""
        lifecycle = self_events.LIFECYCLE
        sees, pass_by, peek = ev.sees, ev.pass_by, event_rows.peek_stored_event
        for done, (seq, name, body) in enumerate(rows, 1):
            step.new_cursor = seq
            if not sees(name) and name not in lifecycle:
                fields = peek(body)
                if fields is not None:
                    pass_by(name, *fields)
                    continue
            event = event_rows.parse_stored_event(body)  # engine-written: no full re-validation
            if name in lifecycle:
                self._sync_automation(ev, event, step)
            found = ev.on_event(event)
            if found:
                bodies[event.id] = body  # spliced into the firings' JSON and tocsin.automation.triggered events
                for firing in found:
                    fired.append((firing, event.received))
                if max_firings is not None and len(fired) >= max_firings:
                    return done
        return len(rows)

    def _keep(self, fired: list[tuple[Firing, datetime | None]]) -> list[tuple[Firing, datetime | None]]:
        """Loop protection: drop firings about the automation's own outcomes."""
        kept = []
        for firing, received in fired:
            if self_events.is_about_own_outcome(firing):
                self.metrics.firings_suppressed.inc()
                log.info("loop protection: automation did not fire on its own outcome",
                         extra={"automation_id": firing.automation_id_text})
                continue
            kept.append((firing, received))
        return kept

    def _trigger_text(self, trigger: Any) -> str:
        """A trigger model's JSON, made once per trigger object (every firing of the trigger carries it)."""
        cached = self._trigger_json.get(id(trigger))
        if cached is None or cached[0] is not trigger:
            if len(self._trigger_json) > 10_000:
                self._trigger_json.clear()
            cached = self._trigger_json[id(trigger)] = (trigger, json.dumps(trigger.model_dump(mode="json")))
        return cached[1]

    def _step(self) -> bool:
        """Evaluate what is due; returns True when events were consumed (so more may be waiting).

        The firings' tocsin.automation.triggered events are written AND evaluated in the same transaction
        (meta-alerting, up to SELF_EVENT_DEPTH generations) when the cursor is at the end of `events` at that
        point, so a firing costs one transaction, not two, and the cursor only passes events whose effects
        (window state, firings) are written in the transaction that moves it."""
        ev = self.ev
        assert ev is not None
        started = time.perf_counter()
        limit = self.settings.evaluation_batch
        if self._reader is None:
            self._reader = event_rows.EventReader(self.store.reader)
        batch = self._reader.read(self.cursor, limit)
        step = state_rows.Step(new_cursor=self.cursor, changes=None)  # type: ignore[arg-type]
        fired: list[tuple[Firing, datetime | None]] = []
        bodies: dict[UUID, str] = {}  # stored JSON of the events that fired, by id
        taken = self._consume(ev, batch, step, fired, bodies, max_firings=MAX_STEP_FIRINGS)
        deadline = ev.next_deadline()
        now = self.clock.now()
        ticked = False
        # more events are waiting: judge silence only once they are evaluated
        behind = len(batch) == limit or taken < len(batch)
        if deadline is not None and deadline <= now and not behind:
            ticked = True
            self.metrics.proactive_lateness.observe((now - deadline).total_seconds())
            fired.extend((f, None) for f in ev.on_tick())
        early = ev.store.drain_changes()
        if not batch and not fired and not early:
            if ticked and self._last_tick_deadline == deadline:
                self._stop.wait(0.05)  # a deadline that does not move after a tick: do not spin
            self._last_tick_deadline = deadline
            if self._pending is None or time.monotonic() < self._pending_due:
                return False
            # else: what earlier steps passed by is due to be written
        self._last_tick_deadline = deadline
        if self._pending is not None:
            early = _merged(self._pending, early)
        if not fired and not (step.triggers_loaded or step.triggers_unloaded) and _clock_and_seen_only(early):
            # nothing to write but the cursor and the events clock: left to the next transaction, at most
            # PASS_BY_WRITE_DELAY from the first such step (a crash before it re-evaluates these events, to the
            # same effect, as it would any event not yet evaluated)
            if self._pending is None:
                self._pending_due = time.monotonic() + PASS_BY_WRITE_DELAY
            self._pending, self.cursor = early, step.new_cursor
            if time.monotonic() < self._pending_due:
                if batch:
                    self.metrics.evaluation_step.observe(time.perf_counter() - started)
                    self.metrics.events_evaluated.inc(taken)
                return taken > 0
        kept = self._keep(fired)
        consumed = taken
        # the Python work for the firings found so far is done before taking the write lock, which the API's
        # ingest commits and the dispatcher's passes (other processes) wait for
        triggered = self._record(step, kept, bodies, now)
        with self.store.write() as conn:
            event_rows.lock_for_append(conn)
            # the self-events appended below are evaluated in this transaction only if nothing else was
            # committed since the read (under the lock nothing more can arrive); otherwise the next step reads
            # them after the events that came first, and the cursor stays before both
            at_end = not behind and event_rows.last_seq(conn) == step.new_cursor
            rows = triggered
            for depth in range(SELF_EVENT_DEPTH + 1):
                if not rows:
                    break
                event_rows.insert_events(conn, rows)
                if not at_end or depth == SELF_EVENT_DEPTH:
                    break  # left for the next step: the cursor stays before them
                nested: list[tuple[Firing, datetime | None]] = []
                self._consume(ev, [(0, r["event"], r["body"]) for r in rows], step, nested, bodies)
                step.new_cursor = event_rows.last_seq(conn)  # nothing else appends while this holds the lock
                consumed += len(rows)
                pending = self._keep(nested)
                kept.extend(pending)
                rows = self._record(step, pending, bodies, now)
                triggered += rows
            step.changes = _merged(early, ev.store.drain_changes())
            step.self_events = []  # written above
            if not state_rows.commit_step(conn, self.version, ev.store, step):
                raise LostOwnership()
        self.version += 1
        self.cursor, self._pending = step.new_cursor, None
        done = time.perf_counter()
        wall_done = self.clock.now()
        self.metrics.evaluation_step.observe(done - started)
        self.metrics.events_evaluated.inc(consumed)
        self.metrics.firings.inc(len(step.firings))
        for firing, received in kept:
            if received is not None:
                self.metrics.event_to_firing.observe((wall_done - received).total_seconds())
        for f in step.firings:
            log.info("automation fired", extra={"automation_id": f.automation_id_text, "firing_id": f.id_text})
        if step.outbox and self.on_outbox is not None:
            self.on_outbox()
        if not at_end and triggered:
            self._wake.set()  # tocsin.automation.triggered events are waiting to be evaluated
        return consumed > 0

    def _record(self, step: state_rows.Step, found: list[tuple[Firing, datetime | None]], bodies: dict[UUID, str],
                now: datetime) -> list[dict[str, Any]]:
        """Add firings to the step with their JSON and their actions' outbox rows; returns their
        tocsin.automation.triggered event rows (to append)."""
        firings = [f for f, _ in found]
        rows, texts, events = [], [], []
        for f in firings:
            e = f.triggering_event
            body = None
            if e is not None:  # an event of an earlier step (a proactive firing's) is serialised once here
                body = bodies.get(e.id)
                if body is None:
                    body = bodies[e.id] = e.model_dump_json()
            rows.append(self_events.triggered_event(f, self.names.get(f.automation_id_text, ""), now, body))
            texts.append(json.dumps(f.to_json()) if f.trigger is None
                         else f.to_json_text(self._trigger_text(f.trigger), body))
            events.append(body)
        step.firings += firings
        step.firing_text += texts
        if self.action_planner is not None and firings:
            step.outbox += self.action_planner(firings, texts, rows, self.docs, now, event_json=events)
        return rows

    def _sync_automation(self, ev: Evaluator, event: ReceivedEvent, step: state_rows.Step) -> None:
        aid = self_events.automation_id_of(event)
        if aid is None:
            return
        with self.store.reader.connect() as conn:
            doc = automation_rows.get(conn, aid)
        if doc is not None:
            self.names[aid] = doc["name"]
            self.docs[aid] = doc
        else:
            self.docs.pop(aid, None)
        if doc is not None and doc["enabled"]:
            try:
                trigger = parse_trigger(doc["trigger"])
            except Exception:  # noqa: BLE001
                log.exception("stored trigger does not parse", extra={"automation_id": aid})
                return
            ev.load(UUID(aid), trigger)
            step.triggers_loaded[aid] = doc["trigger"]
            step.triggers_unloaded.discard(aid)
        elif UUID(aid) in set(ev.loaded()):
            ev.unload(UUID(aid))
            step.triggers_unloaded.add(aid)
            step.triggers_loaded.pop(aid, None)

    # -- PostgreSQL wake-ups ----------------------------------------------------------------------------------------
    def _listen(self) -> None:
        import psycopg

        dsn = self.store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {event_rows.NOTIFY_CHANNEL}")
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self._wake.set()
            except Exception:  # noqa: BLE001
                log.warning("LISTEN connection failed; retrying", exc_info=True)
                self._stop.wait(1.0)




def _clock_and_seen_only(changes: Changes) -> bool:
    """Nothing changed but the events clock (and the ids seen, which are not written: they follow the cursor)."""
    return not (changes.buckets or changes.child_firings or changes.parked or changes.next_runs
                or changes.metrics)


_CHANGES_FIELDS = tuple(f.name for f in dataclasses.fields(Changes))


def _merged(first: Changes, second: Changes) -> Changes:
    """Both sets of changed keys (values are read from the store at commit time)."""
    for name in _CHANGES_FIELDS:
        a, b = getattr(first, name), getattr(second, name)
        if isinstance(a, set):
            a |= b
        elif b:
            setattr(first, name, b)
    return first
