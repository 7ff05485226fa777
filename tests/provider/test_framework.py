"""Shared planning rules and schema conversion (framework.py)."""

from __future__ import annotations

import json

from tocsin.provider.cty import Unknown
from tocsin.provider.framework import Diagnostics
from tocsin.provider.proto import pb
from tocsin.provider.provider import TocsinProvider
from tocsin.provider.resources.automation import AutomationResource
from tocsin.provider.resources.block import BlockResource
from tocsin.provider.resources.secret import SecretResource

TRIGGER = '{"expect":["prefect.flow-run.Failed"]}'


def _automation_state(**over: object) -> dict[str, object]:
    state = {"id": "a1", "name": "n", "description": "", "enabled": True, "tags": [], "trigger": TRIGGER,
             "actions": "[]", "actions_on_trigger": "[]", "actions_on_resolve": "[]", "created": "c", "updated": "u"}
    return {**state, **over}


def _plan(res: object, prior: dict | None, config: dict) -> tuple[dict, list[str]]:
    schema = res.schema  # type: ignore[attr-defined]
    config = schema.complete(config, config=True)
    proposed = dict(config)
    if prior is not None:
        for a in schema.attributes:
            if a.computed and config.get(a.name) is None:
                proposed[a.name] = prior[a.name]
    proposed = schema.complete(proposed)
    planned, replace = res.plan_change(prior, proposed, config, Diagnostics())  # type: ignore[attr-defined]
    return planned, replace


def test_schema_declares_write_only_and_sensitive_attributes_in_the_protocol() -> None:
    proto = SecretResource.schema.to_proto(pb)
    attrs = {a.name: a for a in proto.block.attributes}
    assert attrs["value_wo"].write_only and attrs["value_wo"].sensitive and attrs["value_wo"].optional
    assert attrs["value"].sensitive and not attrs["value"].write_only
    assert json.loads(attrs["value_wo_version"].type) == "number"
    assert json.loads(AutomationResource.schema.to_proto(pb).block.attributes[4].type) == ["list", "string"]
    provider = {a.name: a for a in TocsinProvider.schema.to_proto(pb).block.attributes}
    assert provider["token"].sensitive and provider["url"].optional


def test_create_plans_defaults_and_unknown_computed_values() -> None:
    planned, replace = _plan(AutomationResource(None), None, {"name": "n", "trigger": TRIGGER})
    assert planned["description"] == "" and planned["enabled"] is True and planned["tags"] == []
    assert planned["actions"] == "[]" and planned["id"] is Unknown and planned["updated"] is Unknown
    assert replace == []


def test_same_trigger_in_other_words_plans_no_change() -> None:
    prior = _automation_state(trigger='{"type":"event","expect":["prefect.flow-run.Failed"],"threshold":1,'
                                      '"id":"6d8c3f0e-0000-4000-8000-000000000000","within":0}')
    planned, _ = _plan(AutomationResource(None), prior, {"name": "n", "trigger": TRIGGER})
    assert planned == prior


def test_a_real_trigger_change_plans_the_new_text_and_an_unknown_updated() -> None:
    prior = _automation_state()
    new = '{"expect":["prefect.flow-run.Crashed"]}'
    planned, _ = _plan(AutomationResource(None), prior, {"name": "n", "trigger": new})
    assert planned["trigger"] == new and planned["updated"] is Unknown and planned["id"] == "a1"


def test_write_only_values_are_planned_null_and_a_version_bump_is_an_update() -> None:
    prior = {"id": "s1", "name": "x", "value": None, "value_wo": None, "value_wo_version": 1, "version": 1,
             "updated": "u"}
    planned, replace = _plan(SecretResource(None), prior, {"name": "x", "value_wo": "pw", "value_wo_version": 1})
    assert planned == prior and replace == []
    planned, replace = _plan(SecretResource(None), prior, {"name": "x", "value_wo": "pw", "value_wo_version": 2})
    assert planned["value_wo"] is None and planned["version"] is Unknown and replace == []


def test_renaming_a_secret_or_retyping_a_block_forces_replacement() -> None:
    prior = {"id": "s1", "name": "x", "value": "v", "value_wo": None, "value_wo_version": None, "version": 1,
             "updated": "u"}
    planned, replace = _plan(SecretResource(None), prior, {"name": "y", "value": "v"})
    assert replace == ["name"] and planned["id"] is Unknown
    prior_b = {"id": "b1", "name": "b", "type": "email", "data": "{}", "data_wo": None, "data_wo_version": None}
    _, replace = _plan(BlockResource(None), prior_b, {"name": "b", "type": "slack-webhook", "data": "{}"})
    assert replace == ["type"]


def test_block_reads_ignore_masked_and_write_only_fields() -> None:
    res = BlockResource(None)
    server = {"id": "b1", "name": "b", "type": "slack-webhook",
              "data": {"channel": "#a", "url": {"secret": True}}}
    prior = {"data": '{"channel": "#a"}', "data_wo_version": 1, "type": "slack-webhook"}
    assert res.to_state(server, prior, {"url"})["data"] == '{"channel": "#a"}'
    drifted = {**server, "data": {"channel": "#b", "url": {"secret": True}}}
    assert json.loads(res.to_state(drifted, prior, {"url"})["data"]) == {"channel": "#b"}


def test_secret_rotated_outside_terraform_reads_as_needing_an_update() -> None:
    prior = {"id": "s1", "name": "x", "value": None, "value_wo_version": 3, "version": 1}
    state = SecretResource(None).to_state({"id": "s1", "name": "x", "version": 2, "updated": "u"}, prior)
    assert state["value_wo_version"] is None and state["version"] == 2


def test_validation_names_the_attribute_and_the_field() -> None:
    diags = Diagnostics()
    config = AutomationResource.schema.complete(
        {"name": "n", "trigger": '{"posture":"Proactive","expect":["a"],"within":5}', "actions": "{}"}, config=True)
    AutomationResource(None).validate(config, diags)
    by_path = {d.path: d.detail for d in diags.items}
    assert by_path[("trigger",)] == "trigger.within: a Proactive trigger needs within >= 10 seconds, got 5"
    assert "must be JSON of a list" in by_path[("actions",)]


def test_unknown_values_are_not_validated() -> None:
    diags = Diagnostics()
    AutomationResource(None).validate({"name": "n", "trigger": Unknown, "actions": Unknown}, diags)
    SecretResource(None).validate({"name": "n", "value": None, "value_wo": Unknown, "value_wo_version": 1}, diags)
    assert diags.items == []
