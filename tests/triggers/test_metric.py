"""Metric triggers (successes, duration, lateness), driven through the real Evaluator with a FakeClock."""

from datetime import datetime, timedelta, timezone
from uuid import uuid4

import pytest

from tocsin.clock import FakeClock
from tocsin.schemas.events import Event
from tocsin.schemas.triggers import parse_trigger
from tocsin.triggers import Evaluator, InMemoryStateStore
from tocsin.triggers import metric as metric_mod

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def metric_trigger(name, operator, threshold, range_=3600, firing_for=300, **extra):
    return {
        "type": "metric",
        "match": {"prefect.resource.id": "prefect.flow-run.*"},
        "metric": {"name": name, "operator": operator, "threshold": threshold, "range": range_,
                   "firing_for": firing_for},
        **extra,
    }


class Harness:
    def __init__(self, trigger, *, deadline_mode=True, store=None, automation=None, start=T0):
        self.clock = FakeClock(start)
        self.ev = Evaluator(store=store, clock=self.clock, deadline_mode=deadline_mode)
        self.automation = automation or uuid4()
        self.ev.load(self.automation, parse_trigger(trigger))
        self.firings = []
        self.events = []

    def send(self, seconds, state, run="a", *, occurred=None, related=(), name=None, **labels):
        wall = at(seconds)
        if self.ev.deadline_mode:
            self.run_until(wall, inclusive=False)
        self.clock.set(wall)
        event = Event(
            event=name or f"prefect.flow-run.{state}",
            resource={"prefect.resource.id": f"prefect.flow-run.{run}", **labels},
            related=list(related),
            occurred=at(occurred) if occurred is not None else wall,
            id=uuid4(),
        ).receive(wall)
        self.events.append(event)
        self.firings += self.ev.on_event(event)
        return event

    def run(self, runs):
        """runs: {run: [(seconds, state), ...]}, delivered in time order."""
        for seconds, state, run in sorted((s, st, r) for r, steps in runs.items() for s, st in steps):
            self.send(seconds, state, run)

    def run_until(self, wall, inclusive=True):
        for _ in range(10_000):
            due = self.ev.next_deadline()
            if due is None or due > wall or (due == wall and not inclusive):
                return
            self.clock.set(max(due, self.clock.now()))
            self.firings += self.ev.on_tick()
        raise AssertionError("deadlines do not make progress")

    def tick(self, seconds):
        self.clock.set(at(seconds))
        self.firings += self.ev.on_tick()

    def times(self):
        return [(f.triggered - T0).total_seconds() for f in self.firings]

    def values(self):
        return [f.triggering_value for f in self.firings]


# -- successes -------------------------------------------------------------------------------------------------

def test_successes_fires_when_the_rate_stays_below_threshold_for_firing_for():
    h = Harness(metric_trigger("successes", "<", 0.9))
    h.send(0, "Completed", "a")
    failed = h.send(60, "Failed", "b")
    h.run_until(at(1000))
    assert h.times() == [360]
    assert h.values() == [0.5]
    assert h.firings[0].triggering_event.id == failed.id
    assert h.firings[0].triggering_labels == {}


def test_successes_crashed_is_a_failure_cancelled_is_not():
    h = Harness(metric_trigger("successes", "<=", 0.5))
    h.send(0, "Cancelled", "a")
    h.send(1, "Completed", "b")
    h.run_until(at(1000))
    assert h.firings == []
    h.send(1000, "Crashed", "c")
    h.send(1001, "Crashed", "d")
    h.run_until(at(2000))
    assert h.times() == [1301]
    assert h.values() == [0.5]


def test_successes_counts_a_retried_run_once_with_its_final_state():
    h = Harness(metric_trigger("successes", "<", 1))
    h.send(0, "Running", "a")
    h.send(10, "Failed", "a")  # the breach starts here...
    h.send(20, "Running", "a")  # ...and ends: the run is in flight again, no data
    h.send(30, "Completed", "a")
    h.run_until(at(3000))
    assert h.firings == []


def test_successes_ignores_unfinished_runs_and_non_state_events():
    h = Harness(metric_trigger("successes", "<", 0.9))
    h.send(0, "Pending", "a")
    h.send(1, "Running", "a")
    h.send(2, "heartbeat", "a")
    h.run_until(at(2000))
    assert h.firings == []
    assert h.ev.next_deadline() is None


# -- duration --------------------------------------------------------------------------------------------------

def test_duration_is_the_mean_time_from_running_to_terminal():
    h = Harness(metric_trigger("duration", ">", 150))
    h.run({"a": [(0, "Pending"), (10, "Running"), (110, "Completed")],
           "b": [(20, "Running"), (320, "Failed")]})
    h.run_until(at(2000))
    assert h.times() == [620]  # mean (100 + 300) / 2 = 200 > 150 from t=320
    assert h.values() == [200.0]


def test_duration_uses_the_latest_running_and_ignores_runs_never_seen_running():
    h = Harness(metric_trigger("duration", ">=", 100))
    h.run({"a": [(0, "Running"), (50, "AwaitingRetry"), (100, "Running"), (160, "Completed")],
           "b": [(0, "Pending"), (500, "Completed")]})
    h.run_until(at(2000))
    assert h.firings == []  # a: 60 s (from the second Running); b: no duration


