"""The dispatcher with group commits: `tocsin.server.outbox.Dispatcher`'s rules (compare-and-set claims with a
lease, per-destination limits, jittered backoff, Retry-After, dead letters, outcome events) with the database
work batched, because with `synchronous=FULL` every commit is an fsync and two commits per delivery capped
delivery at about 100/s.

1. claiming: the due rows that fit under the per-destination and in-flight limits are claimed in one
   transaction (each row still by its own compare-and-set UPDATE, so two processes never claim the same row);
2. settling: attempts hand their outcome to one settler thread, which writes every outcome waiting (row
   status plus the tocsin.automation.action.* events) in one transaction, then wakes the evaluator once;
3. waiting: the loop sleeps until the next row becomes due, a destination frees up, or the planner commits new
   rows (`notify`), never spinning on rows it cannot take yet.
A crash between a send and its settle commit leaves the row claimed; it is re-sent with the same delivery id
when the lease expires, as before.
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
        self._outcomes: list[_Outcome] = []
        self._outcome_ready = threading.Condition()
        self._settler_stop = False
        self._settler = threading.Thread(target=self._settle_loop, name="tocsin-settle", daemon=True)
        self._gauge_at = 0.0

    def start(self) -> None:
        self._settler.start()
        super().start()

    def stop(self) -> None:
        super().stop()  # stops claiming and waits for the attempts in flight, which queue their outcomes
        with self._outcome_ready:
            self._settler_stop = True
            self._outcome_ready.notify()
        self._settler.join(10)

    # -- claiming (rules 1 and 3) ---------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._wake.clear()
                more = self._dispatch_due()
                if more:
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
                log.exception("dispatch loop failed")
                self._stop.wait(0.5)

    def _dispatch_due(self) -> bool:  # type: ignore[override]
        """Claim and start what can start now; True when due rows were left only for lack of a fetch."""
        now_us = to_us(self.clock.now())
        with self._lock:
            counts = dict(self._inflight)
        capacity = self.settings.outbox_workers * QUEUE_PER_WORKER
        room = capacity - sum(counts.values())
        if room < capacity // 2:
            # claim in batches: while every worker still has a claimed row queued behind the one it sends, a
            # claim transaction for one or two rows would only queue on the write lock; wait for more room
            return False  # woken again when a delivery finishes
        fetch = min(FETCH_ROWS, room * 4)  # a few more than there is room for: some destinations may be full
        with self.store.reader.connect() as conn:
            rows = conn.execute(
                select(outbox.c.id, outbox.c.destination)
                .where(
                    outbox.c.status.in_([outbox_rows.PENDING, outbox_rows.DELIVERING]),
                    outbox.c.next_attempt_us <= now_us,
                )
                .order_by(outbox.c.next_attempt_us)
                .limit(fetch)
            ).all()
        if not rows:
            return False
        picked = []
        for row in rows:
            if len(picked) >= room:
                break
            if counts.get(row.destination, 0) >= self.settings.outbox_per_destination:
                continue  # woken again when one of this destination's deliveries finishes
            counts[row.destination] = counts.get(row.destination, 0) + 1
            picked.append(row.id)
        if not picked:
            return False
        claim_us = int(self.settings.outbox_claim_seconds * 1e6)
        # compare-and-set for the whole batch: a row is taken only if it is still due (pending, or claimed by a
        # process whose lease has expired); a row another process took meanwhile is not due any more
        with self.store.write() as conn:
            claimed = conn.execute(
                update(outbox)
                .where(
                    outbox.c.id.in_(picked),
                    outbox.c.status.in_([outbox_rows.PENDING, outbox_rows.DELIVERING]),
                    outbox.c.next_attempt_us <= now_us,
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
        rows_claimed = [
            _Claimed(r.id, r.action_index, r.action, r.destination, r.attempts - 1) for r in claimed
        ]  # `attempts` as before the claim, as Dispatcher._deliver expects
        with self._lock:
            for row in rows_claimed:
                self._inflight[row.destination] += 1
        for row in rows_claimed:
            self._pool.submit(self._deliver, row)
        return len(rows) == fetch and len(picked) < room

    # -- settling (rule 2) ----------------------------------------------------------------------------------------
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
        outcome = _Outcome(row, item, attempts, status, error, status_code, self.clock.now(), delay)
        if status in (outbox_rows.DELIVERED, outbox_rows.DEAD):
            outcome.events = self._outcome_events(
                row, item, status, error, status_code, attempts, outcome.now
            )
        with self._outcome_ready:
            self._outcomes.append(outcome)
            self._outcome_ready.notify()

    def _settle_loop(self) -> None:
        while True:
            with self._outcome_ready:
                while not self._outcomes and not self._settler_stop:
                    self._outcome_ready.wait()
                batch, self._outcomes = self._outcomes, []
                if not batch and self._settler_stop:
                    return
            try:
                self._commit(batch)
            except Exception:
                log.exception(
                    "settling %d deliveries failed; their claims expire and they are retried", len(batch)
                )

    def _commit(self, batch: list[_Outcome]) -> None:
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
        with self.store.write() as conn:
            changed = conn.execute(_SETTLE, params).rowcount
            if changed == len(batch):
                settled = batch
            else:  # some claim expired and another attempt owns the row: find out which, row by row
                settled = [o for o in batch if _still_ours(conn, o)]
            events = [e for o in settled for e in o.events]
            if events:
                insert_events(conn, events)
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
        if events:
            self.on_events()
        if any(o.status == outbox_rows.PENDING for o in settled):
            self._wake.set()  # a retry is now scheduled: recompute the next due time


# rows are settled only by the attempt that claimed them (same attempt count, still delivering)
_SETTLE = (
    update(outbox)
    .where(
        outbox.c.id == bindparam("b_id"),
        outbox.c.status == outbox_rows.DELIVERING,
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
