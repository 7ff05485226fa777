"""The evaluator's behaviour, sentence by sentence (semantics §5-8). Time is a FakeClock, never patched."""

from datetime import datetime, timedelta, timezone
from uuid import uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.clock import FakeClock
from tocsin.schemas.events import Event
from tocsin.schemas.triggers import parse_trigger
from tocsin.triggers import Evaluator, InMemoryStateStore

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Harness:
    def __init__(self, trigger: dict, *, deadline_mode: bool = True, store=None):
        self.clock = FakeClock(T0)
        self.ev = Evaluator(store=store, clock=self.clock, deadline_mode=deadline_mode)
        self.automation = uuid4()
        self.ev.load(self.automation, parse_trigger(trigger))
        self.firings = []

    def send(self, seconds, name="e", resource_id="r", *, occurred=None, related=(), id=None, follows=None, **labels):
        wall = at(seconds)
        self.run_until(wall, inclusive=False)
        self.clock.set(wall)
        event = Event(event=name, resource={"prefect.resource.id": resource_id, **labels}, related=list(related),
                      occurred=at(occurred) if occurred is not None else wall, id=id or uuid4(), follows=follows)
        received = event.receive(wall)
        self.firings += self.ev.on_event(received)
        return received

    def run_until(self, wall, inclusive=True):
        while (due := self.ev.next_deadline()) is not None and (due < wall or (inclusive and due == wall)):
            self.clock.set(max(due, self.clock.now()))
            self.firings += self.ev.on_tick()

    def times(self):
        return [(f.triggered - T0).total_seconds() for f in self.firings]


def test_reactive_fires_eagerly_on_the_threshold_th_event():
    h = Harness({"expect": ["e"], "posture": "Reactive", "threshold": 3, "within": 60})
    for s in (0, 10, 20, 30):
        h.send(s)
    assert h.times() == [20]


def test_after_a_firing_events_before_the_old_window_end_are_dropped():
    h = Harness({"expect": ["e"], "posture": "Reactive", "threshold": 1, "within": 60})
    for s in (0, 30, 59, 60, 61):
        h.send(s)
    assert h.times() == [0, 60]


def test_for_each_keeps_a_window_per_key_and_reports_its_labels():
    h = Harness({"expect": ["e"], "posture": "Reactive", "threshold": 2, "within": 60, "for_each": ["prefect.resource.id"]})
    h.send(0, resource_id="a")
    h.send(1, resource_id="b")
    h.send(2, resource_id="a")
    assert h.times() == [2]
    assert h.firings[0].triggering_labels == {"prefect.resource.id": "a"}


def test_immediate_trigger_fires_for_every_event():
    h = Harness({"expect": ["e"], "posture": "Reactive", "threshold": 1})
    for s in range(5):
        h.send(s)
    assert len(h.firings) == 5


def test_unarmed_after_trigger_ignores_expected_events():
    h = Harness({"after": ["start"], "expect": ["e"], "posture": "Reactive", "threshold": 1, "within": 60})
    h.send(0, "e")
    h.send(10, "start")
    h.send(20, "e")
    assert h.times() == [20]


def test_proactive_fires_at_the_window_end_when_too_few_events_came():
    h = Harness({"after": ["start"], "expect": ["done"], "posture": "Proactive", "threshold": 1, "within": 60,
                 "for_each": ["prefect.resource.id"]})
    h.send(0, "start", "a")
    h.send(5, "start", "b")
    h.send(30, "done", "b")
    h.run_until(at(200))
    assert h.times() == [60]
    assert h.firings[0].triggering_labels == {"prefect.resource.id": "a"}
    assert h.firings[0].triggering_event.event == "start"


def test_proactive_judgement_follows_the_events_clock_when_events_arrive_late():
    h = Harness({"after": ["start"], "expect": ["done"], "posture": "Proactive", "threshold": 1, "within": 60})
    # events reach the engine 30 s after they occurred: windows are judged 30 s later in wall time
    h.send(30, "start", occurred=0)
    h.run_until(at(200))
    assert h.firings and h.times()[0] == 90


def test_a_duplicate_event_id_counts_once():
    h = Harness({"expect": ["e"], "posture": "Reactive", "threshold": 2, "within": 60})
    first = h.send(0)
    h.send(1, id=first.id)
    assert h.firings == []
    h.send(2)
    assert h.times() == [2]


def test_a_follower_waits_for_its_leader():
    h = Harness({"expect": ["a", "b"], "posture": "Reactive", "threshold": 1})
    leader_id = uuid4()
    h.send(0, "b", follows=leader_id)
    assert h.firings == []
    h.send(5, "a", id=leader_id)
    assert [f.triggering_event.event for f in h.firings] == ["a", "b"]


def test_a_follower_whose_leader_never_comes_is_released_after_15_minutes():
    h = Harness({"expect": ["b"], "posture": "Reactive", "threshold": 1})
    h.send(0, "b", follows=uuid4())
    h.run_until(at(3600))
    assert h.times() == [900]