# -- lateness --------------------------------------------------------------------------------------------------

def test_lateness_from_late_to_running():
    h = Harness(metric_trigger("lateness", ">", 300, firing_for=600))
    h.run({"a": [(0, "Scheduled"), (15, "Late"), (100, "Pending"), (415, "Running"), (500, "Completed")]})
    h.run_until(at(1200))
    # Late from 15, its lateness so far passes 300 s just after 315: holding from 316 (whole seconds);
    # Pending does not end it, Running at 415 closes it at 400 s, still above 300
    assert h.times() == [916]
    assert h.values() == [400.0]


def test_lateness_closed_value_is_the_time_spent_late():
    h = Harness(metric_trigger("lateness", ">", 300, firing_for=300))
    h.run({"a": [(0, "Late"), (400, "Running")]})
    h.run_until(at(2000))
    assert h.times() == [601]  # open lateness > 300 from 301, held 300 s
    assert h.values() == [400.0]  # ran at 400: closed lateness 400 s


def test_open_lateness_crossing_is_exact_to_the_second():
    strict = Harness(metric_trigger("lateness", ">", 300, firing_for=300))
    strict.send(0, "Late", "a")
    strict.run_until(at(5000))
    assert strict.times() == [601]
    assert strict.values() == [601.0]
    loose = Harness(metric_trigger("lateness", ">=", 300, firing_for=300))
    loose.send(0, "Late", "a")
    loose.run_until(at(5000))
    assert loose.times() == [600]


def test_lateness_only_counts_runs_marked_late_and_drops_cancelled_ones():
    h = Harness(metric_trigger("lateness", ">", 10, firing_for=300))
    h.run({"a": [(0, "Scheduled"), (500, "Pending"), (600, "Running")],  # never Late
           "b": [(0, "Late"), (5, "Cancelled")]})
    h.run_until(at(3000))
    assert h.firings == []


def test_lateness_below_threshold_stops_holding_as_the_open_run_ages():
    h = Harness(metric_trigger("lateness", "<", 400, firing_for=300))
    h.send(0, "Late", "a")
    h.run_until(at(1000))
    assert h.times() == [300]  # holds from 0; value 300 at 300
    h2 = Harness(metric_trigger("lateness", "<", 200, firing_for=300))
    h2.send(0, "Late", "a")
    h2.run_until(at(1000))
    assert h2.firings == []  # stops holding at 200


# -- holding, re-arming, no data -------------------------------------------------------------------------------

def test_a_breach_shorter_than_firing_for_does_not_fire():
    h = Harness(metric_trigger("successes", "<", 0.9))
    h.send(0, "Failed", "a")
    for i in range(9):
        h.send(100, "Completed", f"ok{i}")  # 9/10 = 0.9: no longer < 0.9
    h.run_until(at(3000))
    assert h.firings == []


def test_fires_once_per_breach_and_re_arms_after_recovery():
    h = Harness(metric_trigger("successes", "<", 0.9, range_=600))
    h.send(0, "Failed", "a")
    h.run_until(at(590))
    assert h.times() == [300]
    h.send(590, "Completed", "b")  # 0.5: still breached, no second firing
    h.run_until(at(600))
    assert h.times() == [300]
    for i in range(20):
        h.send(605, "Completed", f"ok{i}")  # recovered
    h.send(700, "Failed", "c")  # a left the range at 600: 21/22 ok, no breach
    h.send(800, "Failed", "d")  # 21/23 = 0.913
    h.send(801, "Failed", "e")  # 21/24 = 0.875 < 0.9: a new breach from 801
    h.run_until(at(1200))
    assert h.times() == [300, 1101]


def test_no_data_in_range_ends_a_breach_and_never_fires():
    h = Harness(metric_trigger("successes", "<", 0.9, range_=300, firing_for=600))
    h.send(0, "Failed", "a")  # breach from 0, but the sample leaves the range at 300
    h.run_until(at(2000))
    assert h.firings == []
    assert h.ev.store.metrics == {}  # and nothing is remembered
    assert h.ev.next_deadline() is None


def test_samples_are_pruned_after_range():
    h = Harness(metric_trigger("duration", ">", 10_000, range_=300))
    for i in range(50):
        h.send(i, "Running", f"r{i}")
        h.send(i + 0.5, "Completed", f"r{i}")
    (state,) = h.ev.store.metrics.values()
    assert len(state.samples) == 50
    h.run_until(at(330))
    (state,) = h.ev.store.metrics.values()
    assert len(state.samples) == 20 and len(state.heap) == 20  # those finished after 30 s remain


def test_periodic_mode_judges_only_at_ticks():
    h = Harness(metric_trigger("successes", "<", 0.9), deadline_mode=False)
    h.send(7, "Failed", "a")
    h.tick(60)  # holding since 60
    h.tick(300)
    h.tick(360)
    assert h.times() == [360]


