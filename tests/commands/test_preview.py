"""`tocsin preview`: what an automation's actions would send, rendered offline for a pull request."""

import io
import json
import textwrap
from argparse import Namespace

from tocsin.commands.preview import preview, run, sample_event
from tocsin.schemas.triggers import parse_trigger

AUTOMATION = {
    "name": "flow failures to slack",
    "trigger": {"expect": ["prefect.flow-run.Failed"], "match": {"prefect.resource.id": "prefect.flow-run.*"},
                "match_related": {"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.prod"},
                "for_each": ["prefect.resource.id"], "posture": "Reactive", "threshold": 1},
    "actions": [
        {"type": "send-notification", "block_document_id": "${tocsin_block.slack.id}",
         "subject": "{{ flow_run.name }} failed", "body": "Flow run {{ flow_run.name }} is {{ flow_run.state.name }}"},
        {"type": "call-webhook", "block_document_id": "00000000-0000-0000-0000-00000000000a",
         "payload": '{"labels": {{ labels | tojson }}}'},
    ],
}


def args(tmp_path, automation, **kw):
    path = tmp_path / "automation.json"
    path.write_text(json.dumps(automation))
    return Namespace(automation=str(path), event=kw.get("event"), format=kw.get("format", "text"),
                     url="http://127.0.0.1:1", token=None)


def test_the_sample_event_matches_the_trigger_it_was_made_from():
    trigger = parse_trigger(AUTOMATION["trigger"])
    event = sample_event(trigger)
    assert event.event == "prefect.flow-run.Failed"
    assert event.resource["prefect.resource.id"].startswith("prefect.flow-run.")
    assert event.related[0]["prefect.resource.id"] == "prefect.tag.prod"


def test_each_action_is_rendered_with_the_same_context():
    [slack, hook] = preview(AUTOMATION)
    assert slack["block"] == "${tocsin_block.slack.id}"
    assert slack["subject"] == "sample-flow-run failed"
    assert slack["body"] == "Flow run sample-flow-run is Failed"
    assert json.loads(hook["payload"]) == {"labels": {"prefect.resource.id": slack_run_id()}}


def slack_run_id():
    return sample_event(parse_trigger(AUTOMATION["trigger"])).resource["prefect.resource.id"]


def test_text_output_names_each_action_and_its_destination(tmp_path):
    out = io.StringIO()
    assert run(args(tmp_path, AUTOMATION), out) == 0
    text = out.getvalue()
    assert "actions[0] send-notification -> block ${tocsin_block.slack.id}" in text
    assert "    Flow run sample-flow-run is Failed" in text


def test_a_given_event_is_used_instead_of_the_made_up_one(tmp_path):
    event = tmp_path / "event.yaml"
    event.write_text(textwrap.dedent("""
        event: prefect.flow-run.Failed
        resource: {prefect.resource.id: prefect.flow-run.42, prefect.resource.name: nightly-etl,
                   prefect.state-name: Failed}
    """))
    out = io.StringIO()
    assert run(args(tmp_path, AUTOMATION, event=event, format="json"), out) == 0
    assert json.loads(out.getvalue())[0]["subject"] == "nightly-etl failed"


def test_an_invalid_template_fails_with_the_action_path(tmp_path):
    broken = {**AUTOMATION, "actions": [{**AUTOMATION["actions"][0], "body": "{{ flow_run.name "}]}
    out = io.StringIO()
    assert run(args(tmp_path, broken), out) == 1
    assert out.getvalue().startswith("error: actions[0].body:")


def test_an_invalid_trigger_fails_with_the_field_path(tmp_path):
    broken = {**AUTOMATION, "trigger": {"posture": "Proactive", "within": 3}}
    out = io.StringIO()
    assert run(args(tmp_path, broken), out) == 1
    assert "error: trigger.within: a Proactive trigger needs within >= 10 seconds" in out.getvalue()


def test_secrets_in_templates_are_masked_in_previews():
    masked = {**AUTOMATION, "actions": [{**AUTOMATION["actions"][1], "headers": {"Authorization":
                                                                              "Bearer {{ secrets['hook-token'] }}"}}]}
    [hook] = preview(masked)
    assert hook["headers"] == {"Authorization": "Bearer ********"}
