"""The event model validates the common shape in pydantic-core and only the rest in Python: it must accept,
reject and report exactly as the plain Python rules it replaced (kept here as `Reference`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from tocsin.schemas.events import RESOURCE_ID, RESOURCE_ROLE, Event, ReceivedEvent, utcnow

# --- the rules as they were written before (one Python pass per field) --------------------------------------


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value if value.tzinfo is timezone.utc else value.astimezone(timezone.utc)


def _check_labels(labels: Mapping[str, Any], where: str) -> None:
    for key, value in labels.items():
        if not isinstance(value, str):
            raise ValueError(f"{where} label {key!r} must be a string, got {type(value).__name__}")


class Reference(BaseModel):
    model_config = ConfigDict(extra="ignore")

    occurred: datetime = Field(default_factory=utcnow)
    event: str = Field(min_length=1, max_length=1024)
    resource: dict[str, str]
    related: list[dict[str, str]] = Field(default_factory=list, max_length=100)
    payload: dict[str, Any] = Field(default_factory=dict)
    id: UUID = Field(default_factory=uuid4)
    follows: UUID | None = None

    @field_validator("occurred")
    @classmethod
    def _occurred_is_aware(cls, value: datetime) -> datetime:
        return _aware(value)

    @field_validator("resource", mode="before")
    @classmethod
    def _valid_resource(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValueError("resource must be an object of string labels")
        _check_labels(value, "resource")
        if not value.get(RESOURCE_ID):
            raise ValueError(f"resource must have a non-empty {RESOURCE_ID!r} label")
        if len(value) > 500:
            raise ValueError(f"resource has {len(value)} labels; at most 500 are allowed")
        return value

    @field_validator("related", mode="before")
    @classmethod
    def _valid_related(cls, value: Any) -> Any:
        if value is None:
            return []
        if not isinstance(value, list):
            raise ValueError("related must be a list of resources")
        for i, item in enumerate(value):
            if not isinstance(item, Mapping):
                raise ValueError(f"related[{i}] must be an object of string labels")
            _check_labels(item, f"related[{i}]")
            if not item.get(RESOURCE_ID):
                raise ValueError(f"related[{i}] must have a non-empty {RESOURCE_ID!r} label")
            if not item.get(RESOURCE_ROLE):
                raise ValueError(f"related[{i}] must have a non-empty {RESOURCE_ROLE!r} label")
            if len(item) > 500:
                raise ValueError(f"related[{i}] has more than 500 labels")
        return value


_NEW, _OLD = TypeAdapter(list[Event]), TypeAdapter(list[Reference])


def _outcome(adapter: TypeAdapter[Any], data: Any, as_json: bool) -> Any:
    try:
        got = adapter.validate_json(json.dumps(data)) if as_json else adapter.validate_python(data)
    except ValidationError as exc:
        return "rejected", [(e["loc"], e["msg"], e["type"]) for e in exc.errors()]
    out = []
    for event in got:
        assert event.occurred.tzinfo is timezone.utc
        out.append({name: (type(value), value) for name, value in event.__dict__.items()})
    return "accepted", out


def _same(data: list[Any]) -> None:
    for as_json in (True, False):
        assert _outcome(_NEW, data, as_json) == _outcome(_OLD, data, as_json), (as_json, data)


# --- generated inputs -------------------------------------------------------------------------------------------

_text = st.text(alphabet="ab.-é\x00\"\\", max_size=4)
_value = st.one_of(_text, _text, _text, st.integers(-2, 2), st.none(), st.booleans(), st.lists(_text, max_size=1),
                   st.dictionaries(_text, _text, max_size=1))
_keys = st.sampled_from([RESOURCE_ID, RESOURCE_ROLE, "prefect.resource.name", "env", "a"])


@st.composite
def _labels(draw: Any) -> Any:
    labels = draw(st.dictionaries(_keys, _value, max_size=4))
    if draw(st.booleans()):
        labels[RESOURCE_ID] = draw(st.sampled_from(["r", "prefect.flow.1", ""]))
    if draw(st.booleans()):
        labels[RESOURCE_ROLE] = draw(st.sampled_from(["flow", "tag", ""]))
    return labels


_resource = st.one_of(_labels(), _labels(), _labels(), _value)
_related = st.one_of(st.lists(st.one_of(_labels(), _labels(), _labels(), _value), max_size=4), _value)
_when = st.sampled_from(["2024-05-01T10:00:00Z", "2024-05-01T10:00:00.123456+02:00", "2024-05-01T10:00:00",
                         "2024-05-01 10:00:00.5-05:30", "2024-05-01", "1714557600", 1714557600, "not a date",
                         None, 3.5, "2024-13-01T00:00:00Z"])


@st.composite
def _event(draw: Any) -> Any:
    event: dict[str, Any] = {"event": draw(st.sampled_from(["x", "prefect.flow-run.Failed", "", 5, "e" * 1025])),
                             "resource": draw(_resource)}
    if draw(st.booleans()):
        event["related"] = draw(_related)
    if draw(st.booleans()):
        event["occurred"] = draw(_when)
    if draw(st.booleans()):
        event["payload"] = draw(st.one_of(st.dictionaries(_text, _value, max_size=3), _value))
    if draw(st.booleans()):
        event["id"] = draw(st.sampled_from([str(uuid4()), uuid4().hex, "nope", 7]))
    if draw(st.booleans()):
        event["follows"] = draw(st.sampled_from([None, str(uuid4()), "nope"]))
    if draw(st.booleans()):
        event[draw(_text)] = draw(_value)  # extra keys are ignored
    return event


@settings(max_examples=400, deadline=None)
@given(st.lists(_event(), min_size=1, max_size=3))
def test_acceptance_values_and_errors_are_those_of_the_plain_rules(events: list[Any]) -> None:
    fixed = [dict(e, id=str(uuid4())) if "id" not in e else e for e in events]  # default ids differ per run
    for e in fixed:
        e.setdefault("occurred", "2024-05-01T10:00:00Z")
    _same(fixed)


_ROLE = {RESOURCE_ID: "x", RESOURCE_ROLE: "r"}


@pytest.mark.parametrize("change", [
    {"related": [_ROLE] * 100},
    {"related": [_ROLE] * 101},
    {"related": [_ROLE] * 101 + [{}]},
    {"related": [_ROLE] * 101 + [{RESOURCE_ID: "x", RESOURCE_ROLE: "r", "n": 1}]},
    {"related": [{**_ROLE, **{f"l{i}": "v" for i in range(498)}}]},
    {"related": [{**_ROLE, **{f"l{i}": "v" for i in range(499)}}]},
    {"resource": {RESOURCE_ID: "r", **{f"l{i}": "v" for i in range(499)}}},
    {"resource": {RESOURCE_ID: "r", **{f"l{i}": "v" for i in range(500)}}},
    {"resource": {RESOURCE_ID: "r", "n": 3, **{f"l{i}": "v" for i in range(500)}}},
    {"event": "", "resource": {"name": "x"}, "related": "x", "occurred": "bad"},
])
def test_limits_and_several_problems_at_once(change: dict[str, Any]) -> None:
    _same([{"event": "x", "resource": {RESOURCE_ID: "r"}, "id": str(uuid4()), "occurred": "2024-05-01T10:00:00Z",
            **change}])


class Label(str):
    pass


@pytest.mark.parametrize("labels", [
    MappingProxyType({RESOURCE_ID: "r", RESOURCE_ROLE: "t"}),
    {RESOURCE_ID: Label("r"), RESOURCE_ROLE: "t"},
    {RESOURCE_ID: "r", RESOURCE_ROLE: b"t"},
    {RESOURCE_ID: "r", RESOURCE_ROLE: "t", 1: "x"},
    {RESOURCE_ID: "r", RESOURCE_ROLE: "t", 1: 2},
])
def test_python_inputs_outside_the_json_shapes(labels: Any) -> None:
    base = {"event": "x", "id": str(uuid4()), "occurred": datetime(2024, 5, 1)}
    for change in ({"resource": labels}, {"resource": {RESOURCE_ID: "r"}, "related": [labels]},
                   {"resource": {RESOURCE_ID: "r"}, "related": (dict(labels),)}):
        data = [{**base, **change}]
        assert _outcome(_NEW, data, False) == _outcome(_OLD, data, False), data


def test_received_events_and_receive_keep_the_rules() -> None:
    sent = Event.model_validate({"event": "x", "resource": {RESOURCE_ID: "r"}, "related": [_ROLE],
                                 "occurred": "2024-05-01T12:00:00+02:00"})
    received = sent.receive(datetime(2024, 5, 1, 10, 0, 1))
    assert received.received.tzinfo is timezone.utc and received.occurred.tzinfo is timezone.utc
    assert received.resource == sent.resource and received.resource is not sent.resource
    assert ReceivedEvent.model_validate_json(received.model_dump_json()) == received
    with pytest.raises(ValidationError, match="related"):
        ReceivedEvent.model_validate({"event": "x", "resource": {RESOURCE_ID: "r"}, "related": [{RESOURCE_ID: "a"}]})
