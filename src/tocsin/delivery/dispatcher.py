"""The dispatcher with group commits: `tocsin.server.outbox.Dispatcher`'s rules (compare-and-set claims with a
lease, per-destination limits, jittered backoff, Retry-After, dead letters, outcome events) with the database
work of many deliveries done in one transaction per pass. Measured: two commits per delivery capped delivery at
about 100/s, a separate settler thread at about 240/s (each commit queued behind the others on the write lock,
and every GIL hand-over inside it waited behind the send threads).

One pass of the dispatcher thread:
1. settles every outcome the send threads have handed in since the last pass (row status, and the
   tocsin.automation.action.* events of final outcomes, with an executemany);
2. claims the due rows that fit under the per-destination and in-flight limits, by one compare-and-set
   `UPDATE ... RETURNING` (a row is taken only if it is still due, so two processes never claim the same row);
   it claims only when at least half the capacity is free, so claims come in batches;
3. commits 1 and 2 together, then starts the claimed sends and wakes the evaluator for the outcome events;
4. sleeps until the next row becomes due, an outcome arrives, or the planner commits new rows (`notify`).
A crash between a send and the commit of its outcome leaves the row claimed; it is re-sent with the same
delivery id when the lease expires.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update

from tocsin.server.outbox import Dispatcher
from tocsin.store import outbox as outbox_rows
from tocsin.store.events import insert_events
from tocsin.store.tables import outbox
from tocsin.store.timeutil import to_us

log = logging.getLogger("tocsin.delivery.dispatcher")
FETCH_ROWS = 500  # due rows read per pass
QUEUE_PER_WORKER = 2  # claimed rows allowed per send worker (claimed rows wait in the pool's queue)
GAUGE_SECONDS = 1.0  # how often the pending-rows gauge is refreshed


@dataclass(frozen=True)
class _Claimed:
    id: str
    action_index: int
    action: str
    destination: str
    attempts: int


@dataclass
class _Outcome:
    row: Any
    item: dict[str, Any]
    attempts: int
    status: str
    error: str | None
    status_code: int | None
    now: datetime
    delay: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)


class BatchingDispatcher(Dispatcher):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from tocsin.delivery.http import LeanHttpSender

        self._http = LeanHttpSender()  # used by Dispatcher._perform for every HTTP channel
        self._outcomes: list[_Outcome] = []
        self._outcomes_lock = threading.Lock()
        self._gauge_at = 0.0

    def stop(self) -> None:
        super().stop()  # stops the passes and waits for the attempts in flight, which hand in their outcomes
        try:
            self._pass(claim=False)
        except Exception:
            log.exception("settling the last outcomes failed; their claims expire and they are retried")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._wake.clear()
                if self._pass(claim=True):
                    continue
                now_us = to_us(self.clock.now())
                with self.store.reader.connect() as conn:
                    next_us = conn.execute(
                        select(func.min(outbox.c.next_attempt_us)).where(
                            outbox.c.status.in_([outbox_rows.PENDING, outbox_rows.DELIVERING]),
                            outbox.c.next_attempt_us > now_us,
                        )
                    ).scalar()
                    if time.monotonic() - self._gauge_at > GAUGE_SECONDS:
                        self._gauge_at = time.monotonic()
                        self.metrics.outbox_pending.set(outbox_rows.pending_count(conn))
                timeout = 60.0 if next_us is None else max(0.0005, min(60.0, (next_us - now_us) / 1e6))
                self._wake.wait(timeout)
            except Exception:
                log.exception("dispatch pass failed")
                self._stop.wait(0.5)

    def _pass(self, claim: bool) -> bool:
        """Steps 1-3; True when due rows were left only because the fetch was full."""
        with self._outcomes_lock:
            outcomes, self._outcomes = self._outcomes, []
        with self._lock:
            counts = dict(self._inflight)
        capacity = self.settings.outbox_workers * QUEUE_PER_WORKER
        room = capacity - sum(counts.values())
        claim = claim and room >= capacity // 2
        if not outcomes and not claim:
            return False
        now_us = to_us(self.clock.now())
        fetch = min(FETCH_ROWS, room * 4)  # a few more than there is room for: some destinations may be full
        rows: list[Any] = []
        claimed: list[Any] = []
        settled: list[_Outcome] = []
        with self.store.write() as conn:
            if outcomes:
                settled = self._settle_rows(conn, outcomes)
            if claim:
                limit = self.settings.outbox_per_destination
                full = sorted(d for d, n in counts.items() if n >= limit)  # their rows cannot start now
                query = select(outbox.c.id, outbox.c.destination).where(
                    outbox.c.status.in_([outbox_rows.PENDING, outbox_rows.DELIVERING]),
                    outbox.c.next_attempt_us <= now_us,
                )
                if full:
                    query = query.where(outbox.c.destination.not_in(full))
                rows = conn.execute(query.order_by(outbox.c.next_attempt_us).limit(fetch)).all()
                picked = []
                for row in rows:
                    if len(picked) >= room:
                        break
                    if counts.get(row.destination, 0) >= self.settings.outbox_per_destination:
                        continue  # woken again when one of this destination's deliveries finishes
                    counts[row.destination] = counts.get(row.destination, 0) + 1
                    picked.append(row.id)
                if picked:
                    claimed = self._claim(conn, picked, now_us)
        rows_claimed = [
            _Claimed(r.id, r.action_index, r.action, r.destination, r.attempts - 1) for r in claimed
        ]  # `attempts` as before the claim, as Dispatcher._deliver expects
        with self._lock:
            for row in rows_claimed:
                self._inflight[row.destination] += 1
        for row in rows_claimed:
            self._pool.submit(self._deliver, row)
        self._after_settle(settled)
        # a full fetch may hide startable rows of other destinations: look again (this pass's destinations that
        # filled up are left out next time, so the loop ends); a fetch that started nothing waits for a wake-up
        return bool(rows_claimed) and len(rows) == fetch and len(rows_claimed) < room

    def _claim(self, conn: Any, ids: list[str], now_us: int) -> list[Any]:
        # compare-and-set for the whole batch: a row is taken only if it is still due (pending, or claimed by a
        # process whose lease has expired); a row another process took meanwhile is not due any more
        claim_us = int(self.settings.outbox_claim_seconds * 1e6)
        return list(
            conn.execute(
                update(outbox)
                .where(
                    outbox.c.id.in_(ids),
                    # `|| ''` and `+ 0` keep SQLite's planner on the primary key: with the due index on (status,
                    # next_attempt_us) it scanned every due row for each claim (5 ms for 25 rows among 3,000)
                    (outbox.c.status + "").in_([outbox_rows.PENDING, outbox_rows.DELIVERING]),
                    (outbox.c.next_attempt_us + 0) <= now_us,
                )
                .values(
                    status=outbox_rows.DELIVERING,
                    attempts=outbox.c.attempts + 1,
                    next_attempt_us=now_us + claim_us,
                    updated_us=now_us,
                )
                .returning(
                    outbox.c.id,
                    outbox.c.action_index,
                    outbox.c.action,
                    outbox.c.destination,
                    outbox.c.attempts,
                )
            ).all()
        )

    # -- outcomes -------------------------------------------------------------------------------------------------
    def _settle(
        self,
        row: Any,
        item: dict[str, Any],
        attempts: int,
        status: str,
        error: str | None,
        status_code: int | None,
        delay: float = 0.0,
    ) -> None:
        """Called by a send thread: hand the outcome to the next pass (built here, off the dispatcher thread)."""
        outcome = _Outcome(row, item, attempts, status, error, status_code, self.clock.now(), delay)
        if status in (outbox_rows.DELIVERED, outbox_rows.DEAD):
            outcome.events = self._outcome_events(
                row, item, status, error, status_code, attempts, outcome.now
            )
        with self._outcomes_lock:
            self._outcomes.append(outcome)
        self._wake.set()

    def _settle_rows(self, conn: Any, batch: list[_Outcome]) -> list[_Outcome]:
        params = [
            {
                "b_id": o.row.id,
                "b_attempts": o.attempts,
                "b_status": o.status,
                "b_error": o.error,
                "b_updated": to_us(o.now),
                "b_next": to_us(o.now) + int(o.delay * 1e6),
            }
            for o in batch
        ]
        changed = conn.execute(_SETTLE, params).rowcount
        if changed == len(batch):
            settled = batch
        else:  # some claim expired and another attempt owns the row: find out which, row by row
            settled = [o for o in batch if _still_ours(conn, o)]
        events = [e for o in settled for e in o.events]
        if events:
            insert_events(conn, events)
        return settled

    def _after_settle(self, settled: list[_Outcome]) -> None:
        for o in settled:
            level = logging.WARNING if o.status == outbox_rows.DEAD else logging.INFO
            log.log(
                level,
                "delivery %s",
                o.status,
                extra={
                    "delivery_id": o.row.id,
                    "attempts": o.attempts,
                    "status_code": o.status_code,
                    "error": o.error,
                },
            )
        if any(o.events for o in settled):
            self.on_events()


# rows are settled only by the attempt that claimed them (same attempt count, still delivering)
_SETTLE = (
    update(outbox)
    .where(
        outbox.c.id == bindparam("b_id"),
        (outbox.c.status + "") == outbox_rows.DELIVERING,  # by primary key, not the due index (see _claim)
        outbox.c.attempts == bindparam("b_attempts"),
    )
    .values(
        status=bindparam("b_status"),
        last_error=bindparam("b_error"),
        updated_us=bindparam("b_updated"),
        next_attempt_us=bindparam("b_next"),
    )
)


def _still_ours(conn: Any, o: _Outcome) -> bool:
    row = conn.execute(select(outbox.c.status, outbox.c.attempts).where(outbox.c.id == o.row.id)).first()
    return row is not None and row.status == o.status and row.attempts == o.attempts
