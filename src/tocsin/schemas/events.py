"""The Prefect 3 event model and resource matching (semantics §1-3).

An event names what happened (`event`), to what (`resource`, a flat label map) and what else was involved
(`related`, each with a `prefect.resource.role`). Matching is pure: `ResourceSpecification` compiles its
glob patterns once and is then asked `includes(resources)`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from itertools import chain
from operator import itemgetter
from typing import Annotated, Any
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, GetPydanticSchema, TypeAdapter, field_validator
from pydantic_core import SchemaSerializer, SchemaValidator, core_schema

MAX_EVENT_NAME_LENGTH = 1024
MAX_RESOURCE_LABELS = 500
MAX_RELATED_RESOURCES = 100
MAX_EVENT_SIZE_BYTES = 1_500_000

RESOURCE_ID = "prefect.resource.id"
RESOURCE_ROLE = "prefect.resource.role"
RESOURCE_NAME = "prefect.resource.name"

Labels = dict[str, str]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime) -> datetime:
    """UTC with the stdlib tzinfo: comparisons between datetimes sharing one tzinfo object skip utcoffset()
    calls, which matters in the evaluator's hot path."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    if value.tzinfo is timezone.utc:
        return value
    return value.astimezone(timezone.utc)


def _check_labels(labels: Mapping[str, Any], where: str) -> None:
    for key, value in labels.items():
        if not isinstance(value, str):
            raise ValueError(f"{where} label {key!r} must be a string, got {type(value).__name__}")


# --- resource and related validation -------------------------------------------------------------------------
# Every ingested event passes here, so the common shape (a JSON object of string labels, a JSON array of such
# objects) is validated by pydantic-core alone: a strict `dict[str, str]` (a strict list of them for
# `related`). Anything else (a label that is not a string, not an object, `related: null`, a Mapping that is
# not a dict...) becomes an `_Unchecked` and is judged by the `_reference_*` checks below, which are the
# original field rules: same acceptance, same messages, same error locations. The field validators then only
# check what the types cannot say (non-empty id and role, sizes).


