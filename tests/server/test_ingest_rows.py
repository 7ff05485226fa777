"""POST bodies to event rows: the one-pass path (`sent_json_rows`) must give exactly the rows the Event model path
gives (`sent_event_rows` of the validated events), and give way to it for anything else, so acceptance, errors
and stored bodies stay those of the Event model."""

from __future__ import annotations

import functools
import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.errors import ValidationFailed
from tocsin.schemas.events import RESOURCE_ID, RESOURCE_ROLE, ReceivedEvent, validate_sent_batch
from tocsin.server.routes.events import parse_events, parse_rows
from tocsin.store.events import sent_event_rows, sent_json_rows

RECEIVED = datetime(2024, 5, 1, 10, 0, 0, 250, tzinfo=timezone.utc)


def _reference(raw: bytes) -> Any:
    try:
        return sent_event_rows(parse_events(raw), RECEIVED)
    except ValidationFailed as exc:
        return ("rejected", exc.problems)


def _check(events: Any, **dumps: Any) -> list[tuple[Any, ...]] | None:
    """The one-pass rows of a body, after checking them against the Event model path."""
    raw = json.dumps(events, **dumps).encode()
    fast, slow = sent_json_rows(raw, RECEIVED), _reference(raw)
    # the server writes the JSON with orjson; without it (a venv with the schemas only) pydantic-core does
    with_orjson = validate_sent_batch(raw, functools.partial(orjson.dumps, option=orjson.OPT_UTC_Z))
    without = validate_sent_batch(raw)
    assert (with_orjson and with_orjson[1]) == (without and without[1])  # the JSON; a NaN is not equal to itself
    if fast is not None:
        assert fast == slow, raw
    if isinstance(slow, list):
        assert parse_rows(raw, RECEIVED) == slow
    else:
        with pytest.raises(ValidationFailed) as caught:
            parse_rows(raw, RECEIVED)
        assert ("rejected", caught.value.problems) == slow
    return fast


# --- generated bodies -------------------------------------------------------------------------------------------
_text = st.text(max_size=6)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)
_labels = st.dictionaries(st.sampled_from(["prefect.resource.name", "env", "é", 'a"b', '},{"occurred":"']), _text,
                          max_size=3)
_utc_when = st.one_of(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)).map(
        lambda d: d.isoformat() + "Z"),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)).map(
        lambda d: d.isoformat(sep=" ") + "+00:00"),
    st.sampled_from(["2024-05-01T10:00:00.1234567Z", "2024-05-01T10:00:00-00:00", "1714557600", 1714557600,
                     1714557600.5, 1714557600123]))
_other_when = st.sampled_from(["2024-05-01T10:00:00.5+02:00", "2024-05-01T10:00:00", "2024-05-01", "not a date",
                               None, "2024-13-01T00:00:00Z", "2024-05-01T10:00:00-05:30"])
_uuid = st.integers(0, 2**128 - 1).map(lambda n: str(uuid.UUID(int=n)))
_other_uuid = st.one_of(_uuid.map(str.upper), _uuid.map(lambda u: u.replace("-", "")),
                        _uuid.map(lambda u: "urn:uuid:" + u), _uuid.map(lambda u: "{" + u + "}"),
                        _uuid.map(lambda u: u + "0"), st.sampled_from(["nope", 7, ""]))


@st.composite
def _event(draw: Any, common: bool) -> dict[str, Any]:
    """An event as a client might send it; with `common`, always in the shape the one-pass path takes."""
    other = (lambda strategy: strategy) if not common else (lambda strategy: st.nothing())
    data: dict[str, Any] = {
        "event": draw(st.sampled_from(["x", "prefect.flow-run.Failed", "é" * 3]) | other(st.sampled_from(
            ["", 5, "e" * 1025]))),
        "resource": {RESOURCE_ID: draw(st.text(min_size=1, max_size=8) | other(st.sampled_from(["", 3]))),
                     **draw(_labels | other(st.just({"n": 1})))},
        "occurred": draw(_utc_when | other(_other_when)),
        "id": draw(_uuid | other(_other_uuid)),
    }
    if draw(st.booleans()):
        data["related"] = [{RESOURCE_ID: draw(st.text(min_size=1, max_size=5) | other(st.just(""))),
                            RESOURCE_ROLE: draw(st.sampled_from(["flow", "tag"]) | other(st.just(""))), **labels}
                           for labels in draw(st.lists(_labels, max_size=3))]
    if draw(st.booleans()):
        data["payload"] = draw(st.dictionaries(_text, _json, max_size=4) | other(st.sampled_from([None, [], "x"])))
    if draw(st.booleans()):
        data["follows"] = draw(st.none() | _uuid | other(_other_uuid))
    if draw(st.booleans()):
        data[draw(_text)] = draw(_json)  # extra keys are ignored
    if not common and draw(st.booleans()):
        del data[draw(st.sampled_from(["event", "resource"]))]
    return data


