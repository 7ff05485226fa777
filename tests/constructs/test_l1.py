"""Synth tests of the L1 constructs: exact Terraform JSON per docs/CONTRACT.md."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tocsin.constructs import (
    CallWebhook,
    ConstructError,
    DataTocsinAutomation,
    DataTocsinBlock,
    DoNothing,
    EventTrigger,
    PauseAutomation,
    Posture,
    SendNotification,
    SlackWebhook,
    TfAutomation,
    TfBlock,
    TfProvider,
    TfSecret,
    Webhook,
    secret_variable,
)
from tocsin.constructs._cdk import TerraformVariable

from construct_helpers import synth

REQUIRED = {"required_providers": {"tocsin": {"source": "tocsin/tocsin", "version": "0.1.0"}}}
EMPTY_TRIGGER = {"type": "event", "match": {}, "match_related": {}, "after": [], "expect": [], "for_each": [],
                 "posture": "Reactive", "threshold": 1, "within": 0}


def test_provider_synthesizes_source_version_and_settings(stack):
    token = TerraformVariable(stack, "tocsin_token", type="string", sensitive=True)
    TfProvider(stack, "tocsin", url="http://127.0.0.1:4300", token=token.string_value)
    TfProvider(stack, "other", url="http://127.0.0.1:4301", alias="other")
    out = synth(stack)
    assert out["terraform"] == REQUIRED
    assert out["provider"] == {"tocsin": [{"url": "http://127.0.0.1:4300", "token": "${var.tocsin_token}"},
                                          {"url": "http://127.0.0.1:4301", "alias": "other"}]}


def test_provider_rejects_a_literal_token_without_echoing_it(stack):
    with pytest.raises(ConstructError) as err:
        TfProvider(stack, "tocsin", token="s3cr3t-token-value")
    assert "TfProvider.token" in str(err.value) and "s3cr3t" not in str(err.value)


def test_automation_exact_json_and_block_reference_inside_actions(stack):
    block = TfBlock(stack, "slack", name="alerts", block=SlackWebhook(url="https://hooks.example.test/T0/B0"))
    TfAutomation(stack, "fail", name="failures", description="d", tags=["team:data"],
                 trigger=EventTrigger(expect=["prefect.flow-run.Failed"],
                                      match={"prefect.resource.id": "prefect.flow-run.*"}),
                 actions=[SendNotification(block=block, subject="{{ flow.name }} failed", body="b")],
                 actions_on_resolve=[DoNothing()])
    out = synth(stack)
    assert out["resource"] == {
        "tocsin_block": {"slack": {"name": "alerts", "type": "slack-webhook",
                                   "data": '{"url":"https://hooks.example.test/T0/B0"}'}},
        "tocsin_automation": {"fail": {
            "name": "failures",
            "description": "d",
            "enabled": True,
            "tags": ["team:data"],
            "trigger": '{"type":"event","match":{"prefect.resource.id":"prefect.flow-run.*"},"match_related":{},'
                       '"after":[],"expect":["prefect.flow-run.Failed"],"for_each":[],"posture":"Reactive",'
                       '"threshold":1,"within":0}',
            "actions": '[{"type":"send-notification","block_document_id":"${tocsin_block.slack.id}",'
                       '"subject":"{{ flow.name }} failed","body":"b"}]',
            "actions_on_trigger": "[]",
            "actions_on_resolve": '[{"type":"do-nothing"}]',
        }},
    }


def test_references_between_resources_and_data_sources(stack):
    existing = DataTocsinBlock(stack, "pager", name="pagerduty")
    auto_ref = DataTocsinAutomation(stack, "other", id_="0b6f5d5e-1111-4222-8333-444455556666")
    hook = TfBlock(stack, "hook", name="hook", block=Webhook(url="https://example.test/hook"))
    first = TfAutomation(stack, "a", name="a", trigger=EventTrigger(),
                         actions=[SendNotification(block=existing, body="x"), CallWebhook(block=hook, payload="{{ event.id }}")])
    TfAutomation(stack, "b", name="b", trigger=EventTrigger(),
                 actions=[PauseAutomation(automation=first), PauseAutomation(automation=auto_ref),
                          PauseAutomation(), SendNotification(block="3f9c2f0e-0000-4000-8000-000000000001", body="x")])
    out = synth(stack)
    assert out["data"] == {"tocsin_automation": {"other": {"id": "0b6f5d5e-1111-4222-8333-444455556666"}},
                           "tocsin_block": {"pager": {"name": "pagerduty"}}}
    autos = out["resource"]["tocsin_automation"]
    assert json.loads(autos["a"]["actions"]) == [
        {"type": "send-notification", "block_document_id": "${data.tocsin_block.pager.id}", "body": "x"},
        {"type": "call-webhook", "block_document_id": "${tocsin_block.hook.id}", "payload": "{{ event.id }}"},
    ]
    assert json.loads(autos["b"]["actions"]) == [
        {"type": "pause-automation", "source": "selected", "automation_id": "${tocsin_automation.a.id}"},
        {"type": "pause-automation", "source": "selected", "automation_id": "${data.tocsin_automation.other.id}"},
        {"type": "pause-automation", "source": "inferred"},
        {"type": "send-notification", "block_document_id": "3f9c2f0e-0000-4000-8000-000000000001", "body": "x"},
    ]
    assert json.loads(autos["b"]["trigger"]) == EMPTY_TRIGGER


def test_literal_template_sequences_are_escaped_for_terraform(stack):
    block = TfBlock(stack, "slack", name="s", block=SlackWebhook(url="https://example.test/x"))
    TfAutomation(stack, "a", name="a", trigger=EventTrigger(),
                 actions=[SendNotification(block=block, subject="costs ${amount} and %{ if }", body="{% if x %}y{% endif %}")])
    actions = synth(stack)["resource"]["tocsin_automation"]["a"]["actions"]
    # Terraform turns $${ / %%{ back into ${ / %{; the block reference stays a live interpolation
    assert actions == ('[{"type":"send-notification","block_document_id":"${tocsin_block.slack.id}",'
                       '"subject":"costs $${amount} and %%{ if }","body":"{% if x %}y{% endif %}"}]')


def test_block_write_only_data(stack):
    url = secret_variable(stack, "slack_url")
    TfBlock(stack, "slack", name="alerts", block=SlackWebhook(url=url.string_value), data_wo_version=2)
    out = synth(stack)
    assert out["resource"]["tocsin_block"] == {"slack": {
        "name": "alerts", "type": "slack-webhook", "data_wo": '{"url":"${var.slack_url}"}', "data_wo_version": 2}}
    assert out["variable"] == {"slack_url": {"type": "string", "sensitive": True, "nullable": False,
                                             "ephemeral": True}}


def test_secret_write_only_and_reference_by_name(stack):
    var = secret_variable(stack, "pd_key", description="PagerDuty key")
    secret = TfSecret(stack, "pd", name="pd-key", value_wo=var.string_value, value_wo_version=1)
    plain = TerraformVariable(stack, "legacy", type="string", sensitive=True)
    TfSecret(stack, "legacy_secret", name="legacy", value=plain.string_value)
    TfBlock(stack, "slack", name="s", block=SlackWebhook(webhook_url_secret=secret.name))
    out = synth(stack)
    assert out["resource"]["tocsin_secret"] == {
        "pd": {"name": "pd-key", "value_wo": "${var.pd_key}", "value_wo_version": 1},
        "legacy_secret": {"name": "legacy", "value": "${var.legacy}"},
    }
    assert out["resource"]["tocsin_block"]["slack"]["data"] == '{"webhook_url_secret":"${tocsin_secret.pd.name}"}'
    assert out["variable"]["pd_key"] == {"type": "string", "sensitive": True, "nullable": False, "ephemeral": True,
                                         "description": "PagerDuty key"}


@pytest.mark.parametrize("kwargs, where", [
    ({"name": "x", "value": "hunter2-literal"}, "literal secret"),
    ({"name": "x"}, "exactly one of value_wo"),
    ({"name": "x", "value_wo": "${TfToken[TOKEN.999999]}"}, "value_wo_version"),
])
def test_secret_validation(stack, kwargs, where):
    with pytest.raises(ConstructError) as err:
        TfSecret(stack, "s", **kwargs)
    assert where in str(err.value)
    assert "hunter2" not in str(err.value)


def test_automation_validation_errors(stack):
    with pytest.raises(ConstructError, match=r"TfAutomation.trigger: must be a typed trigger.*received \{'type'"):
        TfAutomation(stack, "a", name="a", trigger={"type": "event"}, actions=[DoNothing()])  # type: ignore[arg-type]
    with pytest.raises(ConstructError, match=r"TfAutomation.actions\[0\]: must be a typed action"):
        TfAutomation(stack, "b", name="b", trigger=EventTrigger(), actions=[{"type": "do-nothing"}])  # type: ignore[list-item]
    with pytest.raises(ConstructError, match="no actions does nothing.*DoNothing"):
        TfAutomation(stack, "c", name="c", trigger=EventTrigger())
    with pytest.raises(ConstructError, match="TfAutomation.name"):
        TfAutomation(stack, "d", name="  ", trigger=EventTrigger(), actions=[DoNothing()])
    with pytest.raises(ConstructError, match="DataTocsinBlock: give exactly one of id_ or name"):
        DataTocsinBlock(stack, "e")


def test_proactive_trigger_in_automation(stack):
    TfAutomation(stack, "a", name="a", actions=[DoNothing()],
                 trigger=EventTrigger(after=["x.start"], expect=["x.end"], for_each=["prefect.resource.id"],
                                      posture=Posture.PROACTIVE, within=timedelta(minutes=30)))
    trig = json.loads(synth(stack)["resource"]["tocsin_automation"]["a"]["trigger"])
    assert trig == {**EMPTY_TRIGGER, "after": ["x.start"], "expect": ["x.end"], "for_each": ["prefect.resource.id"],
                    "posture": "Proactive", "within": 1800}


@pytest.mark.parametrize("cls, tf_type, props", [
    (DataTocsinAutomation, "tocsin_automation", {"id", "name", "trigger", "actions", "enabled"}),
    (DataTocsinBlock, "tocsin_block", {"id", "name", "type"}),
])
def test_data_sources_share_one_lookup_with_the_same_api(stack, cls, tf_type, props):
    import inspect

    from tocsin.constructs._cdk import TerraformDataSource

    assert list(inspect.signature(cls.__init__).parameters) == ["self", "scope", "id", "id_", "name", "provider"]
    by_name = cls(stack, "by_name", name="n")
    cls(stack, "by_id", id_="0b6f5d5e-1111-4222-8333-444455556666")
    assert isinstance(by_name, TerraformDataSource) and by_name.terraform_resource_type == tf_type
    assert all(getattr(by_name, p) is not None for p in props)
    assert synth(stack)["data"][tf_type] == {"by_name": {"name": "n"},
                                             "by_id": {"id": "0b6f5d5e-1111-4222-8333-444455556666"}}
    for kwargs, where in [({}, f"{cls.__name__}: give exactly one of id_ or name"),
                          ({"id_": "x", "name": "n"}, f"{cls.__name__}: give exactly one of id_ or name"),
                          ({"name": ""}, f"{cls.__name__}.name: must be a non-empty string"),
                          ({"id_": 5}, f"{cls.__name__}.id_: must be a non-empty string")]:
        with pytest.raises(ConstructError, match=where.replace(".", r"\.")):
            cls(stack, f"bad{len(kwargs)}{sorted(kwargs)}", **kwargs)
