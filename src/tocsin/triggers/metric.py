"""Metric triggers (Prefect Cloud): successes, duration and lateness of flow runs, judged against a threshold.

Prefect documents the three metrics in prose only (seed 002, "Metric triggers"); this is our reading of it.

Inputs. Flow-run state events: the event name is `prefect.flow-run.<State name>` and the primary resource is
`prefect.flow-run.<uuid>`, which identifies the run. The state type comes from the `prefect.state-type` label
when present, otherwise from the state name (Completed/Cached -> COMPLETED, Failed/TimedOut -> FAILED, Late and
AwaitingRetry -> SCHEDULED, Retrying -> RUNNING, ...); the state name from the event name (or the
`prefect.state-name` label). Events of unknown states (e.g. `prefect.flow-run.heartbeat`) are ignored. The docs
say metrics "use the `occurred` times of those events", so a state starts at its event's `occurred` (Prefect
stamps `occurred` with the state's timestamp, the same instant as the `prefect.state-timestamp` label). A state
event older than the latest one already seen for its run is ignored.

Terminal states: COMPLETED, FAILED, CRASHED, CANCELLED. Each run contributes at most one sample per trigger, and
a later state of the same run replaces it, so retries count once with their final outcome.

- successes: the fraction (0..1) of runs that finished (reached a terminal state) in the trailing `range` whose
  final state is not a failure. Following the docs, a failure is FAILED or CRASHED; a Cancelled run is not a
  failure (it counts as a success). A finished run that goes back to a non-terminal state (a retry) leaves the
  sample until it finishes again. The docs call it "the number of flow runs"; the example (`threshold 0.9`,
  "success rate below 90%") shows it is a rate, which is what we compute.
- duration: the mean, in seconds, over runs that finished in `range`, of the time from the run's latest entry
  into RUNNING to its terminal event. A run finishing without a Running event seen has no duration.
- lateness: the mean, in seconds, over runs that the system marked `Late`, of the time from the `Late` event to
  the run's next Running or Crashed event (Pending in between does not end it; any other state, e.g. Cancelled or
  re-Scheduled, drops the run). Runs whose lateness ended in `range` count with that lateness; runs still Late
  when the metric is judged count with their lateness so far (deliberate: otherwise a stuck work pool, where no
  run ever starts, would be "no data" and never alert). Lateness therefore grows between events; in deadline mode
  the judgement at which the condition flips is computed exactly and rounded to the next whole second.

Judging. The metric is judged on the evaluator's wall clock over (wall - range, wall]: on every `on_tick` in
periodic mode, and in deadline mode at every change of the value (an observed event, a sample leaving the range,
an open lateness crossing the threshold) and when a breach has held for `firing_for`. The condition is
`value <operator> threshold`. It starts holding at the first judgement that finds it true and the trigger fires
at the first judgement at least `firing_for` later, once per breach: it re-arms only after a judgement finds the
condition false. With no data in range the condition does not hold (no firing, and an ongoing breach ends).
The firing carries `triggering_value` (the metric value, a float) and `triggering_event`: the event that last
contributed a sample still in range, else None.

Memory. Samples leave at `range`; in-flight runs (Running or Late, never finished) are forgotten
IN_FLIGHT_RETENTION after their latest state, and at most MAX_RUNS_IN_FLIGHT are tracked per trigger.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from typing import Any

from tocsin.schemas.events import ReceivedEvent
from tocsin.schemas.triggers import MetricName
from tocsin.triggers.firing import Firing
from tocsin.triggers.state import InMemoryStateStore, MetricState, RunTrack

Fire = Callable[[Firing], None]

FLOW_RUN_EVENT = "prefect.flow-run."
FLOW_RUN_RESOURCE = "prefect.flow-run."
IN_FLIGHT_RETENTION = timedelta(days=7)
SWEEP_EVERY = timedelta(hours=1)
MAX_RUNS_IN_FLIGHT = 50_000
TERMINAL = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})
FAILURES = frozenset({"FAILED", "CRASHED"})
STATE_TYPES = {  # Prefect's standard state names and their types
    "Scheduled": "SCHEDULED", "Late": "SCHEDULED", "AwaitingRetry": "SCHEDULED",
    "AwaitingConcurrencySlot": "SCHEDULED", "Pending": "PENDING", "Running": "RUNNING", "Retrying": "RUNNING",
    "Completed": "COMPLETED", "Cached": "COMPLETED", "RolledBack": "COMPLETED", "Failed": "FAILED",
    "TimedOut": "FAILED", "Crashed": "CRASHED", "Cancelled": "CANCELLED", "Cancelling": "CANCELLING",
    "Paused": "PAUSED", "Suspended": "PAUSED",
}

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
_SECOND_US = 1_000_000


def _to_us(when: datetime) -> int:
    return (when - _EPOCH) // _US


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def is_metric_event(event: ReceivedEvent) -> bool:
    return event.event.startswith(FLOW_RUN_EVENT)


def _state_of(event: ReceivedEvent) -> tuple[str, str] | None:
    """(state name, state type) of a flow-run state event, or None for other flow-run events."""
    labels = event.resource
    name = labels.get("prefect.state-name") or event.event[len(FLOW_RUN_EVENT):]
    state_type = labels.get("prefect.state-type") or STATE_TYPES.get(name)
    if not state_type:
        return None
    return name, state_type.upper()


# -- observing -----------------------------------------------------------------------------------------------------

def observe(store: InMemoryStateStore, mt: Any, event: ReceivedEvent) -> None:
    """A flow-run event covered by the trigger: update the run's sample or in-flight record."""
    run = event.resource.get("prefect.resource.id", "")
    if not run.startswith(FLOW_RUN_RESOURCE):
        return
    state = _state_of(event)
    if state is None:
        return
    name, state_type = state
    st = store.metric_state(mt.key)
    created = st is None
    if st is None:
        st = MetricState(mt.automation_id, mt.path)
    when = _to_us(event.occurred)
    latest = _latest_us(st, run)
    if latest is not None and when < latest:
        return  # an older state of this run than one already seen
    metric = mt.trigger.metric.name
    contributed = False
    if metric == MetricName.successes:
        if state_type in TERMINAL:
            st.put_sample(run, when, 0 if state_type in FAILURES else 1)
            contributed = True
        else:
            st.drop_sample(run)  # in flight again (a retry): its earlier outcome is not final
    elif metric == MetricName.duration:
        track = st.drop_run(run) or RunTrack(when)
        track.last_us = when
        if state_type in TERMINAL:
            if track.running_us is not None:
                st.put_sample(run, when, when - track.running_us)
                contributed = True
            else:
                st.drop_sample(run)
        else:
            st.drop_sample(run)
            if state_type == "RUNNING":
                track.running_us = when
            st.put_run(run, track)
    else:  # lateness
        track = st.drop_run(run) or RunTrack(when)
        track.last_us = when
        if name == "Late":
            st.drop_sample(run)
            track.late_us = when
            st.put_run(run, track)
            contributed = True
        elif track.late_us is not None and state_type in ("RUNNING", "CRASHED"):
            st.put_sample(run, when, when - track.late_us)
            contributed = True
        elif track.late_us is not None and state_type == "PENDING":
            st.put_run(run, track)  # still waiting to run
        # any other state ends the run's lateness without a sample (the run is forgotten)
    if created and not st.samples and not st.runs:
        return  # nothing to remember (e.g. a run never Late, for a lateness trigger)
    if contributed:
        st.last_event, st.last_event_run = event, run
    while len(st.runs) > MAX_RUNS_IN_FLIGHT:
        st.drop_run(next(iter(st.runs)))
    st.dirty = True
    store.put_metric_state(st)