def test_compound_all_fires_when_every_child_fired_within_the_window():
    h = Harness({"type": "compound", "require": "all", "within": 60, "triggers": [
        {"expect": ["a"], "posture": "Reactive"}, {"expect": ["b"], "posture": "Reactive"}]})
    h.send(0, "a")
    h.send(100, "b")  # a's record is older than 60 s: dropped
    h.send(120, "a")
    assert h.times() == [120]
    assert len(h.firings[0].triggering_firings) == 2


def test_sequence_needs_the_declared_order():
    h = Harness({"type": "sequence", "within": None, "triggers": [
        {"expect": ["a"], "posture": "Reactive"}, {"expect": ["b"], "posture": "Reactive"}]})
    h.send(0, "b")
    h.send(10, "a")
    assert h.firings == []
    h.send(20, "b")
    assert h.times() == [20]


def test_reloading_an_equal_trigger_keeps_its_windows_and_a_changed_one_resets_them():
    trigger = {"expect": ["e"], "posture": "Reactive", "threshold": 2, "within": 60}
    h = Harness(trigger)
    h.send(0)
    h.ev.load(h.automation, parse_trigger(trigger))  # new ids, same meaning
    h.send(1)
    assert h.times() == [1]
    h.send(100)
    h.ev.load(h.automation, parse_trigger({**trigger, "threshold": 3}))
    h.send(101)
    h.send(102)
    assert h.times() == [1]


def test_state_survives_a_snapshot_and_restore():
    trigger = {"after": ["start"], "expect": ["done"], "posture": "Proactive", "threshold": 1, "within": 60}
    h = Harness(trigger)
    h.send(0, "start")
    restored = Harness(trigger, store=InMemoryStateStore.restore(h.ev.store.snapshot()))
    restored.automation = h.automation
    restored.ev = Evaluator(store=InMemoryStateStore.restore(h.ev.store.snapshot()), clock=restored.clock)
    restored.ev.load(h.automation, parse_trigger(trigger))
    restored.clock.set(at(10))
    restored.run_until(at(100))
    assert restored.times() == [60]


def test_drain_changes_reports_touched_buckets():
    h = Harness({"expect": ["e"], "posture": "Reactive", "threshold": 5, "within": 60})
    h.ev.store.drain_changes()
    h.send(0)
    changes = h.ev.store.drain_changes()
    assert len(changes.buckets) == 1 and changes.clock


def test_events_that_cannot_match_are_not_even_looked_at():
    h = Harness({"expect": ["prefect.flow-run.Failed"], "posture": "Reactive"})
    assert h.ev._index.candidates("prefect.flow-run.Completed") == []
    assert len(h.ev._index.candidates("prefect.flow-run.Failed")) == 1


# -- properties -----------------------------------------------------------------------------------------------

gaps = st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(gaps=gaps, k=st.integers(min_value=1, max_value=4))
def test_an_immediate_trigger_counts_to_k_until_its_bucket_is_swept(gaps, k):
    # within 0: the bucket ends where it starts and lives until housekeeping sweeps it 60 s later
    h = Harness({"expect": ["e"], "posture": "Reactive", "threshold": k})
    t, end, count, expected = 0, None, 0, []
    for g in gaps:
        t += g
        h.send(t)
        if end is not None and t > end + 60:
            end = None
        if end is None:
            end, count = t, 0
        count += 1
        if count >= k:
            expected.append(t)
            end = None
    assert h.times() == expected


@settings(max_examples=60, deadline=None)
@given(gaps=gaps, within=st.integers(min_value=1, max_value=300))
def test_threshold_one_with_a_window_fires_at_most_once_per_tumbling_window(gaps, within):
    h = Harness({"expect": ["e"], "posture": "Reactive", "threshold": 1, "within": within})
    expected, next_start, t = [], None, 0
    for g in gaps:
        t += g
        h.send(t)
        if next_start is None or t >= next_start + within:
            expected.append(t)
            next_start = t + within
        elif t >= next_start:
            expected.append(t)
            next_start += within
    assert h.times() == expected


@settings(max_examples=40, deadline=None)
@given(gaps=st.lists(st.integers(min_value=1, max_value=200), min_size=1, max_size=15),
       within=st.integers(min_value=10, max_value=150))
def test_a_heartbeat_monitor_fires_exactly_when_a_gap_exceeds_the_window(gaps, within):
    h = Harness({"after": ["beat"], "expect": ["beat"], "posture": "Proactive", "threshold": 1, "within": within,
                 "for_each": ["prefect.resource.id"]})
    t, armed, expected = 0, 0, []
    h.send(0, "beat")
    for g in gaps:
        t += g
        if armed is not None and t >= armed + within:
            expected.append(armed + within)
            # a beat exactly at the deadline is judged with the window (events go first) and arms nothing
            armed = None if t == armed + within else t
        else:
            armed = t
        h.send(t, "beat")
    h.run_until(at(t))
    assert h.times() == expected


