"""Delivery: firings become outbox rows in the evaluation transaction (`plan`), and the `Dispatcher` sends
them.

Dispatcher rules:
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
"""

from __future__ import annotations

import json
import logging
import random
import threading
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from tocsin.clock import Clock
from tocsin.errors import DeliveryError, TocsinError
from tocsin.server.metrics import Metrics
from tocsin.server.settings import Settings
from tocsin.server.vault import Vault
from tocsin.store import Store
from tocsin.store import outbox as outbox_rows
from tocsin.store.events import insert_events
from tocsin.store.timeutil import to_us
from tocsin.triggers import Firing

log = logging.getLogger("tocsin.server.outbox")
_NAMESPACE = uuid.UUID("0b5f5a52-3d0e-4d55-8a4e-2f8f6c0f9a11")


def plan(firings: list[Firing], firing_json: list[dict[str, Any]], triggered_rows: list[dict[str, Any]],
         docs: dict[str, dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Outbox rows for firings: `actions` with the firing's event, then `actions_on_trigger` with the
    tocsin.automation.triggered event (as Prefect does), numbered in that order."""
    rows = []
    now_us = to_us(now)
    for firing, fj, triggered in zip(firings, firing_json, triggered_rows):
        doc = docs.get(str(firing.automation_id))
        if doc is None or not (doc.get("actions") or doc.get("actions_on_trigger")):
            continue
        automation = {k: doc.get(k) for k in ("id", "name", "description", "tags", "trigger")}
        triggered_body = json.loads(triggered["body"])
        items = [(a, fj.get("triggering_event")) for a in doc.get("actions") or []]
        items += [(a, triggered_body) for a in doc.get("actions_on_trigger") or []]
        for index, (action, event) in enumerate(items):
            rows.append({
                "id": str(uuid.uuid5(_NAMESPACE, f"{firing.id}:{index}")),
                "firing_id": str(firing.id),
                "automation_id": str(firing.automation_id),
                "action_index": index,
                "action": json.dumps({"action": action, "automation": automation, "firing": fj,
                                      "event": event, "triggered_event_id": triggered["id"]}),
                "destination": str(action.get("block_document_id") or action.get("type") or ""),
                "status": outbox_rows.PENDING,
                "attempts": 0,
                "next_attempt_us": now_us,
                "last_error": None,
                "created_us": now_us,
                "updated_us": now_us,
            })
    return rows


class Dispatcher:
    def __init__(self, store: Store, clock: Clock, settings: Settings, metrics: Metrics, vault: Vault,
                 on_events: Any) -> None:
        self.store, self.clock, self.settings, self.metrics, self.vault = store, clock, settings, metrics, vault
        self.on_events = on_events  # wakes the evaluator: outcome events are events like any other
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._inflight: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=settings.outbox_workers, thread_name_prefix="tocsin-send")
        self._thread = threading.Thread(target=self._run, name="tocsin-dispatch", daemon=True)
        self._http: Any = None
        self._prefect: Any = None  # tocsin.delivery.prefect.PrefectActions, made on first use

    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(10)
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- claiming -------------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._wake.clear()
                self._dispatch_due()
                with self.store.reader.connect() as conn:
                    next_us = outbox_rows.next_due_us(conn)
                    self.metrics.outbox_pending.set(outbox_rows.pending_count(conn))
                timeout = 60.0
                if next_us is not None:
                    timeout = max(0.001, min(timeout, (next_us - to_us(self.clock.now())) / 1e6))
                self._wake.wait(timeout)
            except Exception:  # noqa: BLE001 - keep dispatching
                log.exception("dispatch loop failed")
                self._stop.wait(0.5)

    def _dispatch_due(self) -> None:
        now_us = to_us(self.clock.now())
        with self.store.reader.connect() as conn:
            rows = outbox_rows.due(conn, now_us, 200)
        for row in rows:
            with self._lock:
                if self._inflight[row.destination] >= self.settings.outbox_per_destination:
                    continue  # woken again when one of this destination's deliveries finishes
            with self.store.write() as conn:
                if not outbox_rows.claim(conn, row, now_us, int(self.settings.outbox_claim_seconds * 1e6)):
                    continue
            with self._lock:
                self._inflight[row.destination] += 1
            self._pool.submit(self._deliver, row)

    # -- one attempt ----------------------------------------------------------------------------------------------
    def _deliver(self, row: Any) -> None:
        attempts = row.attempts + 1
        item = json.loads(row.action)
        status_code: int | None = None
        try:
            try:
                status_code = self._perform(item, row.id)
                self._settle(row, item, attempts, outbox_rows.DELIVERED, None, status_code)
            except DeliveryError as exc:
                status_code = exc.status_code
                if exc.permanent or attempts >= self.settings.outbox_max_attempts:
                    self._settle(row, item, attempts, outbox_rows.DEAD, str(exc), status_code)
                else:
                    self._settle(row, item, attempts, outbox_rows.PENDING, str(exc), status_code,
                                 delay=self._backoff(attempts, exc.retry_after))
            except TocsinError as exc:  # template, validation, missing block or secret: retrying cannot help
                self._settle(row, item, attempts, outbox_rows.DEAD, str(exc), None)
        except Exception:  # noqa: BLE001 - the claim expires and the row is retried
            log.exception("delivery bookkeeping failed", extra={"delivery_id": row.id})
        finally:
            with self._lock:
                self._inflight[row.destination] -= 1
            self._wake.set()

    def _backoff(self, attempts: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, 3600.0)
        base = self.settings.outbox_backoff_seconds * (2 ** (attempts - 1))
        return min(self.settings.outbox_backoff_max_seconds, base) * random.uniform(0.5, 1.0)

    def _perform(self, item: dict[str, Any], delivery_id: str) -> int | None:
        from tocsin import templating
        from tocsin.notifications import NOTIFICATION_BLOCK_TYPES, HttpSender, notifier_for
        from tocsin.schemas.actions import parse_action

        action = parse_action(item["action"])
        kind = action.type
        if kind == "do-nothing":
            return None
        if kind in ("pause-automation", "resume-automation"):
            from tocsin.server import services

            target = getattr(action, "automation_id", None) or item["automation"]["id"]
            services.set_enabled(self.store, self.clock, str(target), {"enabled": kind == "resume-automation"})
            self.on_events()
            return None
        context = templating.build_context(item["automation"], item["firing"], item.get("event"),
                                           resolve_secret=self.vault.resolve)
        try:
            rendered = templating.render_action(action, context)
        except templating.TemplateRenderError as exc:
            item["template_error"] = str(exc)  # reported in the .failed event
            raise
        if item.get("drill"):
            from tocsin.delivery.drill import mark_rendered

            rendered = mark_rendered(kind, rendered)
        if kind not in ("send-notification", "call-webhook"):
            if self._prefect is None:
                from tocsin.delivery.prefect import PrefectActions

                self._prefect = PrefectActions(self.vault)
            return self._prefect.run(action, item, delivery_id, self.clock.now(), rendered)  # type: ignore[no-any-return]
        block_type, block = self.vault.load_block(str(action.block_document_id))  # type: ignore[attr-defined]
        if self._http is None:
            self._http = HttpSender()
        notifier: Any = notifier_for(block_type, http=self._http, resolve_secret=self.vault.resolve)
        if kind == "call-webhook":
            if block_type != "webhook":
                raise DeliveryError(f"call-webhook needs a 'webhook' block, got {block_type!r}", permanent=True)
            result = notifier.send(block, "", rendered["payload"], delivery_id=delivery_id,
                                   headers=rendered.get("headers") or None)
        else:
            if block_type not in NOTIFICATION_BLOCK_TYPES:
                raise DeliveryError(f"block type {block_type!r} cannot send notifications", permanent=True)
            extra = {"dedup_key": item["firing"]["id"]} if block_type.startswith("pager-duty") else {}
            result = notifier.send(block, rendered["subject"], rendered["body"], delivery_id=delivery_id, **extra)
        return result.status_code

    def _settle(self, row: Any, item: dict[str, Any], attempts: int, status: str, error: str | None,
                status_code: int | None, delay: float = 0.0) -> None:
        now = self.clock.now()
        now_us = to_us(now)
        events = []
        if status in (outbox_rows.DELIVERED, outbox_rows.DEAD):
            events = self._outcome_events(row, item, status, error, status_code, attempts, now)
        with self.store.write() as conn:
            if not outbox_rows.settle(conn, row.id, attempts, status, now_us,
                                      next_attempt_us=now_us + int(delay * 1e6), error=error):
                return  # the claim expired and someone else took the row over
            insert_events(conn, events)
        level = logging.WARNING if status == outbox_rows.DEAD else logging.INFO
        log.log(level, "delivery %s", status, extra={"delivery_id": row.id, "attempts": attempts,
                                                     "status_code": status_code, "error": error})
        if events:
            self.on_events()

    def _outcome_events(self, row: Any, item: dict[str, Any], status: str, error: str | None,
                        status_code: int | None, attempts: int, now: datetime) -> list[dict[str, Any]]:
        from tocsin.schemas.events import ReceivedEvent
        from tocsin.store.events import event_row

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
        outcome = "executed" if status == outbox_rows.DELIVERED else "failed"
        redact = getattr(getattr(self.vault, "redactor", None), "redact", str)  # secret values never in events
        if error:
            payload["reason"] = redact(error)
        if item.get("template_error"):
            payload["template_error"] = redact(item["template_error"])
        if item.get("drill"):
            payload["drill"] = True
        out = []
        for kind in ("triggered", outcome):
            out.append(event_row(ReceivedEvent(
                id=uuid.uuid5(_NAMESPACE, f"{row.id}:{kind}"), occurred=now, received=now,
                event=f"tocsin.automation.action.{kind}", resource=resource, related=related,
                payload=payload)))
        return out