def _latest_us(st: MetricState, run: str) -> int | None:
    track = st.runs.get(run)
    sample = st.samples.get(run)
    times = [t for t in (track.last_us if track else None, sample[0] if sample else None) if t is not None]
    return max(times) if times else None


# -- judging -------------------------------------------------------------------------------------------------------

def _value(st: MetricState, metric: MetricName, now_us: int) -> Fraction | None:
    """The metric at `now_us` (seconds for duration and lateness), exact; None without data."""
    count = len(st.samples)
    if metric == MetricName.lateness:
        count += st.open_late
        if not count:
            return None
        total = st.total + st.open_late * now_us - st.open_late_since
        return Fraction(total, count * _SECOND_US)
    if not count:
        return None
    if metric == MetricName.successes:
        return Fraction(st.total, count)
    return Fraction(st.total, count * _SECOND_US)


def _threshold(query: Any) -> Fraction:
    """The threshold as written (0.9 is 9/10, not the binary float just above it)."""
    return Fraction(repr(float(query.threshold)))


def _holds(query: Any, value: Fraction) -> bool:
    """`value <operator> threshold`, exactly (as MetricQuery.compare, without float rounding)."""
    threshold = _threshold(query)
    op = query.operator
    if op == "<":
        return value < threshold
    if op == "<=":
        return value <= threshold
    if op == ">":
        return value > threshold
    return value >= threshold