def test_the_name_gate_is_a_prefix_regex_and_the_test_a_glob_as_in_prefect():
    # "abc" opens the gate of "ab" (prefix match) and passes the glob "a?c": Prefect counts it
    h = Harness({"expect": ["ab", "a?c"], "posture": "Reactive"})
    h.send(0, "abc")
    assert h.times() == [0]
    # alone, "a?c" admits only the literal name, and "[ab]" classes match nothing at all
    h = Harness({"expect": ["a?c", "job.[ab]"], "posture": "Reactive"})
    for name in ("abc", "job.a", "job.[ab]"):
        h.send(1, name)
    h.send(2, "a?c")
    assert h.times() == [2]


def test_deadline_bookkeeping_stays_bounded_while_windows_come_and_go():
    h = Harness({"expect": ["e"], "posture": "Reactive", "threshold": 1, "within": 5,
                 "for_each": ["prefect.resource.id"]})
    for i in range(3000):
        h.send(i, resource_id=f"r{i % 50}")
    store = h.ev.store
    assert len(store._ends) <= 2 * len(store.buckets) + 64
    assert all(len(heap) <= 2 * len(store.buckets_by_trigger.get(key, {})) + 16
               for key, heap in store._ends_by_trigger.items())
    assert store.earliest_end() == min(b.end for b in store.buckets.values())


# --- events passed by: what a server does with the events no trigger looks at ---------------------------------
_PASS_BY_TRIGGERS = [
    {"expect": ["a.*"], "posture": "Reactive", "threshold": 2, "within": 60},
    {"expect": ["b"], "after": ["c"], "for_each": ["prefect.resource.id"], "posture": "Proactive",
     "threshold": 1, "within": 30},
    {"type": "metric", "metric": {"name": "successes", "threshold": 0.5, "operator": "<", "range": 300,
                                  "firing_for": 300}},
]


@st.composite
def _streams(draw):
    """Events with names some triggers see and others none does, ignored names, repeated ids and followers."""
    names = st.sampled_from(["a.1", "b", "c", "x", "y.z", "prefect.log.write", "prefect.flow-run.Completed",
                             "prefect.flow-run.Failed"])
    ids = [uuid4() for _ in range(6)]
    out = []
    for _ in range(draw(st.integers(1, 25))):
        out.append((draw(st.integers(0, 400)),  # seconds since the previous event
                    draw(names), draw(st.sampled_from(ids + [None] * 6)),
                    draw(st.sampled_from(ids + [None] * 12)), draw(st.integers(-120, 5))))
    return out


@settings(max_examples=150, deadline=None)
@given(stream=_streams(), loaded=st.lists(st.sampled_from(range(len(_PASS_BY_TRIGGERS))), max_size=3))
def test_passing_by_the_events_no_trigger_sees_changes_nothing(stream, loaded):
    """`pass_by` for every event that `sees` nothing for and follows nothing, `on_event` for the rest: the same
    firings and the same state as `on_event` for all."""
    clocks = [FakeClock(T0), FakeClock(T0)]
    full, lean = (Evaluator(clock=c) for c in clocks)
    for i in loaded:
        automation, trigger = uuid4(), parse_trigger(_PASS_BY_TRIGGERS[i])
        for ev in (full, lean):
            ev.load(automation, trigger)
    fired = [[], []]
    wall = T0
    for gap, name, event_id, follows, skew in stream:
        wall += timedelta(seconds=gap)
        for clock, ev, out in zip(clocks, (full, lean), fired):
            while (due := ev.next_deadline()) is not None and due <= wall:
                clock.set(max(due, clock.now()))
                out += ev.on_tick()
            clock.set(wall)
        event = Event(event=name, resource={"prefect.resource.id": "prefect.flow-run.1"}, id=event_id or uuid4(),
                      follows=follows, occurred=wall + timedelta(seconds=skew)).receive(wall)
        fired[0] += full.on_event(event)
        if not lean.sees(name) and event.follows is None:
            lean.pass_by(name, event.id, event.occurred, event.received)
        else:
            fired[1] += lean.on_event(event)
    assert [f.to_json() | {"id": None} for f in fired[1]] == [f.to_json() | {"id": None} for f in fired[0]]
    assert lean.store.snapshot() == full.store.snapshot()
    assert lean.store.drain_changes() == full.store.drain_changes()


def test_sees_what_a_trigger_metric_or_parked_follower_could_use():
    ev = Evaluator(clock=FakeClock(T0))
    assert not ev.sees("a.1") and not ev.sees("prefect.flow-run.Completed")
    ev.load(uuid4(), parse_trigger({"expect": ["a.*"], "posture": "Reactive", "threshold": 1}))
    assert ev.sees("a.1") and not ev.sees("b")
    ev.load(uuid4(), parse_trigger(_PASS_BY_TRIGGERS[2]))
    assert ev.sees("prefect.flow-run.Completed") and not ev.sees("b")
    ev.on_event(Event(event="b", resource={"prefect.resource.id": "r"}, follows=uuid4()).receive(T0))
    assert ev.store.parked and ev.sees("b")  # a parked follower may be waiting for any event