class _Unchecked:
    """A `resource`/`related` value outside the common shape, left to the `_reference_*` checks."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


_STRICT_STR = core_schema.str_schema(strict=True)
_PLAIN_LABELS = core_schema.dict_schema(_STRICT_STR, _STRICT_STR, strict=True)


def _common_shape_or_unchecked(common: core_schema.CoreSchema, json_schema: dict[str, Any]) -> Any:
    # lax-or-strict only to serialise as the plain type (its strict side); a union would try its members first
    schema = core_schema.lax_or_strict_schema(
        lax_schema=core_schema.union_schema(
            [common, core_schema.no_info_plain_validator_function(_Unchecked)], mode="left_to_right"),
        strict_schema=common)
    return GetPydanticSchema(lambda _type, _handler: schema,
                             lambda _schema, _handler: dict(json_schema))


_LABELS_JSON_SCHEMA = {"additionalProperties": {"type": "string"}, "type": "object"}
_ResourceLabels = Annotated[Labels, _common_shape_or_unchecked(_PLAIN_LABELS, _LABELS_JSON_SCHEMA)]
_RelatedResources = Annotated[list[Labels], _common_shape_or_unchecked(
    core_schema.list_schema(_PLAIN_LABELS, strict=True),
    {"items": _LABELS_JSON_SCHEMA, "maxItems": MAX_RELATED_RESOURCES, "type": "array"})]

_LABELS = TypeAdapter(Labels)
_RELATED = TypeAdapter(Annotated[list[Labels], Field(max_length=MAX_RELATED_RESOURCES)])


def _reference_resource(value: Any) -> Labels:
    if not isinstance(value, Mapping):
        raise ValueError("resource must be an object of string labels")
    _check_labels(value, "resource")
    if not value.get(RESOURCE_ID):
        raise ValueError(f"resource must have a non-empty {RESOURCE_ID!r} label")
    if len(value) > MAX_RESOURCE_LABELS:
        raise ValueError(f"resource has {len(value)} labels; at most {MAX_RESOURCE_LABELS} are allowed")
    return _LABELS.validate_python(value)


def _reference_related(value: Any) -> list[Labels]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("related must be a list of resources")
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise ValueError(f"related[{i}] must be an object of string labels")
        _check_labels(item, f"related[{i}]")
        _check_related_item(i, item)
    return _RELATED.validate_python(value)


def _check_related_item(i: int, item: Mapping[str, Any]) -> None:
    if not item.get(RESOURCE_ID):
        raise ValueError(f"related[{i}] must have a non-empty {RESOURCE_ID!r} label")
    if not item.get(RESOURCE_ROLE):
        raise ValueError(f"related[{i}] must have a non-empty {RESOURCE_ROLE!r} label")
    if len(item) > MAX_RESOURCE_LABELS:
        raise ValueError(f"related[{i}] has more than {MAX_RESOURCE_LABELS} labels")


class Event(BaseModel):
    """An event as sent by a client. `received` is stamped by the engine (see `ReceivedEvent`)."""

    model_config = ConfigDict(extra="ignore")

    occurred: datetime = Field(default_factory=utcnow)
    event: str = Field(min_length=1, max_length=MAX_EVENT_NAME_LENGTH)
    resource: _ResourceLabels
    related: _RelatedResources = Field(default_factory=list)
    payload: dict[str, Any] = Field(default_factory=dict)
    id: UUID = Field(default_factory=uuid4)
    follows: UUID | None = None

    @field_validator("occurred")
    @classmethod
    def _occurred_is_aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo is timezone.utc else _aware(value)

    @field_validator("resource")
    @classmethod
    def _valid_resource(cls, value: Any) -> Labels:
        if type(value) is _Unchecked:
            return _reference_resource(value.value)
        if not value.get(RESOURCE_ID):
            raise ValueError(f"resource must have a non-empty {RESOURCE_ID!r} label")
        if len(value) > MAX_RESOURCE_LABELS:
            raise ValueError(f"resource has {len(value)} labels; at most {MAX_RESOURCE_LABELS} are allowed")
        return value  # type: ignore[no-any-return]

    @field_validator("related")
    @classmethod
    def _valid_related(cls, value: Any) -> list[Labels]:
        if type(value) is _Unchecked:
            return _reference_related(value.value)
        if len(value) > MAX_RELATED_RESOURCES:  # the per-item messages come first, as they always did
            return _reference_related(value)
        for item in value:
            if not item.get(RESOURCE_ID) or not item.get(RESOURCE_ROLE) or len(item) > MAX_RESOURCE_LABELS:
                for i, labels in enumerate(value):
                    _check_related_item(i, labels)
        return value  # type: ignore[no-any-return]

    @property
    def resource_id(self) -> str:
        return self.resource[RESOURCE_ID]

    def find_resource_label(self, label: str) -> str | None:
        """`related:<role>:<label>` reads the FIRST related resource with that role; anything else the primary."""
        if label.startswith("related:"):
            _, _, rest = label.partition(":")
            role, sep, inner = rest.partition(":")
            if not sep:
                return None
            for related in self.related:
                if related.get(RESOURCE_ROLE) == role:
                    return related.get(inner)
            return None
        return self.resource.get(label)

    def receive(self, received: datetime | None = None) -> ReceivedEvent:
        return ReceivedEvent(**self.__dict__, received=_aware(received) if received else utcnow())


class ReceivedEvent(Event):
    """An event the engine has accepted; `received` is the engine's wall-clock time of acceptance."""

    received: datetime = Field(default_factory=utcnow)

    @field_validator("received")
    @classmethod
    def _received_is_aware(cls, value: datetime) -> datetime:
        return _aware(value)