def evaluate(store: InMemoryStateStore, mt: Any, wall: datetime, fire: Fire) -> None:
    """Judge the trigger at wall time `wall`; fire when a breach has held for `firing_for`."""
    st = store.metric_state(mt.key)
    if st is None:
        return
    query = mt.trigger.metric
    before = (len(st.samples), len(st.runs), st.holding_since, st.fired, st.dirty)
    now_us = _to_us(wall)
    st.expire_samples(now_us - query.range // _US)
    if st.runs and (st.next_sweep is None or wall >= st.next_sweep):
        horizon = now_us - max(query.range, IN_FLIGHT_RETENTION) // _US
        for run in [r for r, track in st.runs.items() if track.last_us <= horizon]:
            st.drop_run(run)
        st.next_sweep = wall + SWEEP_EVERY
    value = _value(st, query.name, now_us)
    if value is not None and _holds(query, value):
        if st.holding_since is None:
            st.holding_since = wall
        if not st.fired and wall - st.holding_since >= query.firing_for:
            st.fired = True
            contributor = st.last_event_run
            still_in = contributor is not None and (contributor in st.samples or contributor in st.runs)
            fire(Firing(
                automation_id=mt.automation_id,
                trigger_path=mt.path,
                trigger=mt.trigger,
                triggered=wall,
                triggering_event=st.last_event if still_in else None,
                triggering_value=float(value),
            ))
    else:
        st.holding_since, st.fired = None, False
    st.dirty = False
    st.last_evaluated = wall
    if st.is_empty():
        store.delete_metric_state(mt.key)
    elif before != (len(st.samples), len(st.runs), st.holding_since, st.fired, st.dirty):
        store.put_metric_state(st)  # else only last_evaluated moved: not worth journaling


def next_deadline(store: InMemoryStateStore, mt: Any, now: datetime) -> datetime | None:
    """When the next judgement is due: now after an observation, else the next change of the value or of
    the breach (a sample leaving the range, an open lateness crossing the threshold, `firing_for` elapsing)."""
    st = store.metric_state(mt.key)
    if st is None:
        return None
    if st.dirty:
        return now
    query = mt.trigger.metric
    candidates: list[datetime] = []
    if st.holding_since is not None and not st.fired:
        candidates.append(st.holding_since + query.firing_for)
    if st.heap:
        candidates.append(_from_us(st.heap[0][0]) + query.range)
    if query.name == MetricName.lateness and st.open_late:
        since = st.last_evaluated or now
        crossing = _lateness_flip(st, query, _to_us(since))
        if crossing is not None:
            candidates.append(crossing)
    return min(candidates) if candidates else None


def _lateness_flip(st: MetricState, query: Any, from_us: int) -> datetime | None:
    """With runs still Late the value rises linearly; the first whole second after `from_us` at which the
    condition differs from its state at `from_us`, or None if it never flips without another change."""
    count = len(st.samples) + st.open_late
    holds = _holds(query, _value(st, query.name, from_us))  # type: ignore[arg-type]
    rising_makes_true = query.operator in (">", ">=")
    if holds == rising_makes_true:
        return None  # rising only keeps it as it is
    # value(t) = (total + open*t - open_since) / (count * 1e6) equals the threshold at t_star (microseconds)
    t_star = (_threshold(query) * count * _SECOND_US - st.total + st.open_late_since) / st.open_late
    strict_after = query.operator in (">", "<=")  # flips only once the value is strictly above the threshold
    seconds = t_star / _SECOND_US
    whole = seconds.numerator // seconds.denominator
    if whole < seconds or strict_after:
        whole += 1
    flip_us = max(whole * _SECOND_US, from_us + 1)
    return _from_us(flip_us)
