"""The evaluator: events and clock ticks in, firings out. Pure: state in a store, time from a clock.

One instance serves the engine (deadline mode: woken exactly when something is due), `tocsin test`
(either mode) and plan-time checks. It reproduces Prefect's open-source trigger service (semantics §5-8):
duplicate ids are ignored, an event whose `follows` leader has not been seen waits for it (at most 15
minutes), and proactive judgements run on the events clock, which lags the wall clock when events arrive late.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from tocsin.clock import Clock, SystemClock
from tocsin.schemas.events import ReceivedEvent
from tocsin.schemas.triggers import Posture
from tocsin.triggers import composite, metric, windows
from tocsin.triggers.compiled import (
    CompiledEventTrigger,
    CompiledMetricTrigger,
    CompiledNode,
    SpecInterner,
    compile_tree,
)
from tocsin.triggers.firing import Firing
from tocsin.triggers.index import TriggerIndex
from tocsin.triggers.state import InMemoryStateStore, TriggerKey

FOLLOWER_WAIT = timedelta(minutes=15)  # how long an event waits for its `follows` leader
MAX_FOLLOWER_DEPTH = 20  # followers of followers are processed recursively up to this depth
IGNORED_EVENTS = frozenset({"prefect.log.write"})


class Evaluator:
    """Holds the loaded automations' triggers and judges events and ticks against them.

    `deadline_mode=True` (the engine): `next_deadline()` names the exact wall time of the next judgement.
    `deadline_mode=False`: behaves like Prefect's periodic service; call `on_tick()` at your own cadence.
    """

    def __init__(self, store: InMemoryStateStore | None = None, clock: Clock | None = None, *,
                 deadline_mode: bool = True) -> None:
        self.store = store if store is not None else InMemoryStateStore()
        self.clock = clock or SystemClock()
        self.deadline_mode = deadline_mode
        self._index = TriggerIndex()
        self._nodes: dict[TriggerKey, CompiledNode] = {}
        self._by_automation: dict[UUID, list[CompiledNode]] = {}
        self._signatures: dict[UUID, Any] = {}
        self._proactive: list[CompiledEventTrigger] = []
        self._metrics: list[CompiledMetricTrigger] = []
        self._seq = 0
        self._intern = SpecInterner()
        self._out: list[Firing] = []

    # -- automations ---------------------------------------------------------------------------------------------
    def load(self, automation_id: UUID, trigger: Any) -> None:
        """Load or reload an automation's trigger. Reloading an equal trigger keeps its windows."""
        signature = _signature(trigger)
        if self._signatures.get(automation_id) == signature:
            for node in self._by_automation[automation_id]:  # keep state, take the new models (ids may differ)
                node.trigger = _node_at(trigger, node.path)
                if isinstance(node, CompiledEventTrigger):
                    node.refresh()
            return
        if automation_id in self._by_automation:
            self.unload(automation_id)
        nodes = compile_tree(automation_id, trigger, self._seq, self._intern)
        self._seq += len(nodes)
        self._by_automation[automation_id] = nodes
        self._signatures[automation_id] = signature
        for node in nodes:
            self._nodes[node.key] = node
            if isinstance(node, CompiledEventTrigger):
                self._index.add(node)
                if node.trigger.posture == Posture.Proactive:
                    self._proactive.append(node)
            elif isinstance(node, CompiledMetricTrigger):
                self._metrics.append(node)

    def unload(self, automation_id: UUID, *, drop_state: bool = True) -> None:
        nodes = self._by_automation.pop(automation_id, [])
        self._signatures.pop(automation_id, None)
        doomed = {id(n) for n in nodes}
        self._index.remove([n for n in nodes if isinstance(n, CompiledEventTrigger)])
        self._proactive = [n for n in self._proactive if id(n) not in doomed]
        self._metrics = [n for n in self._metrics if id(n) not in doomed]
        for node in nodes:
            self._nodes.pop(node.key, None)
        if drop_state:
            self.store.forget_automation(automation_id)

    def loaded(self) -> list[UUID]:
        return list(self._by_automation)


    # -- events --------------------------------------------------------------------------------------------------
    def on_event(self, event: ReceivedEvent) -> list[Firing]:
        """Evaluate one received event at the wall time `clock.now()`; returns top-level firings."""
        wall = self.clock.now()
        if event.event in IGNORED_EVENTS or self.store.has_seen(event.id, wall):
            return []
        self._out = []
        self._reactive(event, wall, 0)
        return self._take()

    def sees(self, name: str) -> bool:
        """Whether an event of this name can do more than move the events clock and be remembered as seen:
        a trigger's name gate admits it, a metric trigger may observe it, or events are parked (they may be
        waiting for it). When not, and it follows no other event, `pass_by` is all `on_event` would do."""
        return bool(self._index.candidates(name) or self.store.parked
                    or (self._metrics and name.startswith(metric.FLOW_RUN_EVENT)))

    def pass_by(self, name: str, event_id: UUID, occurred: datetime, received: datetime) -> None:
        """`on_event` for an event that `sees` nothing for and whose `follows` is None, from its fields alone
        (a server need not parse the events no trigger looks at, typically most of them)."""
        wall = self.clock.now()
        if name not in IGNORED_EVENTS and self.store.see(event_id, wall):
            self._move_events_clock(occurred, received, wall)

    def _reactive(self, event: ReceivedEvent, wall: datetime, depth: int) -> None:
        self._move_events_clock(event.occurred, event.received, wall)
        leader = event.follows
        if (leader is not None and leader != event.id and wall - event.received < FOLLOWER_WAIT
                and not self.store.has_seen(leader, wall)):
            self.store.park(event)
            return
        self._evaluate(event, wall)
        self.store.mark_seen(event.id, wall)
        if not self.store.parked:
            return
        self.store.unpark(event.id)
        if depth < MAX_FOLLOWER_DEPTH:
            for follower in self.store.followers_of(event.id):
                self._reactive(follower, wall, depth + 1)

    def _evaluate(self, event: ReceivedEvent, wall: datetime) -> None:
        memo: dict[Any, bool] = {}
        for ct in self._index.candidates(event.event):  # the index has already checked the event name
            if ct.covers_resources(event, memo):
                windows.on_event(self.store, ct, event, wall, self._fire)
        if self._metrics and metric.is_metric_event(event):
            for mt in self._metrics:
                if mt.covers_resources(event, memo):
                    metric.observe(self.store, mt, event)

    def _move_events_clock(self, occurred: datetime, received: datetime, wall: datetime) -> None:
        occurred = min(occurred, wall)
        current = self.store.events_clock
        # stamped with the event's receipt, not with when it was evaluated: an evaluator that started late or
        # worked through a backlog must not push later judgements back by its own delay (the engine does not
        # judge while it is behind, see tocsin.server.scheduler); in `tocsin test` both are the same instant
        self.store.set_events_clock(occurred if current is None or occurred >= current else current,
                                    min(received, wall))

    def events_clock_offset(self) -> timedelta:
        """Event time minus receipt time as of the last event (<= 0 when events arrive late): proactive
        judgements use wall time plus this offset, so events that are slow to arrive do not look like silence."""
        if self.store.events_clock is None or self.store.events_clock_updated is None:
            return timedelta(0)
        return self.store.events_clock - self.store.events_clock_updated

    # -- time ----------------------------------------------------------------------------------------------------
    def on_tick(self) -> list[Firing]:
        """Do what is due at `clock.now()`: release followers whose leader never came, judge proactive
        windows, sweep expired buckets, evaluate metrics."""
        wall = self.clock.now()
        self._out = []
        for event in sorted(
            (e for e in self.store.parked.values() if e.received <= wall - FOLLOWER_WAIT), key=lambda e: e.occurred
        ):
            if event.id in self.store.parked:
                self._reactive(event, wall, 0)
        offset = self.events_clock_offset()
        as_of = wall + offset
        for ct in self._proactive:
            if self._proactive_due(ct, wall, as_of):
                run_again_at = windows.proactive_evaluation(self.store, ct, as_of, wall, self._fire)
                self.store.set_next_run(ct.key, run_again_at - offset if self.deadline_mode else run_again_at)
        horizon = as_of - windows.EXPIRED_BUCKET_BUFFER
        for bucket in self.store.ended_by(horizon):
            self.store.delete_bucket(bucket)
        for mt in self._metrics:
            metric.evaluate(self.store, mt, wall, self._fire)
        self.store.forget_seen_before(wall - timedelta(seconds=1800))
        return self._take()

    def _proactive_due(self, ct: CompiledEventTrigger, wall: datetime, as_of: datetime) -> bool:
        next_run = self.store.next_runs.get(ct.key)
        if next_run is None or next_run <= wall:
            return True
        if not self.deadline_mode:
            return False
        earliest = self.store.earliest_end(ct.key)
        return earliest is not None and earliest <= as_of

    def next_deadline(self) -> datetime | None:
        """Wall time at which `on_tick()` next has something to do (deadline mode), or None."""
        offset = self.events_clock_offset()
        candidates: list[datetime] = []
        if self.store.parked:
            candidates.append(min(e.received for e in self.store.parked.values()) + FOLLOWER_WAIT)
        now = self.clock.now()
        for ct in self._proactive:
            next_run = self.store.next_runs.get(ct.key)
            candidates.append(now if next_run is None else next_run)
            earliest = self.store.earliest_end(ct.key)
            if earliest is not None:
                candidates.append(earliest - offset)
        earliest = self.store.earliest_end()
        if earliest is not None:
            candidates.append(earliest + windows.EXPIRED_BUCKET_BUFFER - offset)
        for mt in self._metrics:
            due = metric.next_deadline(self.store, mt, now)
            if due is not None:
                candidates.append(due)
        return min(candidates) if candidates else None

    # -- firings -------------------------------------------------------------------------------------------------
    def _fire(self, firing: Firing) -> None:
        node = self._nodes.get((firing.automation_id, firing.trigger_path))
        parent = node.parent if node else None
        if parent is None:
            self._out.append(firing)
        else:
            composite.on_child_firing(self.store, parent, firing, self._fire)

    def _take(self) -> list[Firing]:
        out, self._out = self._out, []
        return out


def _strip_ids(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _strip_ids(v) for k, v in data.items() if k != "id"}
    if isinstance(data, list):
        return [_strip_ids(v) for v in data]
    return data


def _signature(trigger: Any) -> Any:
    """A trigger's meaning, ignoring its (server-generated) ids."""
    return repr(_strip_ids(trigger.model_dump(mode="json")))


def _node_at(trigger: Any, path: str) -> Any:
    node = trigger
    for part in path.split(".") if path else []:
        node = node.triggers[int(part)]
    return node
