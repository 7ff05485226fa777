"""Alert-rule scenarios: a trigger, events delivered at wall-clock times, and the firings expected.

This is what `tocsin test` runs (like `promtool test rules`). A scenario file (YAML or JSON) is a list of
`{name, trigger, events, evaluate_at?, until?, expect_firings}`; other keys are documentation.
- Events are delivered in array order at their `received` time (default `occurred`); an event without `id`
  gets one derived from the scenario name and its index; `follows` may be an event id or an index.
- With `evaluate_at`, proactive judgement and housekeeping run only at those wall times, as Prefect's periodic
  service would (events first at equal times). Without it, they run exactly at their deadlines, from the first
  event until `until` (default: the later of the last event and the last expected firing).
- A firing is `{at, bucket, triggering_event}`: wall time, for_each labels, index of the triggering event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from uuid import UUID, NAMESPACE_URL, uuid5

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tocsin.clock import FakeClock
from tocsin.errors import ValidationFailed
from tocsin.schemas.events import Event, ReceivedEvent
from tocsin.schemas.triggers import AnyTrigger, parse_trigger
from tocsin.triggers import Evaluator, Firing

MAX_TICKS = 100_000  # a scenario that needs more judgements than this is surely a mistake


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class ExpectedFiring(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: datetime
    bucket: dict[str, str] | None = None
    triggering_event: int | None = Field(default=None)
    has_triggering_event: bool = Field(default=False, exclude=True)

    @field_validator("at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return _utc(v)

    @classmethod
    def parse(cls, data: Any) -> ExpectedFiring:
        item = cls.model_validate(data)
        item.has_triggering_event = isinstance(data, dict) and "triggering_event" in data
        return item


class ScenarioEvent(BaseModel):
    """An event as written in a scenario; `follows` may also name an earlier event by index."""

    model_config = ConfigDict(extra="forbid")

    occurred: datetime
    event: str
    resource: dict[str, Any]
    related: list[dict[str, Any]] = Field(default_factory=list)
    payload: dict[str, Any] = Field(default_factory=dict)
    id: UUID | None = None
    follows: UUID | int | None = None
    received: datetime | None = None


class Scenario(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1)
    trigger: dict[str, Any]
    events: list[ScenarioEvent]
    evaluate_at: list[datetime] | None = None
    until: datetime | None = None
    expect_firings: list[dict[str, Any]]


@dataclass
class PreparedScenario:
    name: str
    trigger: AnyTrigger
    events: list[ReceivedEvent]
    evaluate_at: list[datetime] | None
    until: datetime | None
    expected: list[ExpectedFiring]


@dataclass
class ActualFiring:
    at: datetime
    bucket: dict[str, str]
    triggering_event: int | None

    def describe(self) -> str:
        return f"at={self.at.isoformat()} bucket={json.dumps(self.bucket)} triggering_event={self.triggering_event}"


@dataclass
class ScenarioResult:
    name: str
    passed: bool
    expected: list[ExpectedFiring]
    actual: list[ActualFiring]
    missing: list[ExpectedFiring] = field(default_factory=list)
    unexpected: list[ActualFiring] = field(default_factory=list)


# -- loading ---------------------------------------------------------------------------------------------------

def load_file(path: Path) -> list[PreparedScenario]:
    """Read and validate a scenario file; raises ValidationFailed naming the scenario and field."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationFailed([("", f"cannot read scenarios: {exc}")]) from exc
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ValidationFailed([("", "a scenario file must hold a list of scenarios")])
    return [prepare(item, index) for index, item in enumerate(data)]