def test_periodic_mode_no_ticks_no_firing():
    h = Harness(metric_trigger("successes", "<", 0.9), deadline_mode=False)
    h.send(0, "Failed", "a")
    h.send(1000, "Failed", "b")
    assert h.firings == []


# -- inputs ----------------------------------------------------------------------------------------------------

def test_state_type_label_takes_precedence_over_the_event_name():
    h = Harness(metric_trigger("successes", "<", 0.9))
    h.send(0, "MyOwnState", "a", **{"prefect.state-type": "FAILED", "prefect.state-name": "MyOwnState"})
    h.run_until(at(400))
    assert h.times() == [300]


def test_an_older_state_event_of_a_run_is_ignored():
    h = Harness(metric_trigger("successes", "<", 0.9))
    h.send(0, "Completed", "a", occurred=100)
    h.send(1, "Failed", "a", occurred=50)  # older than the Completed already seen
    h.run_until(at(1000))
    assert h.firings == []


def test_match_related_filters_runs():
    prod = {"prefect.resource.id": "prefect.tag.production", "prefect.resource.role": "tag"}
    dev = {"prefect.resource.id": "prefect.tag.dev", "prefect.resource.role": "tag"}
    h = Harness(metric_trigger("successes", "<", 0.9, match_related=prod))
    h.send(0, "Failed", "a", related=[dev])
    h.send(1, "Completed", "b", related=[prod])
    h.run_until(at(1000))
    assert h.firings == []
    h.send(1000, "Failed", "c", related=[prod])
    h.run_until(at(2000))
    assert h.times() == [1300]


def test_non_flow_run_resources_are_ignored():
    h = Harness({**metric_trigger("successes", "<", 0.9), "match": {}})
    h.clock.set(at(0))
    event = Event(event="prefect.flow-run.Failed", resource={"prefect.resource.id": "something.else"},
                  occurred=at(0), id=uuid4()).receive(at(0))
    h.ev.on_event(event)
    assert h.ev.store.metrics == {}


def test_metric_child_of_a_compound_trigger_fires_the_parent():
    h = Harness({"type": "compound", "require": "any", "within": None,
                 "triggers": [metric_trigger("successes", "<", 0.9)]})
    h.send(0, "Failed", "a")
    h.run_until(at(400))
    assert h.times() == [300]
    assert h.firings[0].triggering_firings[0].triggering_value == 0.0


# -- state store -----------------------------------------------------------------------------------------------

def test_snapshot_and_restore_mid_breach_keeps_the_deadline():
    h = Harness(metric_trigger("lateness", ">", 300))
    h.send(0, "Late", "a")
    h.send(10, "Late", "b")
    h.send(20, "Running", "b")
    h.run_until(at(100))
    snap = h.ev.store.snapshot()
    restored = InMemoryStateStore.restore(snap)
    assert restored.snapshot() == snap
    h2 = Harness(metric_trigger("lateness", ">", 300), store=restored, automation=h.automation, start=at(100))
    h.run_until(at(2000))
    h2.run_until(at(2000))
    # mean of b's 10 s and a's open t s passes 300 just after t = 590: holding from 591, fires at 891
    assert h.times() == h2.times() == [891]
    assert h.values() == h2.values() == [450.5]


def test_changes_name_metric_states_and_forget_automation_drops_them():
    h = Harness(metric_trigger("successes", "<", 0.9))
    h.ev.store.drain_changes()
    h.send(0, "Failed", "a")
    changes = h.ev.store.drain_changes()
    key = (h.automation, "")
    assert changes.metrics == {key} and changes
    h.ev.unload(h.automation)
    assert h.ev.store.metrics == {}
    assert h.ev.store.drain_changes().metrics == {key}


def test_in_flight_runs_are_bounded(monkeypatch):
    monkeypatch.setattr(metric_mod, "MAX_RUNS_IN_FLIGHT", 5)
    h = Harness(metric_trigger("duration", ">", 1))
    for i in range(20):
        h.send(i, "Running", f"r{i}")
    (state,) = h.ev.store.metrics.values()
    assert list(state.runs) == [f"prefect.flow-run.r{i}" for i in range(15, 20)]


def test_in_flight_runs_are_forgotten_after_retention():
    h = Harness(metric_trigger("duration", ">", 1))
    h.send(0, "Running", "a")
    h.clock.set(at(8 * 86400))
    h.ev.on_tick()
    assert h.ev.store.metrics == {}


@pytest.mark.parametrize("operator,threshold,expected", [("<", 0.5, []), ("<=", 0.5, [300]), (">", 0.4, [300]),
                                                          (">=", 0.6, [])])
def test_operators(operator, threshold, expected):
    h = Harness(metric_trigger("successes", operator, threshold))
    h.send(0, "Failed", "a")
    h.send(0, "Completed", "b")
    h.run_until(at(400))
    assert h.times() == expected


def test_events_that_change_nothing_leave_no_state():
    h = Harness(metric_trigger("lateness", ">", 300))
    h.ev.store.drain_changes()
    h.send(0, "Scheduled", "a")
    h.send(1, "Pending", "a")
    assert h.ev.store.metrics == {}
    assert not h.ev.store.drain_changes().metrics
