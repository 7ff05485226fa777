"""Typed triggers, actions and blocks: JSON shape and eager validation (no synth needed)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tocsin.constructs import (
    CallWebhook,
    ChangeFlowRunState,
    CompoundTrigger,
    ConstructError,
    CustomWebhook,
    Email,
    EventTrigger,
    MetricTrigger,
    MsTeamsWebhook,
    PagerDuty,
    Posture,
    RunDeployment,
    SendNotification,
    SequenceTrigger,
    SlackWebhook,
    TwilioSms,
    Webhook,
)

BLOCK = "3f9c2f0e-0000-4000-8000-000000000001"


def test_composite_triggers_json():
    a = EventTrigger(expect=["a"])
    b = EventTrigger(expect=["b"], posture=Posture.PROACTIVE, within=timedelta(minutes=1))
    assert CompoundTrigger(require="any", within=timedelta(hours=1), triggers=[a, b]).to_json() == {
        "type": "compound", "require": "any", "within": 3600, "triggers": [a.to_json(), b.to_json()]}
    assert SequenceTrigger(triggers=[a, b]).to_json() == {"type": "sequence", "within": None,
                                                          "triggers": [a.to_json(), b.to_json()]}
    assert MetricTrigger(metric="successes", operator="<", threshold=0.9, range=3600,
                         match={"prefect.resource.id": "prefect.flow-run.*"}).to_json() == {
        "type": "metric", "match": {"prefect.resource.id": "prefect.flow-run.*"}, "match_related": {},
        "metric": {"name": "successes", "operator": "<", "threshold": 0.9, "range": 3600, "firing_for": 300}}


@pytest.mark.parametrize("build, message", [
    (lambda: EventTrigger(expect="prefect.flow-run.Failed"), r"EventTrigger.expect: must be a list of strings, not a "
     r"single string; received 'prefect.flow-run.Failed'; write EventTrigger.expect=\['prefect.flow-run.Failed'\]"),
    (lambda: EventTrigger(posture="Sideways"), r"EventTrigger.posture: must be Posture.REACTIVE or "
     r"Posture.PROACTIVE; received 'Sideways'"),
    (lambda: EventTrigger(posture=Posture.PROACTIVE), r"EventTrigger.within: a Proactive trigger needs a window"),
    (lambda: EventTrigger(threshold=-2), r"EventTrigger.threshold: threshold must be >= 0, got -2; received -2"),
    (lambda: EventTrigger(within="1h"), r"EventTrigger.within: must be a datetime.timedelta or a number of seconds; "
     r"received '1h'"),
    (lambda: EventTrigger(match={"prefect.resource.id": 3}), r"EventTrigger.match\['prefect.resource.id'\]: must be"),
    (lambda: CompoundTrigger(triggers=[EventTrigger()], require=2), r"CompoundTrigger.require: must be 'any', 'all' "
     r"or a number from 1 to 1"),
    (lambda: CompoundTrigger(triggers=[{"type": "event"}]), r"CompoundTrigger.triggers\[0\]: must be a typed trigger"),
    (lambda: SequenceTrigger(triggers=[]), r"SequenceTrigger.triggers: needs a non-empty list"),
    (lambda: MetricTrigger(metric="duration", operator="<", threshold=1, range=60),
     r"MetricTrigger.metric.range: must be at least 300 seconds, got 60; received 60"),
    (lambda: MetricTrigger(metric="duration", operator="!=", threshold=1), r"MetricTrigger.operator: must be one of"),
])
def test_trigger_errors_name_the_prop_and_value(build, message):
    with pytest.raises(ConstructError, match=message):
        build()


def test_actions_json():
    assert SendNotification(block=BLOCK, subject="s {{ flow.name }}", body="b").to_json() == {
        "type": "send-notification", "block_document_id": BLOCK, "subject": "s {{ flow.name }}", "body": "b"}
    assert CallWebhook(block=BLOCK, payload='{"id": "{{ event.id }}"}', headers={"X-A": "{{ event.id }}"}).to_json() == {
        "type": "call-webhook", "block_document_id": BLOCK, "payload": '{"id": "{{ event.id }}"}',
        "headers": {"X-A": "{{ event.id }}"}}
    assert RunDeployment(deployment_id=BLOCK, parameters={"x": 1}).to_json() == {
        "type": "run-deployment", "source": "selected", "deployment_id": BLOCK, "parameters": {"x": 1}}
    assert ChangeFlowRunState(state="crashed").to_json() == {"type": "change-flow-run-state", "state": "CRASHED"}


@pytest.mark.parametrize("build, message", [
    (lambda: SendNotification(block=BLOCK, body="{{ flow.name "), r"SendNotification.body: .*line 1"),
    (lambda: SendNotification(block=BLOCK, body="x", subject="{% if %}"), r"SendNotification.subject: .*line 1"),
    (lambda: SendNotification(block={"id": BLOCK}, body="x"), r"SendNotification.block: must be a block construct"),
    (lambda: SendNotification(block=BLOCK, body=None), r"SendNotification.body: is required"),
    (lambda: SendNotification(block="not-a-uuid", body="x"), r"SendNotification.block_document_id: .*uuid"),
    (lambda: ChangeFlowRunState(state="Done"), r"ChangeFlowRunState.state: must be one of .*received 'Done'"),
])
def test_action_errors(build, message):
    with pytest.raises(ConstructError, match=message):
        build()


def test_blocks_data():
    assert SlackWebhook(webhook_url_secret="slack").to_data() == {"webhook_url_secret": "slack"}
    assert MsTeamsWebhook(url="https://example.test/wf").block_type == "ms-teams-webhook"
    assert Email(smtp_host="smtp.example.test", from_email="a@example.test", to_emails=["b@example.test"],
                 username="u", password_secret="smtp").to_data() == {
        "smtp_host": "smtp.example.test", "security": "starttls", "username": "u", "password_secret": "smtp",
        "from_email": "a@example.test", "to_emails": ["b@example.test"]}
    assert TwilioSms(account_sid="AC0123456789", to_phone_numbers=["+15550001"], auth_token_secret="tw",
                     from_phone_number="+15550002").block_type == "twilio-sms"
    assert PagerDuty(integration_key_secret="pd", severity="critical").to_data() == {
        "integration_key_secret": "pd", "severity": "critical"}
    assert PagerDuty(routing_key_secret="pd", dedup="template", dedup_key_template="{{subject}}").to_data() == {
        "routing_key_secret": "pd", "dedup": "template", "dedup_key_template": "{{subject}}"}
    assert PagerDuty(routing_key_secret="pd", dedup="delivery").to_data()["dedup"] == "delivery"
    assert CustomWebhook(url="https://example.test/{{ name }}", json_data={"t": "{{subject}}"}).to_data()["method"] == "POST"
    assert Webhook(url_secret="hook").to_data() == {"method": "POST", "url_secret": "hook"}


@pytest.mark.parametrize("build, message", [
    (lambda: SlackWebhook(), r"SlackWebhook: one of url or webhook_url_secret is required"),
    (lambda: SlackWebhook(url="https://a.test", webhook_url_secret="s"), r"give either url or webhook_url_secret"),
    (lambda: PagerDuty(routing_key_secret="a", severity="sev1"), r"PagerDuty.severity: must be one of .*'sev1'"),
    (lambda: PagerDuty(routing_key_secret="a", dedup="incident"), r"PagerDuty.dedup: must be one of .*template"),
    (lambda: PagerDuty(routing_key_secret="a", dedup="template"), r"give dedup_key_template exactly when"),
    (lambda: PagerDuty(routing_key_secret="a", dedup_key_template="k"), r"give dedup_key_template exactly when"),
    (lambda: PagerDuty(routing_key_secret="a", dedup="template", dedup_key_template="{{trigger_id}}"),
     r"PagerDuty.dedup_key_template: unknown placeholder"),
    (lambda: Email(smtp_host="h", from_email="nope", to_emails=["a@b.test"]), r"Email.from_email: must be an email"),
    (lambda: Email(smtp_host="h", from_email="a@b.test", to_emails=[]), r"Email.to_emails: needs at least one"),
    (lambda: TwilioSms(account_sid="xx", to_phone_numbers=["+1"], auth_token_secret="t", from_phone_number="+2"),
     r"TwilioSms.account_sid: String should match pattern"),
    (lambda: CustomWebhook(url="https://a.test/{{ nope }}"), r"CustomWebhook.url: unknown placeholder"),
    (lambda: Webhook(url="https://a.test", method="BREW"), r"Webhook.method: must be one of"),
])
def test_block_errors(build, message):
    with pytest.raises(ConstructError, match=message):
        build()


def test_block_errors_never_echo_secret_values():
    with pytest.raises(ConstructError) as err:
        SlackWebhook(url="hooks.example.test/services/T000/B000/SECRETPART")
    assert "SECRETPART" not in str(err.value)
    with pytest.raises(ConstructError) as err:
        PagerDuty(routing_key="R0UTINGKEYSECRET", integration_key="R0UTINGKEYSECRET")
    assert "R0UTINGKEYSECRET" not in str(err.value)