# --- a batch as clients send it -------------------------------------------------------------------------------
# Every ingested event passes here too. A batch in the common shape (UTC times, ids in the canonical lowercase
# form, string labels within the limits) is validated and written back as JSON by pydantic-core alone, into
# plain dicts with Event's fields in Event's order: no Event objects, no Python per field. Anything else
# returns None and is left to `Event`, which accepts it or rejects it with its own messages and paths.
_UUID_TEXT = core_schema.str_schema(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
                                    strict=True)
_LIMITED_LABELS = core_schema.dict_schema(_STRICT_STR, _STRICT_STR, max_length=MAX_RESOURCE_LABELS, strict=True)


def _field(schema: core_schema.CoreSchema, **default: Any) -> core_schema.TypedDictField:
    return core_schema.typed_dict_field(core_schema.with_default_schema(schema, **default) if default else schema)


_SENT_EVENT = core_schema.typed_dict_schema({
    "occurred": _field(core_schema.datetime_schema(tz_constraint=0), default_factory=utcnow),
    "event": _field(core_schema.str_schema(min_length=1, max_length=MAX_EVENT_NAME_LENGTH, strict=True)),
    "resource": _field(_LIMITED_LABELS),
    "related": _field(core_schema.list_schema(_LIMITED_LABELS, max_length=MAX_RELATED_RESOURCES, strict=True),
                      default_factory=list),
    "payload": _field(core_schema.dict_schema(_STRICT_STR, core_schema.any_schema(), strict=True),
                      default_factory=dict),
    "id": _field(_UUID_TEXT, default_factory=lambda: str(uuid4())),
    "follows": _field(core_schema.nullable_schema(_UUID_TEXT), default=None),
}, extra_behavior="ignore")
assert list(_SENT_EVENT["fields"]) == list(Event.model_fields)  # same JSON, field for field
_SENT_BATCH = core_schema.list_schema(_SENT_EVENT, strict=True)
_SENT_VALIDATOR, _SENT_SERIALIZER = SchemaValidator(_SENT_BATCH), SchemaSerializer(_SENT_BATCH)
_BETWEEN_EVENTS = '},{"occurred":"'  # every event's JSON starts with its `occurred` string
_CUT = '\x00{"occurred":"'  # a NUL is never raw in JSON text: cut there, keeping each event's opening
_resource_id, _role = itemgetter(RESOURCE_ID), itemgetter(RESOURCE_ROLE)


def validate_sent_batch(raw: bytes, dumps: Callable[[list[dict[str, Any]]], bytes] | None = None
                        ) -> tuple[list[dict[str, Any]], list[str]] | None:
    """A JSON array of events in the common shape: each event as a dict of Event's fields (`occurred` an aware
    UTC datetime, `id` and `follows` canonical UUID text) and as its JSON without the closing brace, exactly as
    `Event.model_dump_json()` writes it. None when any event is outside the common shape or invalid: then
    validate with Event. `dumps` may write the dicts' JSON faster than pydantic-core (the server passes orjson,
    which this module must not need); what it cannot write, pydantic-core does."""
    try:
        sent = _SENT_VALIDATOR.validate_json(raw)
        related = list(chain.from_iterable(map(itemgetter("related"), sent)))
        if not (all(map(_resource_id, map(itemgetter("resource"), sent)))
                and all(map(_resource_id, related)) and all(map(_role, related))):
            return None  # an empty or missing id or role label
    except (ValueError, KeyError):  # pydantic-core's ValidationError too
        return None
    if not sent:
        return [], []
    text = _dump_sent(sent, dumps)
    if text is None:
        return None
    # [{"occurred":"...},{"occurred":"...}]: a payload can hold the separator too, but that only adds heads
    heads = text[1:-2].replace(_BETWEEN_EVENTS, _CUT).split("\x00")
    return (sent, heads) if len(heads) == len(sent) else None


def _dump_sent(sent: list[dict[str, Any]], dumps: Callable[[list[dict[str, Any]]], bytes] | None) -> str | None:
    if dumps is not None:
        try:
            return dumps(sent).decode()
        except (TypeError, ValueError):  # e.g. orjson and integers beyond 64 bits
            pass
    try:
        return _SENT_SERIALIZER.to_json(sent).decode()
    except ValueError:  # PydanticSerializationError: Event could not write it either
        return None


