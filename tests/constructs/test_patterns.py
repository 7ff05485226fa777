"""Synth tests of the L2 patterns: exact trigger/action JSON and construct ids."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tocsin.constructs import (
    ConstructError,
    EventTrigger,
    FlowRunFailureAlert,
    FlowSla,
    HeartbeatMonitor,
    HeartbeatTarget,
    PagerDuty,
    SlackWebhook,
    SlaKind,
    TfBlock,
    TieredAlerting,
    WebhookForward,
)
from tocsin.constructs.patterns import DEFAULT_FAILURE_BODY, DEFAULT_FAILURE_SUBJECT, DEFAULT_FORWARD_PAYLOAD

from construct_helpers import synth

TERMINAL = ["prefect.flow-run.Completed", "prefect.flow-run.Failed", "prefect.flow-run.Crashed",
            "prefect.flow-run.Cancelled"]
FAILED = ["prefect.flow-run.Failed", "prefect.flow-run.Crashed"]
RUNS = {"prefect.resource.id": "prefect.flow-run.*"}


def _channels(stack):
    slack = TfBlock(stack, "slack", name="slack", block=SlackWebhook(url="https://hooks.example.test/s"))
    pd = TfBlock(stack, "pd", name="pd", block=PagerDuty(routing_key_secret="pd-key"))
    return slack, pd


def _autos(stack):
    """{logical id without its hash: resource} of the stack's automations, JSON attributes decoded.

    cdktf names a nested resource after its path, dropping a "Resource" component and adding a hash:
    Tiered/Critical -> Tiered_Critical_<hash>, Failures/Resource -> Failures_<hash>."""
    raw = synth(stack)["resource"]["tocsin_automation"]
    out = {}
    for logical_id, res in raw.items():
        for key in ("trigger", "actions", "actions_on_trigger", "actions_on_resolve"):
            res[key] = json.loads(res[key])
        out[logical_id.rsplit("_", 1)[0]] = res
    return out


def test_flow_run_failure_alert(stack):
    slack, _ = _channels(stack)
    FlowRunFailureAlert(stack, "Failures", channel=slack, tags=["dlt"])
    assert _autos(stack) == {"Failures": {
        "name": f"{stack.node.path}/Failures",
        "description": "",
        "enabled": True,
        "tags": ["tocsin:flow-run-failure"],
        "trigger": {"type": "event", "match": RUNS,
                    "match_related": {"prefect.resource.role": "tag", "prefect.resource.id": ["prefect.tag.dlt"]},
                    "after": [], "expect": FAILED, "for_each": [], "posture": "Reactive", "threshold": 1,
                    "within": 0},
        "actions": [{"type": "send-notification", "block_document_id": "${tocsin_block.slack.id}",
                     "subject": DEFAULT_FAILURE_SUBJECT, "body": DEFAULT_FAILURE_BODY}],
        "actions_on_trigger": [],
        "actions_on_resolve": [],
    }}


def test_failure_alert_with_tags_and_flows_ands_both_filters(stack):
    slack, _ = _channels(stack)
    alert = FlowRunFailureAlert(stack, "F", channel=slack, tags=["a", "b"], flows=["etl"], states=["Failed"],
                                name="n", subject="s", body="b")
    trig = _autos(stack)["F"]["trigger"]
    assert trig["match_related"] == [
        {"prefect.resource.role": "tag", "prefect.resource.id": ["prefect.tag.a", "prefect.tag.b"]},
        {"prefect.resource.role": "flow", "prefect.resource.name": ["etl"]},
    ]
    assert trig["expect"] == ["prefect.flow-run.Failed"]
    assert alert.automation.node.id == "Resource"


def test_tiered_alerting_seed_004(stack):
    slack, pd = _channels(stack)
    TieredAlerting(stack, "Tiered", slack=slack, pagerduty=pd, tags=["dlt"], name="dlt")
    autos = _autos(stack)
    assert set(autos) == {"Tiered_Warning", "Tiered_Critical"}
    warning, critical = autos["Tiered_Warning"], autos["Tiered_Critical"]
    related = {"prefect.resource.role": "tag", "prefect.resource.id": ["prefect.tag.dlt"]}
    assert warning["trigger"] == {"type": "event", "match": RUNS, "match_related": related, "after": [],
                                  "expect": FAILED, "for_each": [], "posture": "Reactive", "threshold": 1,
                                  "within": 0}
    assert critical["trigger"] == {"type": "event", "match": RUNS, "match_related": related, "after": [],
                                   "expect": FAILED, "for_each": ["related:flow:prefect.resource.id"],
                                   "posture": "Reactive", "threshold": 3, "within": 86400}
    assert [a["block_document_id"] for a in warning["actions"]] == ["${tocsin_block.slack.id}"]
    assert [a["block_document_id"] for a in critical["actions"]] == ["${tocsin_block.slack.id}",
                                                                      "${tocsin_block.pd.id}"]
    assert critical["actions"][1]["subject"] == "[CRITICAL] {{ flow.name }} failed repeatedly"
    assert (warning["name"], critical["name"]) == ("dlt warning", "dlt critical")


def test_tiered_alerting_rejects_threshold_one(stack):
    slack, pd = _channels(stack)
    with pytest.raises(ConstructError, match=r"critical_threshold: must be an integer >= 2.*received 1"):
        TieredAlerting(stack, "T", slack=slack, pagerduty=pd, critical_threshold=1)


def test_flow_sla_late_finish_and_late_start(stack):
    slack, _ = _channels(stack)
    FlowSla(stack, "Finish", channel=slack, within=timedelta(seconds=15), cancel_late_runs=True, name="finish")
    FlowSla(stack, "Start", channel=slack, kind=SlaKind.LATE_START, within=600, tags=["etl"], name="start")
    autos = _autos(stack)
    finish, start = autos["Finish"], autos["Start"]
    assert finish["trigger"] == {"type": "event", "match": RUNS, "match_related": {},
                                 "after": ["prefect.flow-run.Running"], "expect": TERMINAL,
                                 "for_each": ["prefect.resource.id"], "posture": "Proactive", "threshold": 1,
                                 "within": 15}
    assert finish["actions"] == [
        {"type": "send-notification", "block_document_id": "${tocsin_block.slack.id}",
         "subject": "SLA late-finish: {{ flow.name }} has not finished after 15 s",
         "body": "Flow run {{ flow_run.name }} of {{ flow.name }} has not finished within 15 s (late-finish SLA)."},
        {"type": "cancel-flow-run"},
    ]
    assert start["trigger"]["after"] == ["prefect.flow-run.Scheduled"]
    assert start["trigger"]["expect"] == ["prefect.flow-run.Pending", "prefect.flow-run.Running", *TERMINAL]
    assert start["trigger"]["within"] == 600
    assert start["tags"] == ["tocsin:sla:late-start"]


def test_flow_sla_validation(stack):
    slack, _ = _channels(stack)
    with pytest.raises(ConstructError, match=r"EventTrigger.within: a Proactive trigger needs within >= 10 seconds"):
        FlowSla(stack, "A", channel=slack, within=5)
    with pytest.raises(ConstructError, match=r"FlowSla.kind: must be SlaKind.*received 'late'"):
        FlowSla(stack, "B", channel=slack, within=60, kind="late")
    with pytest.raises(ConstructError, match=r"FlowSla.channel: must be a block construct"):
        FlowSla(stack, "C", channel=None, within=60)


def test_heartbeat_monitor_zombie_flows_and_workers(stack):
    slack, _ = _channels(stack)
    HeartbeatMonitor(stack, "Zombies", channel=slack, mark_crashed=True, name="z")
    HeartbeatMonitor(stack, "Workers", channel=slack, target=HeartbeatTarget.WORKERS, work_pools=["k8s"], name="w")
    autos = _autos(stack)
    zombies, workers = autos["Zombies"], autos["Workers"]
    assert zombies["trigger"] == {"type": "event", "match": RUNS, "match_related": {},
                                  "after": ["prefect.flow-run.heartbeat"],
                                  "expect": ["prefect.flow-run.heartbeat", *TERMINAL],
                                  "for_each": ["prefect.resource.id"], "posture": "Proactive", "threshold": 1,
                                  "within": 90}
    assert zombies["actions"][1] == {"type": "change-flow-run-state", "state": "CRASHED",
                                     "message": "No heartbeat within 90 s"}
    assert workers["trigger"] == {"type": "event", "match": {"prefect.resource.id": "prefect.worker.*"},
                                  "match_related": {"prefect.resource.role": "work-pool",
                                                    "prefect.resource.name": ["k8s"]},
                                  "after": ["prefect.worker.heartbeat"],
                                  "expect": ["prefect.worker.heartbeat", "prefect.worker.stopped"],
                                  "for_each": ["prefect.resource.id"], "posture": "Proactive", "threshold": 1,
                                  "within": 300}
    with pytest.raises(ConstructError, match="mark_crashed: only applies to HeartbeatTarget.FLOW_RUNS"):
        HeartbeatMonitor(stack, "Bad", channel=slack, target="workers", mark_crashed=True)


def test_webhook_forward_creates_its_block(stack):
    from tocsin.constructs._cdk import TerraformVariable

    url = TerraformVariable(stack, "hook_url", type="string", sensitive=True)
    trig = EventTrigger(expect=["prefect.flow-run.Completed"], match=RUNS)
    WebhookForward(stack, "Fwd", trigger=trig, url=url.string_value, headers={"X-Team": "data"}, name="fwd")
    out = synth(stack)
    blocks = out["resource"]["tocsin_block"]
    assert list(blocks.values()) == [{"name": "fwd webhook", "type": "webhook",
                                      "data": '{"method":"POST","url":"${var.hook_url}","headers":{"X-Team":"data"}}'}]
    block_address = next(iter(blocks))
    auto = next(iter(out["resource"]["tocsin_automation"].values()))
    assert json.loads(auto["actions"]) == [{"type": "call-webhook", "block_document_id":
                                            "${tocsin_block.%s.id}" % block_address, "payload": DEFAULT_FORWARD_PAYLOAD}]
    assert json.loads(auto["trigger"]) == trig.to_json()


def test_webhook_forward_needs_one_target(stack):
    slack, _ = _channels(stack)
    with pytest.raises(ConstructError, match="Webhook: one of url or url_secret is required"):
        WebhookForward(stack, "A", trigger=EventTrigger())
    with pytest.raises(ConstructError, match="give webhook, or url/url_secret, not both"):
        WebhookForward(stack, "B", trigger=EventTrigger(), webhook=slack, url="https://x.test")