@settings(max_examples=300, deadline=None)
@given(st.lists(_event(common=True), max_size=5), st.sampled_from([{}, {"indent": 1}, {"ensure_ascii": False}]))
def test_common_shape_bodies_take_one_pass_to_the_same_rows(events: list[Any], dumps: dict[str, Any]) -> None:
    rows = _check(events, **dumps)
    # only a payload holding the cut between two events' JSON sends a valid common-shape batch the long way
    cut_in_payload = '},{"occurred":"' in json.dumps([e.get("payload") for e in events], separators=(",", ":"))
    assert rows is not None or cut_in_payload, events


@settings(max_examples=400, deadline=None)
@given(st.lists(_event(common=False), min_size=1, max_size=3))
def test_other_bodies_are_left_to_the_event_model(events: list[Any]) -> None:
    _check(events)


@pytest.mark.parametrize("change", [
    {"occurred": "2024-05-01T10:00:00.5+02:00"},
    {"occurred": "2024-05-01T10:00:00-05:30"},
    {"occurred": "2024-05-01T10:00:00"},
    {"occurred": "2024-05-01"},
    {"id": "0B2D5E8C-0F4B-4A6E-9C3D-5F6A7B8C9D0E"},
    {"id": "0b2d5e8c0f4b4a6e9c3d5f6a7b8c9d0e"},
    {"follows": "urn:uuid:0b2d5e8c-0f4b-4a6e-9c3d-5f6a7b8c9d0e"},
    {"related": None},
])
def test_valid_events_outside_the_common_shape_are_normalised_by_the_event_model(change: dict[str, Any]) -> None:
    event = {"event": "x", "resource": {RESOURCE_ID: "r"}, "id": str(uuid.uuid4()),
             "occurred": "2024-05-01T10:00:00Z", **change}
    assert _check([event]) is None
    assert isinstance(_reference(json.dumps([event]).encode()), list)


@pytest.mark.parametrize("body", [b"", b"[", b"{}", b'{"event": "x"}', b"[1]", b"[[]]", b"null", b'"[]"',
                                  b"[{}]", b"\xff", b'[{"event": "x", "resource": {"prefect.resource.id": "r"}},]'])
def test_bodies_that_are_not_batches_get_the_event_model_answer(body: bytes) -> None:
    assert sent_json_rows(body, RECEIVED) is None
    with pytest.raises(ValidationFailed) as caught:
        parse_rows(body, RECEIVED)
    assert caught.value.problems == _reference(body)[1]


_ROLE = {RESOURCE_ID: "x", RESOURCE_ROLE: "r"}


@pytest.mark.parametrize("change", [
    {"related": [_ROLE] * 100},
    {"related": [_ROLE] * 101},
    {"related": [{**_ROLE, **{f"l{i}": "v" for i in range(498)}}]},
    {"related": [{**_ROLE, **{f"l{i}": "v" for i in range(499)}}]},
    {"resource": {RESOURCE_ID: "r", **{f"l{i}": "v" for i in range(499)}}},
    {"resource": {RESOURCE_ID: "r", **{f"l{i}": "v" for i in range(500)}}},
    {"event": "e" * 1024},
    {"event": "e" * 1025},
    {"related": [{RESOURCE_ROLE: "r"}]},
    {"related": [{RESOURCE_ID: "x"}]},
    {"related": None},
    {"id": "0b2d5e8c-0f4b-4a6e-9c3d-5f6a7b8c9d0e0"},
    {"follows": "x0b2d5e8c-0f4b-4a6e-9c3d-5f6a7b8c9d0e"},
    {"resource": {"name": "no id"}},
    {"payload": {"p": [{}, {"occurred": "x"}]}},  # the cut between events, inside a payload
    {"payload": {"big": 2**80, "float": 1e16, "tiny": 5e-324, "nan": float("nan"), "text": "\u2028\x00\ud7ff"}},
    {"payload": {"ints": [2**63 - 1, -(2**63), 2**64 - 1], "floats": [1e21, 1e-7, 0.1, -0.0, 1.7976931348623157e308]}},
    {"occurred": "0001-01-01T00:00:00.5Z"},
    {"occurred": "9999-12-31T23:59:59.999999Z"},
])
def test_limits_and_edges(change: dict[str, Any]) -> None:
    base = {"event": "x", "resource": {RESOURCE_ID: "r"}, "id": str(uuid.uuid4()), "occurred": "2024-05-01T10:00:00Z"}
    _check([base, {**base, "id": str(uuid.uuid4()), **change}])


def test_defaults_are_those_of_the_event_model() -> None:
    before = datetime.now(timezone.utc)
    [row] = sent_json_rows(b'[{"event": "x", "resource": {"prefect.resource.id": "r"}}]', RECEIVED) or [None]
    after = datetime.now(timezone.utc)
    stored = ReceivedEvent.model_validate_json(row[5])
    assert row[0] == str(stored.id) and stored.id.version == 4
    assert before <= stored.occurred <= after
    assert row[1] == (stored.occurred - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)
    assert (stored.related, stored.payload, stored.follows, stored.received) == ([], {}, None, RECEIVED)
    assert row[5] == stored.model_dump_json()