# --- matching -------------------------------------------------------------------------------------------------

_GLOB_CHARS = re.compile(r"[*?\[]")


class _Pattern:
    """One label pattern: a case-sensitive whole-value glob, negated by a leading `!`."""

    __slots__ = ("negated", "literal", "regex")

    def __init__(self, pattern: str) -> None:
        self.negated = pattern.startswith("!")
        body = pattern[1:] if self.negated else pattern
        if _GLOB_CHARS.search(body):
            self.literal: str | None = None
            self.regex: re.Pattern[str] | None = re.compile(fnmatch.translate(body))
        else:
            self.literal, self.regex = body, None

    def test(self, value: str | None) -> bool:
        if value is None:  # a missing label never matches, not even a negated pattern
            return False
        hit = value == self.literal if self.regex is None else self.regex.match(value) is not None
        return not hit if self.negated else hit


class ResourceSpecification:
    """`{label: pattern | [patterns]}`: every label must match (AND), any listed pattern will do (OR).

    Patterns are split once into literal sets and compiled globs, so the common case (plain values) costs a
    set lookup per label.
    """

    __slots__ = ("spec", "_labels", "_exact")

    def __init__(self, spec: Mapping[str, str | Sequence[str]]) -> None:
        self.spec = dict(spec)
        self._labels: list[tuple[str, frozenset[str], tuple[_Pattern, ...]]] = []
        exact: dict[str, str] | None = {}
        for label, patterns in self.spec.items():
            compiled = [_Pattern(p) for p in ([patterns] if isinstance(patterns, str) else patterns)]
            literals = frozenset(p.literal for p in compiled if p.literal is not None and not p.negated)
            others = tuple(p for p in compiled if p.literal is None or p.negated)
            self._labels.append((label, literals, others))
            if exact is not None and len(literals) == 1 and not others:
                exact[label] = next(iter(literals))
            else:
                exact = None
        # every label a single plain value: a sub-dict test, done in C
        self._exact = exact.items() if exact else None

    def __bool__(self) -> bool:
        return bool(self._labels)

    def matches(self, resource: Mapping[str, str]) -> bool:
        if self._exact is not None and isinstance(resource, dict):
            return self._exact <= resource.items()
        get = resource.get
        for label, literals, others in self._labels:
            value = get(label)
            if value is None:
                return False
            if value in literals:
                continue
            for pattern in others:
                if pattern.test(value):
                    break
            else:
                return False
        return True

    def includes(self, candidates: Iterable[Mapping[str, str]]) -> bool:
        """True for an empty spec (even with no candidates); else true iff some candidate matches."""
        if not self._labels:
            return True
        exact = self._exact
        if exact is not None:
            for candidate in candidates:
                if exact <= candidate.items():
                    return True
            return False
        for candidate in candidates:
            if self.matches(candidate):
                return True
        return False


class EventNamePattern:
    """An `expect`/`after` entry, judged as Prefect does in two steps (semantics §3):
    - the gate: a regex of the escaped pattern with `*` -> `.+`, matched at the START of the name only;
    - the test: the same label glob as resources (`fnmatchcase`, `!` negates) against the whole name.
    An event reaches a trigger if some pattern's gate opens; it is expected/arming if some pattern's test passes.
    Net effect: whole-name, case-sensitive; `*` needs >= 1 character; `?`, `[` and `!` are effectively literal.
    """

    __slots__ = ("pattern", "prefix", "gate", "test")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.prefix = pattern.split("*", 1)[0]
        self.gate = re.compile(re.escape(pattern).replace(r"\*", ".+"))
        self.test = _Pattern(pattern)

    def opens_gate(self, name: str) -> bool:
        return self.gate.match(name) is not None

    def matches(self, name: str) -> bool:
        """Would this pattern both admit and match `name`? (Convenience for single-pattern checks.)"""
        return self.opens_gate(name) and self.test.test(name)
