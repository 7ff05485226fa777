"""Actions: Prefect's JSON loads unchanged; invalid actions name `actions[i].field` and the reason."""

import uuid

import pytest

from tocsin.errors import ValidationFailed
from tocsin.schemas.actions import (
    ACTION_TYPES,
    DEFAULT_SUBJECT,
    CallWebhook,
    ChangeFlowRunState,
    RunDeployment,
    SendNotification,
    parse_action,
    validate_actions,
)

BLOCK = str(uuid.uuid4())


def problems(actions):
    with pytest.raises(ValidationFailed) as info:
        validate_actions(actions)
    return info.value.problems


def test_prefect_send_notification_loads_with_default_subject():
    [action] = validate_actions([{"type": "send-notification", "block_document_id": BLOCK, "body": "Hi"}])
    assert isinstance(action, SendNotification)
    assert action.subject == DEFAULT_SUBJECT
    assert action.model_dump(mode="json") == {
        "type": "send-notification",
        "block_document_id": BLOCK,
        "subject": DEFAULT_SUBJECT,
        "body": "Hi",
    }


def test_every_oss_action_type_loads():
    examples = [
        {"type": "do-nothing"},
        {"type": "cancel-flow-run"},
        {"type": "suspend-flow-run"},
        {"type": "resume-flow-run"},
        {"type": "delete-flow-run"},
        {
            "type": "change-flow-run-state",
            "state": "CANCELLED",
            "name": "Stopped",
            "message": "m",
            "force": True,
        },
        {
            "type": "run-deployment",
            "source": "selected",
            "deployment_id": BLOCK,
            "parameters": {"a": 1},
            "job_variables": {"image": "x"},
            "schedule_after": 60,
        },
        {"type": "pause-deployment", "source": "inferred"},
        {"type": "resume-deployment", "deployment_id": BLOCK},
        {"type": "pause-work-queue", "work_queue_id": BLOCK},
        {"type": "resume-work-queue", "source": "inferred"},
        {"type": "pause-work-pool", "work_pool_id": BLOCK},
        {"type": "resume-work-pool", "source": "inferred"},
        {"type": "pause-automation", "automation_id": BLOCK},
        {"type": "resume-automation", "source": "inferred"},
        {"type": "send-notification", "block_document_id": BLOCK, "subject": "s", "body": "b"},
        {"type": "call-webhook", "block_document_id": BLOCK, "payload": "{}"},
    ]
    parsed = validate_actions(examples)
    assert {a.type for a in parsed} == set(ACTION_TYPES)
    for raw, action in zip(examples, parsed, strict=True):
        dumped = action.model_dump(mode="json")
        assert {k: dumped[k] for k in raw} == raw


def test_terraform_flat_action_objects_load():
    flat = {
        "type": "send-notification",
        "block_document_id": BLOCK,
        "subject": "s",
        "body": "b",
        "source": None,
        "automation_id": None,
        "deployment_id": None,
        "work_pool_id": None,
        "work_queue_id": None,
        "parameters": {},
        "job_variables": {},
        "payload": None,
        "name": None,
        "state": None,
        "message": None,
        "emails": [],
        "schedule_id": "",
    }
    [action] = validate_actions([flat])
    assert action.body == "b"


def test_seed_004_block_id_is_read_as_block_document_id():
    [action] = validate_actions([{"type": "send-notification", "block_id": BLOCK, "body": "b"}])
    assert str(action.block_document_id) == BLOCK


def test_unknown_type_is_rejected_with_the_field_path():
    [(path, reason)] = problems([{"type": "do-nothing"}, {"type": "send-sms"}])
    assert path == "actions[1].type"
    assert reason.startswith("unknown action type 'send-sms'; expected one of call-webhook")


def test_cloud_only_type_says_so():
    [(path, reason)] = problems([{"type": "declare-incident"}])
    assert path == "actions[0].type" and "Prefect Cloud" in reason


def test_missing_type_and_non_objects():
    assert [p for p, _ in problems([{}, "x"])] == ["actions[0].type", "actions[1]"]
    assert problems({"type": "do-nothing"}) == [("actions", "must be a list of actions, got dict")]


def test_missing_body_is_named():
    assert problems([{"type": "send-notification", "block_document_id": BLOCK}]) == [
        ("actions[0].body", "Field required")
    ]


def test_typo_in_a_field_name_is_an_error():
    assert problems(
        [{"type": "send-notification", "block_document_id": BLOCK, "body": "b", "bdoy": "x"}]
    ) == [("actions[0].bdoy", "is not a field of send-notification actions")]


def test_selected_source_needs_the_id_and_inferred_forbids_it():
    assert problems([{"type": "run-deployment"}]) == [
        ("actions[0].deployment_id", "is required when source is 'selected'")
    ]
    [(path, reason)] = problems([{"type": "pause-automation", "source": "inferred", "automation_id": BLOCK}])
    assert path == "actions[0].automation_id" and reason.startswith(
        "must not be set when source is 'inferred'"
    )
    [(path, _)] = problems([{"type": "pause-work-pool", "source": "sometimes", "work_pool_id": BLOCK}])
    assert path == "actions[0].source"


def test_bad_values_name_their_field():
    assert problems([{"type": "change-flow-run-state", "state": "DONE"}])[0][0] == "actions[0].state"
    assert problems([{"type": "run-deployment", "deployment_id": BLOCK, "schedule_after": -5}]) == [
        ("actions[0].schedule_after", "must be zero or more seconds")
    ]
    assert problems([{"type": "send-notification", "block_document_id": "nope", "body": "b"}])[0][0] == (
        "actions[0].block_document_id"
    )


def test_every_problem_is_reported_at_once():
    assert [p for p, _ in problems([{"type": "x"}, {"type": "run-deployment"}])] == [
        "actions[0].type",
        "actions[1].deployment_id",
    ]


def test_call_webhook_object_payload_becomes_indented_json():
    [action] = validate_actions(
        [
            {
                "type": "call-webhook",
                "block_document_id": BLOCK,
                "payload": {"a": 1},
                "headers": {"X-Run": "{{ flow_run.id }}"},
            }
        ]
    )
    assert isinstance(action, CallWebhook)
    assert action.payload == '{\n  "a": 1\n}'
    assert action.template_fields() == [("payload", action.payload), ("headers.X-Run", "{{ flow_run.id }}")]


def test_run_deployment_schedule_after_serialises_as_seconds():
    action = parse_action({"type": "run-deployment", "deployment_id": BLOCK, "schedule_after": 90})
    assert isinstance(action, RunDeployment)
    assert action.model_dump(mode="json")["schedule_after"] == 90.0


def test_templates_are_validated_with_line_and_message():
    bad = [
        {"type": "do-nothing"},
        {"type": "send-notification", "block_document_id": BLOCK, "subject": "ok", "body": "line 1\n{{ x }"},
    ]
    assert problems(bad) == [("actions[1].body", "line 2: unexpected '}'")]
    params = [{"type": "run-deployment", "deployment_id": BLOCK, "parameters": {"n": {"m": "{% if %}"}}}]
    assert problems(params)[0][0] == "actions[0].parameters.n.m"
    assert validate_actions(bad, check_templates=False)[1].body.startswith("line 1")


def test_change_flow_run_state_defaults():
    action = parse_action({"type": "change-flow-run-state", "state": "FAILED"})
    assert isinstance(action, ChangeFlowRunState)
    assert (action.name, action.message, action.force) == (None, None, False)
