"""The dispatcher: sends the outbox rows `tocsin.delivery.planner.plan` wrote.

Rules:
1. rows are claimed by compare-and-set; a claim lasts `outbox_claim_seconds` (longer than any notifier
   timeout), after which an unsettled row (its process died mid-delivery) is due again;
2. at most `outbox_per_destination` deliveries run at once per destination (block id, or action type);
3. a retryable failure waits min(max, base * 2**(attempt-1)) scaled by a random factor in [0.5, 1] (jitter),
   or exactly the Retry-After the destination asked for;
4. a permanent failure, or the `outbox_max_attempts`-th failure, moves the row to `dead`, where the API lists
   it and can retry it;
5. every attempt carries the row id as its delivery id (X-Tocsin-Delivery-Id; PagerDuty dedup_key is the
   firing id), so a re-sent attempt can be recognised by the receiver;
6. the final outcome is written with its self-events (tocsin.automation.action.triggered and .executed or
   .failed) in one transaction.

Design: one thread runs an asyncio loop that does everything for the deliveries of this process: the passes
below (plain SQL through the driver, `tocsin.delivery.claims`), rendering, and every HTTP channel (webhook,
Slack, Teams, PagerDuty, Twilio, whose notifiers are coroutines) over `LeanHttpSender`'s pooled keep-alive
connections. What blocks runs on a small thread pool: email, Apprise, Prefect API actions, pause/resume,
templates that need the render watchdog (loops, calls, filters) and requests httpx must send. Measured with
bench/delivery.py's throughput part (4,000 webhook deliveries to a loopback sink, SQLite, both builds run in
turn on the same busy 2-core machine): 16 send threads cost the dispatcher process 1.1-1.4 ms of CPU per
delivery, a quarter of it in the kernel switching between the threads; on the loop 0.59-0.66 ms. Of that, in
bench/dispatcher_cpu.py (0.45-0.5 ms): the passes about 180 us (mostly SQLite writing and committing the
claim, the settle and the two outcome events), rendering 25-75 us, outcome events 25 us, the HTTP exchange
about 85 us of Python and 25 us of kernel.

One pass (the database work of many deliveries in one transaction; measured: two commits per delivery capped
delivery at about 100/s, a separate settler thread at about 240/s):
1. settles every outcome handed in since the last pass (row status, and the outcome events of final outcomes,
   with an executemany);
2. claims the due rows that fit under the per-destination and in-flight limits, by one compare-and-set
   `UPDATE ... RETURNING` (a row is taken only if it is still due, so two processes never claim the same row);
   it claims only when at least half the capacity (2 x `outbox_workers` deliveries in flight) is free, so
   claims come in batches;
3. commits 1 and 2 together, then starts a task per claimed row and wakes the evaluator for the outcome events;
4. sleeps until the next row becomes due, an outcome arrives, or the planner commits new rows (`notify`).
A crash between a send and the commit of its outcome leaves the row claimed; it is re-sent with the same
delivery id when the lease expires. `stop` claims nothing more, waits for the deliveries in flight (every
claimed row has started) and settles their outcomes.

The per-delivery work is kept small (measured with bench/dispatcher_cpu.py): the parsed action, the context
names its templates read and whether they render on the loop are cached per action JSON, the notifier per block
type and the redactor per block (`redactor_for`); the event in the row is read without a pydantic round trip
(`build_context(engine_built=True)`); outcome events are written as JSON directly (the engine builds them, so
they are well-formed `ReceivedEvent`s). The in-flight counts and outcome lists belong to the loop alone.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from tocsin import templating
from tocsin.delivery import claims
from tocsin.delivery.planner import NAMESPACE
from tocsin.errors import DeliveryError, TocsinError
from tocsin.notifications import NOTIFICATION_BLOCK_TYPES
from tocsin.notifications.base import HttpNotifier
from tocsin.store import outbox as outbox_rows
from tocsin.store.events import engine_event_id, insert_events
from tocsin.store.timeutil import iso_z, to_us

if TYPE_CHECKING:
    from tocsin.clock import Clock
    from tocsin.schemas.actions import ActionBase
    from tocsin.server.metrics import Metrics
    from tocsin.server.settings import Settings
    from tocsin.server.vault import Vault
    from tocsin.store import Store

log = logging.getLogger("tocsin.delivery.dispatcher")
FETCH_ROWS = 500  # due rows read per pass
IN_FLIGHT_PER_WORKER = 2  # deliveries in flight per `outbox_workers`
GAUGE_SECONDS = 1.0  # how often the pending-rows gauge is refreshed
PREPARED_MAX = 1024  # parsed actions kept
SETTLE_SECONDS = 0.005  # longest an outcome waits for others to be written with (while others are in flight)
NEXT_DUE_SECONDS = 0.05  # how long the next due time read from the database is trusted (other processes' rows)
HTTP_CHANNELS = ("send-notification", "call-webhook")


@dataclass(frozen=True)
class _Claimed:
    id: str
    action_index: int
    action: str
    destination: str
    attempts: int  # as before this claim


@dataclass
class _Outcome:
    row: _Claimed
    attempts: int
    status: str | None  # None: nothing to settle (the attempt was not made or its bookkeeping failed)
    error: str | None = None
    status_code: int | None = None
    now: datetime | None = None
    delay: float = 0.0
    events: tuple[tuple[Any, ...], ...] = ()
    action: str | None = None  # the row's new action JSON: a retry carries what this attempt already did


@dataclass(frozen=True)
class _Prepared:
    """An action parsed once per distinct action JSON, with the context names its templates read and whether
    they render on the loop (plain lookups only: nothing that needs the render watchdog)."""

    action: ActionBase
    kind: str
    names: frozenset[str] | None
    on_loop: bool
    block_id: str  # of send-notification and call-webhook


_LOG_LEVELS = {outbox_rows.DELIVERED: logging.DEBUG, outbox_rows.PENDING: logging.INFO,
               outbox_rows.DEAD: logging.WARNING}


class Dispatcher:
    def __init__(self, store: Store, clock: Clock, settings: Settings, metrics: Metrics, vault: Vault,
                 on_events: Any) -> None:
        from tocsin.delivery.http import LeanHttpSender

        self.store, self.clock, self.settings, self.metrics, self.vault = store, clock, settings, metrics, vault
        self.on_events = on_events  # wakes the evaluator: outcome events are events like any other
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()
        self._stop = threading.Event()
        self._inflight: dict[str, int] = {}  # per destination
        self._tasks: set[asyncio.Task[None]] = set()
        self._outcomes: list[_Outcome] = []  # handed in, not yet collected by a pass
        self._woken = False
        self._waiter: asyncio.Future[None] | None = None
        self._gauge_at = 0.0
        self._unsettled: list[_Outcome] = []  # collected, not yet written
        self._unsettled_since = 0.0
        self._next_due_us: int | None = None  # the next row due after now, as last read
        self._next_due_read = 0.0  # monotonic time after which it is read again
        self._thread = threading.Thread(target=self._run, name="tocsin-dispatch", daemon=True)
        # blocking work: email, Apprise, Prefect API actions, pause/resume, slow templates, httpx fallbacks
        self._blocking = ThreadPoolExecutor(settings.outbox_workers, thread_name_prefix="tocsin-send")
        self._http = LeanHttpSender()  # every HTTP channel, on the loop
        self._prefect: Any = None  # tocsin.delivery.prefect.PrefectActions, made on first use
        self._prepared: dict[bytes, _Prepared] = {}
        self._notifiers: dict[str, Any] = {}
        redactor = getattr(vault, "redactor", None)
        self._redact = redactor.redact if redactor is not None else str  # secret values never in events

    def start(self) -> None:
        self._thread.start()
        self._started.wait(10)

    def notify(self) -> None:
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._wake)
            except RuntimeError:  # the loop has ended
                pass

    def stop(self) -> None:
        """Stop claiming, let the deliveries in flight finish, settle their outcomes (rows claimed and not
        started cannot exist: every claimed row starts at once)."""
        self._stop.set()
        self.notify()
        if self._thread.is_alive():
            self._thread.join()
        self._blocking.shutdown(wait=True)

    # -- the loop -------------------------------------------------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        loop.set_default_executor(self._blocking)
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            self._loop = None
            loop.close()

    async def _main(self) -> None:
        self._started.set()
        while not self._stop.is_set():
            try:
                self._woken = False
                if self._pass(claim=True):
                    await asyncio.sleep(0)  # answers that arrived meanwhile first
                    continue
                await self._sleep(self._sleep_seconds())
            except Exception:
                log.exception("dispatch pass failed")
                await self._sleep(0.5)
        if self._tasks:
            await asyncio.wait(list(self._tasks))  # the attempts in flight hand in their outcomes
        try:
            self._pass(claim=False)
        except Exception:
            log.exception("settling the last outcomes failed; their claims expire and they are retried")
        self._http.close_idle()
        await asyncio.sleep(0)  # the transports close

    async def _sleep(self, seconds: float) -> None:
        """Until `_wake` (an outcome, `notify`) or `seconds`."""
        if self._woken:
            return
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(seconds, _resolve, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def _wake(self) -> None:
        self._woken = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _sleep_seconds(self) -> float:
        """Until the next row is due (read again at most every NEXT_DUE_SECONDS, or when the time read has
        passed), or until the oldest outcome waiting must be settled."""
        now = time.monotonic()
        now_us = to_us(self.clock.now())
        if now >= self._next_due_read or (self._next_due_us is not None and self._next_due_us <= now_us):
            with self.store.reader.connect() as conn:
                self._next_due_us = claims.next_due_us(conn, now_us)
                if now - self._gauge_at > GAUGE_SECONDS:
                    self._gauge_at = now
                    self.metrics.outbox_pending.set(outbox_rows.pending_count(conn))
            self._next_due_read = now + NEXT_DUE_SECONDS
        next_us = self._next_due_us
        timeout = 60.0 if next_us is None else max(0.0005, min(60.0, (next_us - now_us) / 1e6))
        if self._unsettled:
            timeout = max(0.0005, min(timeout, self._unsettled_since + SETTLE_SECONDS - now))
        return timeout

    def _pass(self, claim: bool) -> bool:
        """Steps 1-3; True when due rows were left only because the fetch was full.

        Outcomes are written when the pass claims too (at least half the capacity is free), when the oldest has
        waited SETTLE_SECONDS, or when nothing else is in flight: about one transaction per half capacity of
        deliveries under load instead of one per outcome."""
        outcomes, self._outcomes = self._outcomes, []
        counts = self._inflight
        for o in outcomes:
            left = counts[o.row.destination] - 1
            if left:
                counts[o.row.destination] = left
            else:
                del counts[o.row.destination]
            if o.status is not None:
                if not self._unsettled:
                    self._unsettled_since = time.monotonic()
                self._unsettled.append(o)
        capacity = self.settings.outbox_workers * IN_FLIGHT_PER_WORKER
        room = capacity - sum(counts.values())
        claim = claim and room >= capacity // 2 and not self._stop.is_set()
        to_settle: list[_Outcome] = []
        if self._unsettled and (claim or not claim and (
            not counts or self._stop.is_set() or time.monotonic() - self._unsettled_since >= SETTLE_SECONDS
        )):
            to_settle, self._unsettled = self._unsettled, []
        if not to_settle and not claim:
            return False
        now_us = to_us(self.clock.now())
        fetch = min(FETCH_ROWS, room * 2)  # more than there is room for: some destinations may be full
        rows: list[Any] = []
        claimed: list[Any] = []
        settled: list[_Outcome] = []
        picked: list[str] = []
        if claim:  # candidates are read before the write lock: the claim below is a compare-and-set anyway
            limit = self.settings.outbox_per_destination
            full = sorted(d for d, n in counts.items() if n >= limit)  # their rows cannot start now
            with self.store.reader.connect() as reader:
                rows = claims.due_rows(reader, now_us, fetch, full)
            planned = dict(counts)
            for row_id, destination, _ in rows:
                if len(picked) >= room:
                    break
                if planned.get(destination, 0) >= limit:
                    continue  # woken again when one of this destination's deliveries finishes
                planned[destination] = planned.get(destination, 0) + 1
                picked.append(row_id)
        if to_settle or picked:
            with self.store.write() as conn:
                if to_settle:
                    settled = self._settle_rows(conn, to_settle)
                if picked:
                    claimed = claims.claim(conn, picked, now_us, int(self.settings.outbox_claim_seconds * 1e6))
        loop = self._loop
        for row_id, action_index, action, destination, attempts in claimed:
            counts[destination] = counts.get(destination, 0) + 1
            row = _Claimed(row_id, action_index, action, destination, attempts - 1)
            if loop is None:  # not running (a pass outside the loop claims nothing): cannot happen
                raise RuntimeError("claimed outside the dispatcher loop")
            task = loop.create_task(self._deliver(row))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        for o in settled:  # retries come due at their own time: wake up for them
            if o.status == outbox_rows.PENDING:
                next_us = to_us(o.now) + int(o.delay * 1e6)  # type: ignore[arg-type]
                if self._next_due_us is None or next_us < self._next_due_us:
                    self._next_due_us = next_us
        self._after_settle(settled)
        # a full fetch may hide startable rows of other destinations: look again (this pass's destinations that
        # filled up are left out next time, so the loop ends); a fetch that started nothing waits for a wake-up
        return bool(claimed) and len(rows) == fetch and len(claimed) < room

    def _settle_rows(self, conn: Any, batch: list[_Outcome]) -> list[_Outcome]:
        params = []
        for o in batch:
            assert o.now is not None
            now_us = to_us(o.now)
            params.append((o.status, o.error, now_us, now_us + int(o.delay * 1e6), o.row.id, o.attempts))
        if claims.settle(conn, params) == len(batch):
            settled = batch
        else:  # some claim expired and another attempt owns the row: find out which, row by row
            settled = [o for o in batch if claims.state(conn, o.row.id) == (o.status, o.attempts)]
        progress = [(o.action, o.row.id) for o in settled if o.action is not None]
        if progress:
            claims.keep_progress(conn, progress)
        events = [e for o in settled for e in o.events]
        if events:
            insert_events(conn, events)
        return settled

    def _after_settle(self, settled: list[_Outcome]) -> None:
        for o in settled:
            # a delivery is recorded in its outcome events and counters; the log carries retries and dead letters
            # (a line per success cost the dispatcher a redaction scan per delivery at the default level)
            level = _LOG_LEVELS.get(o.status, logging.INFO)
            if log.isEnabledFor(level):
                log.log(level, "delivery %s", o.status, extra={"delivery_id": o.row.id, "attempts": o.attempts,
                                                               "status_code": o.status_code, "error": o.error})
        if any(o.events for o in settled):
            self.on_events()

    # -- one delivery ---------------------------------------------------------------------------------------------
    async def _deliver(self, row: _Claimed) -> None:
        attempts = row.attempts + 1
        outcome = _Outcome(row, attempts, None)
        try:
            item = orjson.loads(row.action)
            status_code: int | None = None
            try:
                try:
                    status_code = await self._perform(item, row.id)
                    outcome = self._outcome(row, item, attempts, outbox_rows.DELIVERED, None, status_code)
                except DeliveryError as exc:
                    status_code = exc.status_code
                    if exc.permanent or attempts >= self.settings.outbox_max_attempts:
                        outcome = self._outcome(row, item, attempts, outbox_rows.DEAD, str(exc), status_code)
                    else:
                        outcome = self._outcome(row, item, attempts, outbox_rows.PENDING, str(exc), status_code,
                                                delay=self._backoff(attempts, exc.retry_after))
                        if exc.progress:
                            outcome.action = json.dumps({**item, "progress": exc.progress})
                except TocsinError as exc:  # template, validation, missing block or secret: retrying cannot help
                    outcome = self._outcome(row, item, attempts, outbox_rows.DEAD, str(exc), None)
            except Exception:  # the claim expires and the row is retried
                log.exception("delivery bookkeeping failed", extra={"delivery_id": row.id})
        finally:
            self._outcomes.append(outcome)
            self._wake()

    def _backoff(self, attempts: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, 3600.0)
        base = self.settings.outbox_backoff_seconds * (2 ** (attempts - 1))
        return min(self.settings.outbox_backoff_max_seconds, base) * random.uniform(0.5, 1.0)

    def _prepare(self, action: dict[str, Any]) -> _Prepared:
        key = orjson.dumps(action, option=orjson.OPT_SORT_KEYS)
        prepared = self._prepared.get(key)
        if prepared is None:
            from tocsin.schemas.actions import parse_action

            parsed = parse_action(action)  # ValidationFailed (a TocsinError): dead, and not cached
            names, on_loop = None, False
            if parsed.type in HTTP_CHANNELS:
                sources = [source for _, source in parsed.template_fields()]
                names = templating.template_variables(sources)
                on_loop = names is not None and templating.renders_in_time_of_data(sources)
            block_id = str(getattr(parsed, "block_document_id", "") or "")
            prepared = _Prepared(parsed, parsed.type, names, on_loop, block_id)
            if len(self._prepared) >= PREPARED_MAX:
                self._prepared.clear()
            self._prepared[key] = prepared
        return prepared

    def _notifier(self, block_type: str) -> Any:
        notifier = self._notifiers.get(block_type)
        if notifier is None:  # notifiers keep no state between sends
            from tocsin.notifications import notifier_for

            notifier = notifier_for(block_type, http=self._http, resolve_secret=self.vault.resolve)
            self._notifiers[block_type] = notifier
        return notifier

    def _render(self, prepared: _Prepared, item: dict[str, Any]) -> dict[str, Any]:
        context = templating.build_context(item["automation"], item["firing"], item.get("event"),
                                           resolve_secret=self.vault.resolve, names=prepared.names,
                                           engine_built=True)
        try:
            return templating.render_action(prepared.action, context)
        except templating.TemplateRenderError as exc:
            item["template_error"] = str(exc)  # reported in the .failed event
            raise

    def _set_enabled(self, target: str, enabled: bool) -> None:
        from tocsin.server import services

        services.set_enabled(self.store, self.clock, target, {"enabled": enabled})
        self.on_events()

    async def _perform(self, item: dict[str, Any], delivery_id: str) -> int | None:
        """One attempt: HTTP channels on the loop; everything that blocks on the thread pool."""
        prepared = self._prepare(item["action"])
        action, kind = prepared.action, prepared.kind
        loop = asyncio.get_running_loop()
        if kind == "do-nothing":
            return None
        if kind in ("pause-automation", "resume-automation"):
            target = getattr(action, "automation_id", None) or item["automation"]["id"]
            await loop.run_in_executor(None, self._set_enabled, str(target), kind == "resume-automation")
            return None
        if prepared.on_loop:
            rendered = self._render(prepared, item)
        else:  # templates that may loop or call run under the render watchdog, off the loop
            rendered = await loop.run_in_executor(None, self._render, prepared, item)
        if item.get("drill"):
            from tocsin.delivery.drill import mark_rendered

            rendered = mark_rendered(kind, rendered)
        if kind not in HTTP_CHANNELS:
            if self._prefect is None:
                from tocsin.delivery.prefect import PrefectActions

                self._prefect = PrefectActions(self.vault)
            call = functools.partial(self._prefect.run, action, item, delivery_id, self.clock.now(), rendered)
            return await loop.run_in_executor(None, call)  # type: ignore[no-any-return]
        block_type, block = self.vault.load_block(prepared.block_id)
        extra: dict[str, Any] = {}
        if kind == "call-webhook":
            if block_type != "webhook":
                raise DeliveryError(f"call-webhook needs a 'webhook' block, got {block_type!r}", permanent=True)
            subject, body = "", rendered["payload"]
            extra["headers"] = rendered.get("headers") or None
        else:
            if block_type not in NOTIFICATION_BLOCK_TYPES:
                raise DeliveryError(f"block type {block_type!r} cannot send notifications", permanent=True)
            subject, body = rendered["subject"], rendered["body"]
            if block_type.startswith("pager-duty"):
                extra["dedup_key"] = item["firing"]["id"]
                extra["automation_id"] = item["automation"]["id"]
            elif item.get("progress"):  # an earlier attempt reached some recipients (twilio-sms)
                extra["progress"] = item["progress"]
        notifier = self._notifier(block_type)
        if isinstance(notifier, HttpNotifier):
            result = await notifier.asend(block, subject, body, delivery_id=delivery_id, **extra)
        else:  # email, Apprise
            call = functools.partial(notifier.send, block, subject, body, delivery_id=delivery_id, **extra)
            result = await loop.run_in_executor(None, call)
        return result.status_code  # type: ignore[no-any-return]

    # -- outcomes -------------------------------------------------------------------------------------------------
    def _outcome(self, row: _Claimed, item: dict[str, Any], attempts: int, status: str, error: str | None,
                 status_code: int | None, delay: float = 0.0) -> _Outcome:
        now = self.clock.now()
        outcome = _Outcome(row, attempts, status, error, status_code, now, delay)
        if status in (outbox_rows.DELIVERED, outbox_rows.DEAD):
            outcome.events = self._outcome_events(row, item, status, error, status_code, attempts, now)
        return outcome

    def _outcome_events(self, row: Any, item: dict[str, Any], status: str, error: str | None,
                        status_code: int | None, attempts: int, now: datetime) -> tuple[tuple[Any, ...], ...]:
        """Event rows (tuples in tocsin.store.events column order) of tocsin.automation.action.triggered and
        .executed / .failed, serialised as ReceivedEvent.model_dump_json would."""
        automation = item["automation"]
        resource = {"prefect.resource.id": f"prefect.automation.{automation['id']}",
                    "prefect.resource.name": automation.get("name") or ""}
        related = [{"prefect.resource.id": f"prefect.event.{item['triggered_event_id']}",
                    "prefect.resource.role": "automation-triggered-event"}]
        event = item.get("event") or {}
        if event.get("id"):
            related.append({"prefect.resource.id": f"prefect.event.{event['id']}",
                            "prefect.resource.role": "triggering-event"})
        payload: dict[str, Any] = {"action_index": row.action_index, "action_type": item["action"].get("type"),
                                   "invocation": row.id, "attempts": attempts, "status_code": status_code}
        if error:
            payload["reason"] = self._redact(error)
        if item.get("template_error"):
            payload["template_error"] = self._redact(item["template_error"])
        if item.get("drill"):
            payload["drill"] = True
        stamp = iso_z(now)
        now_us = to_us(now)
        middle = _dumps({"resource": resource, "related": related, "payload": payload})[1:-1]
        resource_id = resource["prefect.resource.id"]
        out = []
        for kind in ("triggered", "executed" if status == outbox_rows.DELIVERED else "failed"):
            name = f"tocsin.automation.action.{kind}"
            event_id = engine_event_id(NAMESPACE, f"{row.id}:{kind}")
            body = (f'{{"occurred":"{stamp}","event":"{name}",{middle},"id":"{event_id}","follows":null,'
                    f'"received":"{stamp}"}}')
            out.append((event_id, now_us, now_us, name, resource_id, body))
        return tuple(out)


_json_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _dumps(value: Any) -> str:
    """Compact JSON as ReceivedEvent.model_dump_json writes it; the standard encoder for what orjson refuses
    (lone surrogates in an error text)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return _json_dumps(value)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
