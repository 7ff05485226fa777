"""Typed triggers for `TfAutomation(trigger=...)`: Prefect's trigger grammar as keyword-only Python objects.

Each trigger is validated when it is built, with the engine's own schema (`tocsin.schemas.triggers`), and
serialises to the trigger JSON that `tocsin_automation.trigger` takes::

    EventTrigger(expect=["prefect.flow-run.Failed"], match={"prefect.resource.id": "prefect.flow-run.*"},
                 posture=Posture.PROACTIVE, threshold=1, within=timedelta(hours=1), for_each=["prefect.resource.id"])
"""

from __future__ import annotations

from datetime import timedelta
from enum import Enum
from typing import Any, Literal, Mapping, Sequence, Union

from ._util import ConstructError, seconds, str_list

Labels = Mapping[str, Union[str, Sequence[str]]]


class Posture(str, Enum):
    """Reactive: fire on the events. Proactive: fire when they do not arrive within the window."""

    REACTIVE = "Reactive"
    PROACTIVE = "Proactive"


class MetricOperator(str, Enum):
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


def _labels(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConstructError(where, "must be a mapping of label -> pattern or list of patterns", received=value,
                             hint='for example {"prefect.resource.id": "prefect.flow-run.*"}')
    out: dict[str, Any] = {}
    for label, patterns in value.items():
        if not isinstance(label, str):
            raise ConstructError(where, "labels must be strings", received=value)
        if isinstance(patterns, str):
            out[label] = patterns
        elif isinstance(patterns, (list, tuple)) and all(isinstance(p, str) for p in patterns):
            out[label] = list(patterns)
        else:
            raise ConstructError(f"{where}[{label!r}]", "must be a string pattern or a list of string patterns",
                                 received=patterns)
    return out


def _related(value: Any, where: str) -> dict[str, Any] | list[dict[str, Any]]:
    if isinstance(value, (list, tuple)):
        return [_labels(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return _labels(value, where)


def _check_with_engine(trigger: Trigger) -> None:
    """Validate with tocsin.schemas.triggers.parse_trigger; raise ConstructError naming the field."""
    from pydantic import ValidationError

    from tocsin.errors import ValidationFailed
    from tocsin.schemas.triggers import parse_trigger

    data = trigger.to_json()
    try:
        parse_trigger(data)
    except ValidationError as exc:
        failed = ValidationFailed.from_pydantic(exc)
        path, reason = failed.problems[0] if failed.problems else ("", str(exc))
        where = f"{type(trigger).__name__}.{path}" if path else type(trigger).__name__
        raise ConstructError(where, reason, received=_at_path(data, path),
                             hint="fix this prop: the engine would reject the trigger") from None


def _at_path(data: Any, path: str) -> Any:
    """The value at a dotted path in the trigger JSON (the whole JSON when the path does not resolve)."""
    node = data
    for part in path.split(".") if path else []:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return data
    return node


class Trigger:
    """Base of the typed triggers. `to_json()` gives the engine's trigger JSON (Prefect-compatible)."""

    def to_json(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_json()!r})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.to_json() == other.to_json()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]


class EventTrigger(Trigger):
    """Counts matching events (Reactive) or their absence (Proactive).

    :param expect: event names counted (trailing ``*`` wildcards); default - every matched event counts.
    :param match: labels of the primary resource; default - every resource.
    :param match_related: labels of related resources (a mapping, or a list of mappings); default - no filter.
    :param after: events one of which must be seen first to open a window; default - windows open on any event.
    :param for_each: labels that split evaluation into one bucket per value; default - one bucket.
    :param posture: Posture.REACTIVE (default) or Posture.PROACTIVE.
    :param threshold: events needed to fire (Reactive) or expected (Proactive); default 1.
    :param within: window length (timedelta or seconds); default 0 (Reactive: fire at once; Proactive: 10 s).
    """

    def __init__(self, *, expect: Sequence[str] = (), match: Labels | None = None,
                 match_related: Labels | Sequence[Labels] | None = None, after: Sequence[str] = (),
                 for_each: Sequence[str] = (), posture: Posture | str = Posture.REACTIVE, threshold: int = 1,
                 within: timedelta | int | float = 0) -> None:
        self.expect = str_list(expect, "EventTrigger.expect")
        self.after = str_list(after, "EventTrigger.after")
        self.for_each = str_list(for_each, "EventTrigger.for_each")
        self.match = _labels(match, "EventTrigger.match")
        self.match_related = _related(match_related, "EventTrigger.match_related")
        try:
            self.posture = Posture(posture.value if isinstance(posture, Enum) else posture)
        except ValueError:
            raise ConstructError("EventTrigger.posture", "must be Posture.REACTIVE or Posture.PROACTIVE",
                                 received=posture) from None
        if isinstance(threshold, bool) or not isinstance(threshold, int):
            raise ConstructError("EventTrigger.threshold", "must be an integer", received=threshold)
        self.threshold = threshold
        self.within = seconds(within, "EventTrigger.within")
        if self.posture is Posture.PROACTIVE and self.within == 0:
            raise ConstructError("EventTrigger.within", "a Proactive trigger needs a window", received=within,
                                 hint="give within=timedelta(...) of at least 10 seconds")
        _check_with_engine(self)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "event",
            "match": self.match,
            "match_related": self.match_related,
            "after": self.after,
            "expect": self.expect,
            "for_each": self.for_each,
            "posture": self.posture.value,
            "threshold": self.threshold,
            "within": self.within,
        }


