"""Canonical JSON forms: what the engine adds (defaults, ids) never counts as a difference."""

from __future__ import annotations

import json

import pytest

from tocsin.provider.normalize import canonical_actions, canonical_trigger
from tocsin.schemas.triggers import parse_trigger, trigger_to_json

from .test_terraform_e2e import TRIGGER_SHAPES


@pytest.mark.parametrize("name", sorted(TRIGGER_SHAPES))
def test_the_engines_form_of_every_trigger_shape_equals_the_users(name: str) -> None:
    user = json.dumps(TRIGGER_SHAPES[name])
    engine = json.dumps(trigger_to_json(parse_trigger(TRIGGER_SHAPES[name])), indent=2)
    assert canonical_trigger(engine) == canonical_trigger(user)


def test_different_triggers_stay_different() -> None:
    assert canonical_trigger('{"expect":["a"]}') != canonical_trigger('{"expect":["a"],"threshold":2}')
    assert canonical_trigger('{"match_related":{"a":"b"}}') != canonical_trigger('{"match_related":[{"a":"c"}]}')


def test_invalid_json_documents_compare_as_json() -> None:
    assert canonical_trigger('{"type":"nope", "b":1,"a":2}') == canonical_trigger('{"a":2,"b":1,"type":"nope"}')


def test_actions_compare_regardless_of_key_order_and_spacing() -> None:
    assert canonical_actions('[{"type":"do-nothing","x":1}]') == canonical_actions('[ {"x": 1, "type": "do-nothing"} ]')
