"""Evaluator state behind one small interface, kept in memory and journaled.

Everything the evaluator remembers between calls lives here: event-trigger buckets (windows), composite
child firings, events parked until their `follows` leader arrives, the ids already seen, the events clock and
the proactive service's next runs. A server persists `drain_changes()` in the same transaction as the events
that caused them and restores with `InMemoryStateStore.restore(snapshot)` after a restart. The ids seen are not
journaled: a server knows them from its position in the event stream (see tocsin.store.evaluation).
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from tocsin.schemas.events import ReceivedEvent
from tocsin.triggers.firing import Firing

TriggerKey = tuple[UUID, str]  # (automation id, trigger path within the automation's trigger tree)
BucketKey = tuple[UUID, str, tuple[str, ...]]


@dataclass
class Bucket:
    """One open window of an event trigger for one `for_each` key: [start, end), `count` events so far."""

    automation_id: UUID
    trigger_path: str
    key: tuple[str, ...]
    start: datetime
    end: datetime
    count: int
    last_event: ReceivedEvent | None = None

    def __post_init__(self) -> None:
        self.ident: BucketKey = (self.automation_id, self.trigger_path, self.key)

    def to_json(self) -> dict[str, Any]:
        return {
            "automation_id": str(self.automation_id),
            "trigger_path": self.trigger_path,
            "key": list(self.key),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "count": self.count,
            "last_event": self.last_event.model_dump(mode="json") if self.last_event else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Bucket:
        last = data.get("last_event")
        return cls(
            automation_id=UUID(data["automation_id"]),
            trigger_path=data["trigger_path"],
            key=tuple(data["key"]),
            start=datetime.fromisoformat(data["start"]),
            end=datetime.fromisoformat(data["end"]),
            count=int(data["count"]),
            last_event=ReceivedEvent.model_validate(last) if last else None,
        )


@dataclass
class Changes:
    """What changed since the last `drain_changes()`; each set holds keys, read current values from the store.
    (Not the ids seen: they follow from which events were evaluated.)"""

    buckets: set[BucketKey] = field(default_factory=set)  # upserted or deleted (absent from store = deleted)
    child_firings: set[tuple[TriggerKey, str]] = field(default_factory=set)  # (parent, child path)
    parked: set[UUID] = field(default_factory=set)
    clock: bool = False
    next_runs: set[TriggerKey] = field(default_factory=set)
    metrics: set[TriggerKey] = field(default_factory=set)  # metric trigger states upserted or deleted

    def __bool__(self) -> bool:
        return bool(self.buckets or self.child_firings or self.parked or self.clock or self.next_runs
                    or self.metrics)


# -- metric ------------------------------------------------------------------------------------------------------
# State of one metric trigger (tocsin.triggers.metric holds the logic). Times are integer microseconds since the
# Unix epoch and sample values integers (0/1 for successes, microseconds for duration and lateness), so sums are
# exact and a snapshot restores bit for bit.


@dataclass
class RunTrack:
    """A flow run still in flight for a duration/lateness trigger: when its latest state began, when it last
    entered Running, when it became Late (None when not applicable)."""

    last_us: int
    running_us: int | None = None
    late_us: int | None = None


@dataclass
class MetricState:
    automation_id: UUID
    trigger_path: str
    samples: dict[str, tuple[int, int]] = field(default_factory=dict)  # flow-run id -> (time, value)
    heap: list[tuple[int, str]] = field(default_factory=list)  # (time, run) min-heap; stale entries dropped lazily
    runs: dict[str, RunTrack] = field(default_factory=dict)  # in-flight runs, least recently updated first
    total: int = 0  # sum of sample values
    open_late: int = 0  # runs currently Late (lateness only)...
    open_late_since: int = 0  # ...and the sum of their `late_us`
    holding_since: datetime | None = None  # first judgement of the current breach
    fired: bool = False  # the current breach has fired (re-armed when the condition stops holding)
    dirty: bool = False  # observed since the last judgement
    last_evaluated: datetime | None = None
    next_sweep: datetime | None = None  # next forgetting of stale in-flight runs
    last_event: ReceivedEvent | None = None  # the event that last contributed...
    last_event_run: str | None = None  # ...and its flow run

    @property
    def key(self) -> TriggerKey:
        return (self.automation_id, self.trigger_path)

    def put_sample(self, run: str, when_us: int, value: int) -> None:
        self.drop_sample(run)
        self.samples[run] = (when_us, value)
        self.total += value
        heapq.heappush(self.heap, (when_us, run))

    def drop_sample(self, run: str) -> None:
        old = self.samples.pop(run, None)
        if old is not None:
            self.total -= old[1]

    def expire_samples(self, horizon_us: int) -> None:
        """Drop samples taken at or before `horizon_us`."""
        heap = self.heap
        while heap and heap[0][0] <= horizon_us:
            when_us, run = heapq.heappop(heap)
            current = self.samples.get(run)
            if current is not None and current[0] == when_us:
                self.drop_sample(run)

    def put_run(self, run: str, track: RunTrack) -> None:
        self.drop_run(run)
        self.runs[run] = track
        if track.late_us is not None:
            self.open_late += 1
            self.open_late_since += track.late_us

    def drop_run(self, run: str) -> RunTrack | None:
        track = self.runs.pop(run, None)
        if track is not None and track.late_us is not None:
            self.open_late -= 1
            self.open_late_since -= track.late_us
        return track

    def is_empty(self) -> bool:
        return not self.samples and not self.runs and self.holding_since is None and not self.dirty

    def to_json(self) -> dict[str, Any]:
        return {
            "automation_id": str(self.automation_id),
            "trigger_path": self.trigger_path,
            "samples": [[run, t, v] for run, (t, v) in self.samples.items()],
            "runs": [[run, r.last_us, r.running_us, r.late_us] for run, r in self.runs.items()],
            "holding_since": self.holding_since.isoformat() if self.holding_since else None,
            "fired": self.fired,
            "dirty": self.dirty,
            "last_evaluated": self.last_evaluated.isoformat() if self.last_evaluated else None,
            "next_sweep": self.next_sweep.isoformat() if self.next_sweep else None,
            "last_event": self.last_event.model_dump(mode="json") if self.last_event else None,
            "last_event_run": self.last_event_run,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MetricState:
        def when(name: str) -> datetime | None:
            return datetime.fromisoformat(data[name]) if data.get(name) else None

        state = cls(UUID(data["automation_id"]), data["trigger_path"])
        for run, t, v in data.get("samples", []):
            state.put_sample(run, int(t), int(v))
        for run, last_us, running_us, late_us in data.get("runs", []):
            state.put_run(run, RunTrack(int(last_us), running_us, late_us))
        state.holding_since = when("holding_since")
        state.fired = bool(data.get("fired"))
        state.dirty = bool(data.get("dirty"))
        state.last_evaluated = when("last_evaluated")
        state.next_sweep = when("next_sweep")
        last = data.get("last_event")
        state.last_event = ReceivedEvent.model_validate(last) if last else None
        state.last_event_run = data.get("last_event_run")
        return state


# -- end metric --------------------------------------------------------------------------------------------------

SEEN_MEMORY_SECONDS = 30 * 60  # Prefect keeps processed ids for 30 minutes...
SEEN_MEMORY_SIZE = 10_000  # ...and at most this many


class InMemoryStateStore:
    """The evaluator's whole memory; plain dicts, no I/O."""

    def __init__(self) -> None:
        self.buckets: dict[BucketKey, Bucket] = {}
        self.buckets_by_trigger: dict[TriggerKey, dict[tuple[str, ...], Bucket]] = {}
        # lazy min-heaps of (end, n, bucket), so deadlines are found without scanning every window; an entry is
        # live while that very bucket object is still stored (windows are replaced, never moved in place)
        self._ends: list[tuple[datetime, int, Bucket]] = []
        self._ends_by_trigger: dict[TriggerKey, list[tuple[datetime, int, Bucket]]] = {}
        self._pushed = 0
        self.child_firings: dict[TriggerKey, dict[str, Firing]] = {}
        self.parked: dict[UUID, ReceivedEvent] = {}
        # oldest first; an OrderedDict because popping a plain dict's oldest key gets slower as deletions pile up
        self.seen: OrderedDict[UUID, datetime] = OrderedDict()
        self.events_clock: datetime | None = None
        self.events_clock_updated: datetime | None = None
        self.next_runs: dict[TriggerKey, datetime] = {}
        self.metrics: dict[TriggerKey, MetricState] = {}  # metric
        self._changes = Changes()

    # -- buckets ------------------------------------------------------------------------------------------------
    def get_bucket(self, trigger: TriggerKey, key: tuple[str, ...]) -> Bucket | None:
        return self.buckets.get((trigger[0], trigger[1], key))

    def put_bucket(self, bucket: Bucket) -> None:
        ident = bucket.ident
        if self.buckets.get(ident) is not bucket:  # a bucket changed in place only needs journaling
            self.buckets[ident] = bucket
            trigger = (bucket.automation_id, bucket.trigger_path)
            self.buckets_by_trigger.setdefault(trigger, {})[bucket.key] = bucket
            self._pushed += 1
            entry = (bucket.end, self._pushed, bucket)
            heapq.heappush(self._ends, entry)
            per_trigger = self._ends_by_trigger.setdefault(trigger, [])
            heapq.heappush(per_trigger, entry)
            # stale entries leave only from the top: rebuild a heap once it is mostly dead weight
            if len(self._ends) > 2 * len(self.buckets) + 64:
                self._ends = self._live_entries(self._ends)
            if len(per_trigger) > 2 * len(self.buckets_by_trigger[trigger]) + 16:
                self._ends_by_trigger[trigger] = self._live_entries(per_trigger)
        self._changes.buckets.add(ident)

    def delete_bucket(self, bucket: Bucket) -> None:
        ident = bucket.ident
        if self.buckets.pop(ident, None) is not None:
            per = self.buckets_by_trigger.get((bucket.automation_id, bucket.trigger_path))
            if per is not None:
                per.pop(bucket.key, None)
                if not per:
                    del self.buckets_by_trigger[(bucket.automation_id, bucket.trigger_path)]
            self._changes.buckets.add(ident)

    def _live_entries(self, heap: list[tuple[datetime, int, Bucket]]) -> list[tuple[datetime, int, Bucket]]:
        live = [entry for entry in heap if self.buckets.get(entry[2].ident) is entry[2]]
        heapq.heapify(live)
        return live

    def _live_top(self, heap: list[tuple[datetime, int, Bucket]]) -> Bucket | None:
        while heap:
            bucket = heap[0][2]
            if self.buckets.get(bucket.ident) is bucket:
                return bucket
            heapq.heappop(heap)
        return None

    def earliest_end(self, trigger: TriggerKey | None = None) -> datetime | None:
        """The earliest end of any open window (of one trigger, if given)."""
        if trigger is None:
            top = self._live_top(self._ends)
        else:
            heap = self._ends_by_trigger.get(trigger)
            top = self._live_top(heap) if heap is not None else None
            if heap is not None and not heap:
                del self._ends_by_trigger[trigger]
        return top.end if top is not None else None

    def ended_by(self, horizon: datetime) -> list[Bucket]:
        """Every open window that ended at or before `horizon` (for the sweep)."""
        found = []
        while (top := self._live_top(self._ends)) is not None and top.end <= horizon:
            found.append(heapq.heappop(self._ends)[2])
        return found

    def buckets_for(self, trigger: TriggerKey) -> list[Bucket]:
        return sorted(self.buckets_by_trigger.get(trigger, {}).values(), key=lambda b: b.start)

    # -- composite child firings -----------------------------------------------------------------------------------
    def child_records(self, parent: TriggerKey) -> dict[str, Firing]:
        return self.child_firings.get(parent, {})

    def put_child_firing(self, parent: TriggerKey, firing: Firing) -> None:
        self.child_firings.setdefault(parent, {})[firing.trigger_path] = firing
        self._changes.child_firings.add((parent, firing.trigger_path))

    def delete_child_firing(self, parent: TriggerKey, child_path: str) -> None:
        records = self.child_firings.get(parent)
        if records and records.pop(child_path, None) is not None:
            if not records:
                del self.child_firings[parent]
            self._changes.child_firings.add((parent, child_path))

    # -- ordering --------------------------------------------------------------------------------------------------
    def has_seen(self, event_id: UUID, now: datetime) -> bool:
        seen_at = self.seen.get(event_id)
        return seen_at is not None and (now - seen_at).total_seconds() < SEEN_MEMORY_SECONDS

    def mark_seen(self, event_id: UUID, now: datetime) -> None:
        seen = self.seen
        seen[event_id] = now
        seen.move_to_end(event_id)  # a re-seen id becomes young again
        while len(seen) > SEEN_MEMORY_SIZE:
            seen.popitem(last=False)

    def see(self, event_id: UUID, now: datetime) -> bool:
        """`mark_seen` unless `has_seen`, in one look-up: True when the id was new (the events an evaluator
        only passes by take this path, one per event)."""
        seen = self.seen
        seen_at = seen.get(event_id)
        if seen_at is not None:
            if (now - seen_at).total_seconds() < SEEN_MEMORY_SECONDS:
                return False
            del seen[event_id]  # re-seen: young again, at the end
        seen[event_id] = now
        while len(seen) > SEEN_MEMORY_SIZE:
            seen.popitem(last=False)
        return True

    def forget_seen_before(self, horizon: datetime) -> None:
        seen = self.seen
        while seen:
            if next(iter(seen.values())) >= horizon:
                break
            seen.popitem(last=False)

    def park(self, event: ReceivedEvent) -> None:
        self.parked[event.id] = event
        self._changes.parked.add(event.id)

    def unpark(self, event_id: UUID) -> None:
        if self.parked.pop(event_id, None) is not None:
            self._changes.parked.add(event_id)

    def followers_of(self, leader: UUID) -> list[ReceivedEvent]:
        return sorted((e for e in self.parked.values() if e.follows == leader), key=lambda e: e.occurred)

    # -- clocks ----------------------------------------------------------------------------------------------------
    def set_events_clock(self, clock: datetime, updated: datetime) -> None:
        self.events_clock, self.events_clock_updated = clock, updated
        self._changes.clock = True

    def set_next_run(self, trigger: TriggerKey, when: datetime | None) -> None:
        if when is None:
            if self.next_runs.pop(trigger, None) is None:
                return
        else:
            self.next_runs[trigger] = when
        self._changes.next_runs.add(trigger)

    # -- metric ----------------------------------------------------------------------------------------------------
    def metric_state(self, trigger: TriggerKey) -> MetricState | None:
        return self.metrics.get(trigger)

    def put_metric_state(self, state: MetricState) -> None:
        """Store (or mark as changed after mutating in place) a metric trigger's state."""
        self.metrics[state.key] = state
        self._changes.metrics.add(state.key)

    def delete_metric_state(self, trigger: TriggerKey) -> None:
        if self.metrics.pop(trigger, None) is not None:
            self._changes.metrics.add(trigger)

    # -- end metric ------------------------------------------------------------------------------------------------

    # -- whole automations -----------------------------------------------------------------------------------------
    def forget_automation(self, automation_id: UUID) -> None:
        for bucket in [b for b in self.buckets.values() if b.automation_id == automation_id]:
            self.delete_bucket(bucket)
        for parent in [p for p in self.child_firings if p[0] == automation_id]:
            for child in list(self.child_firings[parent]):
                self.delete_child_firing(parent, child)
        for trigger in [t for t in self.next_runs if t[0] == automation_id]:
            self.set_next_run(trigger, None)
        for trigger in [t for t in self.metrics if t[0] == automation_id]:  # metric
            self.delete_metric_state(trigger)

    # -- persistence -----------------------------------------------------------------------------------------------
    def drain_changes(self) -> Changes:
        changes, self._changes = self._changes, Changes()
        return changes

    def snapshot(self) -> dict[str, Any]:
        return {
            "buckets": [b.to_json() for b in self.buckets.values()],
            "child_firings": [
                {"automation_id": str(p[0]), "parent_path": p[1], "firing": f.to_json()}
                for p, records in self.child_firings.items()
                for f in records.values()
            ],
            "parked": [e.model_dump(mode="json") for e in self.parked.values()],
            "seen": [[str(i), t.isoformat()] for i, t in self.seen.items()],
            "events_clock": self.events_clock.isoformat() if self.events_clock else None,
            "events_clock_updated": self.events_clock_updated.isoformat() if self.events_clock_updated else None,
            "next_runs": [[str(t[0]), t[1], when.isoformat()] for t, when in self.next_runs.items()],
            "metrics": [m.to_json() for m in self.metrics.values()],  # metric
        }

    @classmethod
    def restore(cls, data: dict[str, Any]) -> InMemoryStateStore:
        store = cls()
        for b in data.get("buckets", []):
            store.put_bucket(Bucket.from_json(b))
        for rec in data.get("child_firings", []):
            store.put_child_firing((UUID(rec["automation_id"]), rec["parent_path"]), Firing.from_json(rec["firing"]))
        for e in data.get("parked", []):
            store.park(ReceivedEvent.model_validate(e))
        for i, t in data.get("seen", []):
            store.seen[UUID(i)] = datetime.fromisoformat(t)
        if data.get("events_clock"):
            store.events_clock = datetime.fromisoformat(data["events_clock"])
            store.events_clock_updated = datetime.fromisoformat(data["events_clock_updated"])
        for a, path, when in data.get("next_runs", []):
            store.next_runs[(UUID(a), path)] = datetime.fromisoformat(when)
        for m in data.get("metrics", []):  # metric
            store.put_metric_state(MetricState.from_json(m))
        store.drain_changes()
        return store