def _children(triggers: Any, where: str) -> list[Trigger]:
    if not isinstance(triggers, (list, tuple)) or not triggers:
        raise ConstructError(where, "needs a non-empty list of triggers", received=triggers,
                             hint="for example triggers=[EventTrigger(...), EventTrigger(...)]")
    for i, child in enumerate(triggers):
        if not isinstance(child, Trigger):
            raise ConstructError(f"{where}[{i}]", "must be a typed trigger (EventTrigger, CompoundTrigger, "
                                 "SequenceTrigger or MetricTrigger), not a raw dict", received=child)
    return list(triggers)


class CompoundTrigger(Trigger):
    """Fires when `require` of its child triggers ("any", "all" or a number) have fired within `within`.

    :param within: window for the children (timedelta or seconds); default - no window.
    """

    def __init__(self, *, triggers: Sequence[Trigger], require: int | Literal["any", "all"] = "all",
                 within: timedelta | int | float | None = None) -> None:
        self.triggers = _children(triggers, "CompoundTrigger.triggers")
        if not (require in ("any", "all") or (isinstance(require, int) and not isinstance(require, bool))):
            raise ConstructError("CompoundTrigger.require", "must be 'any', 'all' or a number of children",
                                 received=require)
        self.require = require
        self.within = seconds(within, "CompoundTrigger.within", allow_none=True)
        _check_with_engine(self)

    def to_json(self) -> dict[str, Any]:
        return {"type": "compound", "require": self.require, "within": self.within,
                "triggers": [t.to_json() for t in self.triggers]}


class SequenceTrigger(Trigger):
    """Fires when all children have fired in the order given, within `within` (default - no window)."""

    def __init__(self, *, triggers: Sequence[Trigger], within: timedelta | int | float | None = None) -> None:
        self.triggers = _children(triggers, "SequenceTrigger.triggers")
        self.within = seconds(within, "SequenceTrigger.within", allow_none=True)
        _check_with_engine(self)

    def to_json(self) -> dict[str, Any]:
        return {"type": "sequence", "within": self.within, "triggers": [t.to_json() for t in self.triggers]}


class MetricTrigger(Trigger):
    """A flow-run metric ("successes", "duration", "lateness") compared with `threshold` over `range`.

    :param range: how far back the metric looks; default 5 minutes (the minimum).
    :param firing_for: how long the condition must hold before firing; default 5 minutes (the minimum).
    """

    def __init__(self, *, metric: Literal["successes", "duration", "lateness"], operator: MetricOperator | str,
                 threshold: float, range: timedelta | int | float = timedelta(minutes=5),  # noqa: A002
                 firing_for: timedelta | int | float = timedelta(minutes=5), match: Labels | None = None,
                 match_related: Labels | Sequence[Labels] | None = None) -> None:
        self.metric = metric
        try:
            self.operator = MetricOperator(operator.value if isinstance(operator, Enum) else operator)
        except ValueError:
            raise ConstructError("MetricTrigger.operator", "must be one of <, <=, >, >=", received=operator) from None
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise ConstructError("MetricTrigger.threshold", "must be a number", received=threshold)
        self.threshold = threshold
        self.range = seconds(range, "MetricTrigger.range")
        self.firing_for = seconds(firing_for, "MetricTrigger.firing_for")
        self.match = _labels(match, "MetricTrigger.match")
        self.match_related = _related(match_related, "MetricTrigger.match_related")
        _check_with_engine(self)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "metric",
            "match": self.match,
            "match_related": self.match_related,
            "metric": {"name": self.metric, "operator": self.operator.value, "threshold": self.threshold,
                       "range": self.range, "firing_for": self.firing_for},
        }


AnyTrigger = Union[EventTrigger, CompoundTrigger, SequenceTrigger, MetricTrigger]