def prepare(data: Any, index: int) -> PreparedScenario:
    where = f"[{index}]"
    if isinstance(data, dict) and isinstance(data.get("name"), str):
        where = f"[{index}] {data['name']!r}"
    try:
        scenario = Scenario.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ValidationFailed.from_pydantic(exc, where) from None
    try:
        trigger = parse_trigger(scenario.trigger)
    except pydantic.ValidationError as exc:
        raise ValidationFailed.from_pydantic(exc, f"{where}.trigger") from None
    ids = [e.id or uuid5(NAMESPACE_URL, f"tocsin-scenario:{scenario.name}:{i}") for i, e in enumerate(scenario.events)]
    events: list[ReceivedEvent] = []
    for i, raw in enumerate(scenario.events):
        follows = raw.follows
        if isinstance(follows, int):
            if not 0 <= follows < len(ids):
                raise ValidationFailed([(f"{where}.events.{i}.follows", f"no event with index {follows}")])
            follows = ids[follows]
        body = raw.model_dump(exclude={"id", "follows", "received"})
        try:
            event = Event.model_validate({**body, "id": ids[i], "follows": follows})
        except pydantic.ValidationError as exc:
            raise ValidationFailed.from_pydantic(exc, f"{where}.events.{i}") from None
        events.append(event.receive(_utc(raw.received) if raw.received else event.occurred))
    try:
        expected = [ExpectedFiring.parse(item) for item in scenario.expect_firings]
    except pydantic.ValidationError as exc:
        raise ValidationFailed.from_pydantic(exc, f"{where}.expect_firings") from None
    return PreparedScenario(
        name=scenario.name,
        trigger=trigger,
        events=events,
        evaluate_at=sorted(_utc(t) for t in scenario.evaluate_at) if scenario.evaluate_at is not None else None,
        until=_utc(scenario.until) if scenario.until else None,
        expected=expected,
    )


# -- running ---------------------------------------------------------------------------------------------------

def simulate(scenario: PreparedScenario) -> list[ActualFiring]:
    """Replay the scenario through the real evaluator with a fake clock."""
    index_of: dict[UUID, int] = {}
    for i, e in enumerate(scenario.events):
        index_of.setdefault(e.id, i)  # a re-sent id is ignored, so its first delivery is the one that counts
    periodic = scenario.evaluate_at is not None
    starts = [e.received for e in scenario.events] + list(scenario.evaluate_at or [])
    clock = FakeClock(min(starts) if starts else datetime(2026, 1, 1, tzinfo=timezone.utc))
    evaluator = Evaluator(clock=clock, deadline_mode=not periodic)
    automation_id = uuid5(NAMESPACE_URL, f"tocsin-scenario:{scenario.name}")
    evaluator.load(automation_id, scenario.trigger)
    fired: list[Firing] = []

    def tick_at(when: datetime) -> None:
        clock.set(max(when, clock.now()))
        fired.extend(evaluator.on_tick())

    def deadlines_until(limit: datetime, inclusive: bool) -> None:
        for _ in range(MAX_TICKS):
            due = evaluator.next_deadline()
            if due is None or due > limit or (due == limit and not inclusive):
                return
            tick_at(due)
        raise RuntimeError(f"more than {MAX_TICKS} judgements before {limit.isoformat()}")

    ticks = list(scenario.evaluate_at or [])
    for event in scenario.events:
        if periodic:
            while ticks and ticks[0] < event.received:
                tick_at(ticks.pop(0))
        else:
            deadlines_until(event.received, inclusive=False)
        clock.set(max(event.received, clock.now()))
        fired.extend(evaluator.on_event(event))
    if periodic:
        for when in ticks:
            tick_at(when)
    else:
        ends = [e.received for e in scenario.events] + [f.at for f in scenario.expected]
        horizon = scenario.until or (max(ends) if ends else clock.now())
        deadlines_until(horizon, inclusive=True)

    return [
        ActualFiring(
            at=f.triggered,
            bucket=dict(f.triggering_labels),
            triggering_event=index_of.get(f.triggering_event.id) if f.triggering_event else None,
        )
        for f in fired
    ]


def _compatible(expected: ExpectedFiring, actual: ActualFiring) -> bool:
    if expected.at != actual.at:
        return False
    if expected.bucket is not None and expected.bucket != actual.bucket:
        return False
    return not expected.has_triggering_event or expected.triggering_event == actual.triggering_event


def run(scenario: PreparedScenario) -> ScenarioResult:
    actual = simulate(scenario)
    unmatched = list(actual)
    missing = []
    for exp in scenario.expected:
        hit = next((a for a in unmatched if _compatible(exp, a)), None)
        if hit is None:
            missing.append(exp)
        else:
            unmatched.remove(hit)
    return ScenarioResult(scenario.name, not missing and not unmatched, scenario.expected, actual, missing, unmatched)


def describe_expected(exp: ExpectedFiring) -> str:
    parts = [f"at={exp.at.isoformat()}"]
    if exp.bucket is not None:
        parts.append(f"bucket={json.dumps(exp.bucket)}")
    if exp.has_triggering_event:
        parts.append(f"triggering_event={exp.triggering_event}")
    return " ".join(parts)
