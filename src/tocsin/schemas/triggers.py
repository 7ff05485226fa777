"""The trigger grammar of Prefect 3 (semantics §4): event (Reactive/Proactive), compound, sequence, metric.

Prefect's trigger JSON loads unchanged. Invalid triggers are rejected with the field path and the reason;
where Prefect silently accepts a trigger that can never fire, we reject it (docs/compatibility.md).
"""

from __future__ import annotations

from datetime import timedelta
from enum import Enum
from typing import Annotated, Any, Literal, Union
from uuid import UUID, uuid4

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    field_serializer,
    field_validator,
    model_validator,
)


PROACTIVE_MIN_WITHIN = timedelta(seconds=10)
METRIC_MIN_SECONDS = 300.0

LabelPatterns = dict[str, Union[str, list[str]]]


class Posture(str, Enum):
    Reactive = "Reactive"
    Proactive = "Proactive"
    Metric = "Metric"


def _seconds(value: timedelta) -> float:
    return value.total_seconds()


def _check_spec(value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be an object of label: pattern or label: [patterns]")
    for label, patterns in value.items():
        items = [patterns] if isinstance(patterns, str) else patterns
        if not isinstance(items, list) or not all(isinstance(p, str) for p in items):
            raise ValueError(
                f"{where} label {label!r}: patterns must be a string or a list of strings, got {patterns!r}"
            )
    return value


class _TriggerBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)

    id: UUID = Field(default_factory=uuid4)


class ResourceTrigger(_TriggerBase):
    """Shared by event and metric triggers: which resources the trigger watches."""

    match: LabelPatterns = Field(default_factory=dict)
    match_related: Union[LabelPatterns, list[LabelPatterns]] = Field(default_factory=dict)

    @field_validator("match", mode="before")
    @classmethod
    def _valid_match(cls, value: Any) -> Any:
        return _check_spec({} if value is None else value, "match")

    @field_validator("match_related", mode="before")
    @classmethod
    def _valid_match_related(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, list):
            for i, spec in enumerate(value):
                _check_spec(spec, f"match_related[{i}]")
            return value
        return _check_spec(value, "match_related")


class EventTrigger(ResourceTrigger):
    """Counts events: Reactive fires on the threshold-th event in a window, Proactive when too few arrived."""

    type: Literal["event"] = "event"
    after: list[str] = Field(default_factory=list)
    expect: list[str] = Field(default_factory=list)
    for_each: list[str] = Field(default_factory=list)
    posture: Literal[Posture.Reactive, Posture.Proactive] = Posture.Reactive
    threshold: int = 1
    within: timedelta = timedelta(0)

    @field_validator("after", "expect", "for_each", mode="before")
    @classmethod
    def _set_of_names(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, (set, frozenset, tuple)):
            value = list(value)
        if isinstance(value, list):
            # sets in Prefect: keep the first occurrence, sorted for a stable serialisation
            return sorted(dict.fromkeys(value)) if all(isinstance(v, str) for v in value) else value
        return value

    @field_validator("within", mode="before")
    @classmethod
    def _within_not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("within must be a number of seconds (use 0 for no window), not null")
        return value

    @field_validator("within")
    @classmethod
    def _within_not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError(f"within must be >= 0 seconds, got {value.total_seconds():g}")
        return value

    @field_validator("threshold")
    @classmethod
    def _threshold_not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"threshold must be >= 0, got {value}")
        return value

    @model_validator(mode="after")
    def _proactive_rules(self) -> EventTrigger:
        if self.posture == Posture.Proactive:
            if self.within == timedelta(0):
                self.within = PROACTIVE_MIN_WITHIN
            elif self.within < PROACTIVE_MIN_WITHIN:
                raise ValueError(
                    f"within: a Proactive trigger needs within >= 10 seconds, got {self.within.total_seconds():g}"
                )
            if self.threshold == 0:
                raise ValueError(
                    "threshold: a Proactive trigger fires when fewer than `threshold` events arrive, so "
                    "threshold 0 can never fire; use threshold 1 to alert when no event arrives"
                )
        return self

    @field_serializer("within")
    def _ser_within(self, value: timedelta) -> float:
        return _seconds(value)


class MetricName(str, Enum):
    successes = "successes"
    duration = "duration"
    lateness = "lateness"


class MetricQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: MetricName
    operator: Literal["<", "<=", ">", ">="]
    threshold: float
    range: timedelta = timedelta(seconds=METRIC_MIN_SECONDS)
    firing_for: timedelta = timedelta(seconds=METRIC_MIN_SECONDS)

    @field_validator("range", "firing_for")
    @classmethod
    def _at_least_five_minutes(cls, value: timedelta) -> timedelta:
        if value.total_seconds() < METRIC_MIN_SECONDS:
            raise ValueError(f"must be at least 300 seconds, got {value.total_seconds():g}")
        return value

    @field_serializer("range", "firing_for")
    def _ser_seconds(self, value: timedelta) -> float:
        return _seconds(value)

    def compare(self, value: float) -> bool:
        op = self.operator
        if op == "<":
            return value < self.threshold
        if op == "<=":
            return value <= self.threshold
        if op == ">":
            return value > self.threshold
        return value >= self.threshold


class MetricTrigger(ResourceTrigger):
    """A flow-run metric (successes, duration, lateness) compared with a threshold over a range (Prefect Cloud)."""

    type: Literal["metric"] = "metric"
    posture: Literal[Posture.Metric] = Posture.Metric
    metric: MetricQuery


class CompositeTrigger(_TriggerBase):
    triggers: list[Trigger]
    within: timedelta | None = None

    @field_validator("within")
    @classmethod
    def _within_not_negative(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < timedelta(0):
            raise ValueError(f"within must be >= 0 seconds or null, got {value.total_seconds():g}")
        return value

    @field_validator("triggers")
    @classmethod
    def _not_empty(cls, value: list[Any]) -> list[Any]:
        if not value:
            raise ValueError("a composite trigger needs at least one child trigger; with none it can never fire")
        return value

    @field_serializer("within")
    def _ser_within(self, value: timedelta | None) -> float | None:
        return None if value is None else _seconds(value)

    @property
    def num_expected_firings(self) -> int:
        raise NotImplementedError


class CompoundTrigger(CompositeTrigger):
    """Fires when `require` ("any", "all" or a number) of its children have fired within `within`."""

    type: Literal["compound"] = "compound"
    require: Union[int, Literal["any", "all"]]

    @model_validator(mode="after")
    def _require_in_range(self) -> CompoundTrigger:
        if isinstance(self.require, int) and not 1 <= self.require <= len(self.triggers):
            raise ValueError(
                f"require: must be 'any', 'all' or a number from 1 to {len(self.triggers)} "
                f"(the number of child triggers), got {self.require}"
            )
        return self

    @property
    def num_expected_firings(self) -> int:
        if self.require == "any":
            return 1
        if self.require == "all":
            return len(self.triggers)
        return int(self.require)


class SequenceTrigger(CompositeTrigger):
    """Fires when all children have fired in the declared order within `within`."""

    type: Literal["sequence"] = "sequence"

    @property
    def num_expected_firings(self) -> int:
        return len(self.triggers)


TRIGGER_TYPES = ("event", "compound", "sequence", "metric")


def _trigger_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        kind = value.get("type", "event")
        return f"type={kind}" if kind in TRIGGER_TYPES else None
    if isinstance(value, BaseModel):
        return f"type={getattr(value, 'type', None)}"
    return None


Trigger = Annotated[
    Union[
        Annotated[EventTrigger, Tag("type=event")],
        Annotated[CompoundTrigger, Tag("type=compound")],
        Annotated[SequenceTrigger, Tag("type=sequence")],
        Annotated[MetricTrigger, Tag("type=metric")],
    ],
    Discriminator(
        _trigger_tag,
        custom_error_type="unknown_trigger_type",
        custom_error_message="unknown trigger type; expected an object with type one of: event, compound, "
        "sequence, metric",
    ),
]

CompositeTrigger.model_rebuild()
CompoundTrigger.model_rebuild()
SequenceTrigger.model_rebuild()

AnyTrigger = Union[EventTrigger, CompoundTrigger, SequenceTrigger, MetricTrigger]
_TRIGGER_ADAPTER: TypeAdapter[AnyTrigger] = TypeAdapter(Trigger)


def parse_trigger(data: Any) -> AnyTrigger:
    """Validate Prefect trigger JSON (a dict). Raises pydantic.ValidationError with field paths."""
    return _TRIGGER_ADAPTER.validate_python(data)


def trigger_to_json(trigger: AnyTrigger) -> dict[str, Any]:
    return trigger.model_dump(mode="json")


def walk(trigger: AnyTrigger, path: str = "") -> list[tuple[str, AnyTrigger]]:
    """Every trigger in the tree with its path ("" for the root, "0", "0.1" for children)."""
    out: list[tuple[str, AnyTrigger]] = [(path, trigger)]
    if isinstance(trigger, CompositeTrigger):
        for i, child in enumerate(trigger.triggers):
            out += walk(child, f"{path}.{i}" if path else str(i))  # type: ignore[arg-type]
    return out
