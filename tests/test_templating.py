"""Templates: one context for every action and trigger, Prefect 1 placeholders, and limits that hold."""

import json
import time
import uuid
from datetime import datetime, timezone

import pytest

from tocsin.errors import ValidationFailed
from tocsin.schemas.actions import validate_actions
from tocsin.schemas.events import Event
from tocsin.schemas.triggers import parse_trigger
from tocsin.templating import (
    DEFAULT_MESSAGES,
    TemplateProblem,
    TemplateRenderError,
    build_context,
    convert_placeholders,
    default_message,
    render,
    render_action,
    validate_action_templates,
    validate_template,
)
from tocsin.triggers import Firing

FLOW_RUN, FLOW, DEPLOYMENT, POOL, QUEUE = (uuid.UUID(int=i) for i in range(1, 6))
AUTOMATION = {"id": str(uuid.UUID(int=99)), "name": "DLT failures", "description": ""}
WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def flow_run_event(state="Failed", message="Worker died", **extra):
    return Event(
        occurred=WHEN,
        event=f"prefect.flow-run.{state}",
        resource={
            "prefect.resource.id": f"prefect.flow-run.{FLOW_RUN}",
            "prefect.resource.name": "happy-cat",
            "prefect.state-name": state,
            "prefect.state-type": state.upper(),
            "prefect.state-message": message,
            "prefect.state-timestamp": WHEN.isoformat(),
        },
        related=[
            {
                "prefect.resource.id": f"prefect.flow.{FLOW}",
                "prefect.resource.role": "flow",
                "prefect.resource.name": "exchange-rates-daily",
            },
            {
                "prefect.resource.id": f"prefect.deployment.{DEPLOYMENT}",
                "prefect.resource.role": "deployment",
                "prefect.resource.name": "prod",
            },
            {
                "prefect.resource.id": f"prefect.work-pool.{POOL}",
                "prefect.resource.role": "work-pool",
                "prefect.resource.name": "k8s",
                "prefect.work-pool.type": "kubernetes",
            },
            {"prefect.resource.id": "prefect.tag.dlt", "prefect.resource.role": "tag"},
        ],
        **extra,
    ).receive(WHEN)


def firing(event=None, *, trigger=None, children=(), labels=None):
    return Firing(
        automation_id=uuid.UUID(AUTOMATION["id"]),
        trigger_path="",
        trigger=trigger,
        triggered=WHEN,
        triggering_labels=labels or {},
        triggering_event=event,
        triggering_firings=list(children),
    )


def reactive():
    return parse_trigger(
        {
            "type": "event",
            "posture": "Reactive",
            "expect": ["prefect.flow-run.Failed"],
            "threshold": 1,
            "within": 0,
        }
    )


@pytest.fixture
def context():
    return build_context(
        AUTOMATION,
        firing(
            flow_run_event(),
            trigger=reactive(),
            labels={"prefect.resource.id": f"prefect.flow-run.{FLOW_RUN}"},
        ),
        ui_url="https://ui.example/",
    )


def test_prefect_objects_come_from_the_event_resources_and_labels(context):
    source = (
        "{{ flow.name }}|{{ flow_run.name }}|{{ flow_run.state.name }}|{{ flow_run.state.message }}|"
        "{{ deployment.name }}|{{ work_pool.name }}|{{ work_pool.type }}|{{ flow_run.tags | join(',') }}|"
        "{{ flow_run.flow_id == flow.id }}"
    )
    assert render(source, context) == (
        "exchange-rates-daily|happy-cat|Failed|Worker died|prod|k8s|kubernetes|dlt|True"
    )


def test_seed_004_slack_template_renders(context):
    source = (
        ":x: *Pipeline Failed*\n\n*Flow*: {{ flow.name }}\n*Deployment*: {{ deployment.name }}\n"
        "*Run ID*: {{ flow_run.id }}\n*State*: {{ flow_run.state.name }}\n*Error*: {{ flow_run.state.message }}"
        "\n\n<{{ flow_run_url }}|View in Prefect Cloud>"
    )
    assert render(source, context) == (
        f":x: *Pipeline Failed*\n\n*Flow*: exchange-rates-daily\n*Deployment*: prod\n*Run ID*: {FLOW_RUN}\n"
        f"*State*: Failed\n*Error*: Worker died\n\n<https://ui.example/runs/flow-run/{FLOW_RUN}|View in Prefect Cloud>"
    )


def test_automation_event_labels_and_firing_are_in_the_context(context):
    source = (
        "{{ automation.name }}|{{ event.event }}|{{ event.resource.id }}|{{ event.resource.name }}|"
        "{{ event.resource_in_role.flow.name }}|{{ labels.prefect.resource.id }}|"
        "{{ labels['prefect.resource.id'] == event.resource.id }}|{{ firing.automation_id }}|"
        "{{ firings | length }}|{{ event.payload | tojson }}"
    )
    assert render(source, context) == (
        f"DLT failures|prefect.flow-run.Failed|prefect.flow-run.{FLOW_RUN}|happy-cat|exchange-rates-daily|"
        f"prefect.flow-run.{FLOW_RUN}|True|{AUTOMATION['id']}|1|{{}}"
    )


def test_missing_names_render_empty_at_any_depth(context):
    assert (
        render("[{{ nothing }}{{ nothing.at.all }}{{ task_run.state.name }}{{ event.nope.deeper }}]", context)
        == "[]"
    )


def test_ui_url_filter_links_objects_and_is_empty_without_a_ui(context):
    assert render("{{ deployment | ui_url }} {{ work_pool | ui_url }} {{ event | ui_url }}", context) == (
        f"https://ui.example/deployments/deployment/{DEPLOYMENT} https://ui.example/work-pools/work-pool/k8s "
        f"https://ui.example/events/event/2026-03-01/{context['event'].id}"
    )
    no_ui = build_context(AUTOMATION, firing(flow_run_event()))
    assert render("[{{ flow_run | ui_url }}][{{ flow_run_url }}]", no_ui) == "[][]"


def test_flow_run_id_filter_and_unescaped_tojson(context):
    assert (
        render(
            "{{ event | flow_run_id }} {{ ('https://x/runs/flow-run/' ~ flow_run.id) | flow_run_id }}",
            context,
        )
        == f"{FLOW_RUN} {FLOW_RUN}"
    )
    assert render("{{ {'a': '<b>&'} | tojson }}", context) == '{"a": "<b>&"}'
    assert json.loads(render("{{ event | tojson(indent=2) }}", context))["id"] == context["event"].id


def test_context_is_the_same_for_every_trigger_type():
    event = flow_run_event()
    single = build_context(AUTOMATION, firing(event, trigger=reactive()))
    other = flow_run_event("Running")
    child_old = firing(other)
    child_old.triggered = datetime(2026, 3, 1, 11, 0, tzinfo=timezone.utc)
    composite = build_context(AUTOMATION, firing(None, children=[child_old, firing(event)]))
    source = "{{ event.event }} {{ flow_run.state.name }} {{ flow.name }} {{ firings | length }} {{ events | length }}"
    assert render(source, single) == "prefect.flow-run.Failed Failed exchange-rates-daily 1 1"
    assert render(source, composite) == "prefect.flow-run.Failed Failed exchange-rates-daily 3 2"


def test_actions_on_trigger_can_pass_their_own_event():
    triggered = Event(
        event="prefect.automation.triggered",
        resource={"prefect.resource.id": f"prefect.automation.{AUTOMATION['id']}"},
    ).receive(WHEN)
    context = build_context(AUTOMATION, firing(flow_run_event()), triggered)
    assert render("{{ event.event }}", context) == "prefect.automation.triggered"


def test_proactive_firing_without_event_uses_its_labels():
    context = build_context(
        AUTOMATION,
        firing(
            None,
            labels={
                "prefect.resource.id": f"prefect.flow-run.{FLOW_RUN}",
                "prefect.resource.name": "late-run",
            },
        ),
    )
    assert (
        render("{{ flow_run.id }} {{ flow_run.name }} [{{ event.event }}]", context)
        == f"{FLOW_RUN} late-run []"
    )


def test_firing_json_is_accepted_as_well_as_the_dataclass():
    record = firing(flow_run_event(), trigger=reactive()).to_json()
    assert render("{{ flow.name }}", build_context(AUTOMATION, record)) == "exchange-rates-daily"


# --- seed 000 placeholders and default messages -------------------------------------------------------------


def test_placeholders_become_jinja_but_json_and_jinja_braces_stay():
    assert convert_placeholders("Run {flow_run_name}: {state_message}") == (
        "Run {{ flow_run.name }}: {{ flow_run.state.message }}"
    )
    untouched = '{"X-PREFECT-TENANT": "{unknown}"} {{ flow_name }} {%raw%}{flow}{%endraw%}'
    assert convert_placeholders(untouched) == untouched


def test_seed_000_custom_message_renders(context):
    source = "Run for client {flow_run_name} failed: {state_message}. Please investigate at {flow_run_link}."
    assert render(source, context) == (
        f"Run for client happy-cat failed: Worker died. Please investigate at "
        f"https://ui.example/runs/flow-run/{FLOW_RUN}."
    )
    assert (
        render('{"X-PREFECT-EVENT-ID": "{id}"}', context)
        == f'{{"X-PREFECT-EVENT-ID": "{context["event"].id}"}}'
    )


def test_flow_run_state_change_default_message(context):
    expected = (
        f"Run happy-cat of flow exchange-rates-daily entered state Failed with message Worker died. "
        f"See https://ui.example/runs/flow-run/{FLOW_RUN} for more details."
    )
    assert render(DEFAULT_MESSAGES["flow-run-state-change"], context) == expected
    assert render("{message}", context) == expected
    assert default_message(context) == expected


def test_flow_sla_failure_default_message_for_a_proactive_firing():
    trigger = parse_trigger(
        {
            "type": "event",
            "posture": "Proactive",
            "after": ["prefect.flow-run.Running"],
            "expect": ["prefect.flow-run.Completed"],
            "for_each": ["prefect.resource.id"],
            "threshold": 1,
            "within": 600,
        }
    )
    context = build_context(AUTOMATION, firing(flow_run_event("Running", ""), trigger=trigger))
    assert render("{message}", context) == (
        f"Run happy-cat ({FLOW_RUN}) of flow exchange-rates-daily failed finish SLA ({AUTOMATION['id']}) after "
        f"600 seconds. See  for more details."
    )


def test_agent_sla_failure_default_message():
    event = Event(
        event="prefect.work-pool.not-ready",
        resource={"prefect.resource.id": f"prefect.work-pool.{POOL}", "prefect.resource.name": "k8s"},
        payload={"sla_min_healthy": 2, "unhealthy_agent_ids": ["w-1", "w-2"]},
    ).receive(WHEN)
    context = build_context(AUTOMATION, firing(event))
    assert render("{message}", context) == (
        "Agents sharing the config k8s have failed the minimum healthy count of 2. "
        "The following agents are unhealthy: w-1, w-2"
    )


# --- validation at create time --------------------------------------------------------------------------------


def test_valid_templates_pass():
    assert validate_template("Hello {{ flow.name }}{% for t in flow_run.tags %}{{ t }}{% endfor %}") is None
    assert validate_template(DEFAULT_MESSAGES["flow-sla-failure"]) is None


def test_parse_errors_give_line_and_message():
    assert validate_template("ok\n\n{{ flow.name }") == TemplateProblem(3, "unexpected '}'")
    assert validate_template("{% if x %}no end") == TemplateProblem(
        1,
        "Unexpected end of template. Jinja was looking for the following tags: 'elif' or 'else' or 'endif'. "
        "The innermost block that needs to be closed is 'if'.",
    )
    assert validate_template("{{ x | no_such_filter }}") == TemplateProblem(
        1, "No filter named 'no_such_filter'."
    )


def test_more_than_ten_loops_are_rejected():
    source = "".join("{% for x in y %}{% endfor %}\n" for _ in range(11))
    assert validate_template(source) == TemplateProblem(11, "contains 11 for loops; at most 10 are allowed")
    assert validate_template(source.split("\n", 1)[1]) is None


def test_loops_nested_three_deep_are_rejected():
    source = "{% for a in x %}\n{% for b in a %}\n{% for c in b %}{% endfor %}{% endfor %}{% endfor %}"
    assert validate_template(source) == TemplateProblem(
        3, "for loops are nested 3 deep; at most 2 levels are allowed"
    )


def test_action_templates_report_their_paths():
    block = str(uuid.uuid4())
    actions = validate_actions(
        [
            {"type": "do-nothing"},
            {
                "type": "call-webhook",
                "block_document_id": block,
                "payload": "{{ x",
                "headers": {"X-Id": "{{ event.id }}", "X-Bad": "{% for %}"},
            },
        ],
        check_templates=False,
    )
    with pytest.raises(ValidationFailed) as info:
        validate_action_templates(actions)
    assert [p for p, _ in info.value.problems] == ["actions[1].payload", "actions[1].headers.X-Bad"]
    assert info.value.problems[0][1].startswith("line 1: ")


# --- limits at render time ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source, reason",
    [
        ("{% for i in range(101) %}{% endfor %}", "range() is limited to 100 items"),
        ("{{ 'x' * 100000 }}", "repeating a sequence"),
        ("{{ 7 ** 99999999 }}", "power too large"),
        ("{{ 'a'.center(10000000) }}", "numeric argument 10000000"),
        ("{{ 'a' | center(10000000) }}", "numeric argument 10000000"),
        ("{{ '%0999999999d' % 1 }}", "format width too large"),
        ("{{ event.payload.update({'a': 1}) }}", "not allowed"),
    ],
)
def test_expensive_or_unsafe_expressions_fail_at_render(context, source, reason):
    with pytest.raises(TemplateRenderError, match="line 1") as info:
        render(source, context)
    assert reason in str(info.value)


def test_private_attributes_are_invisible(context):
    assert render("[{{ ''.__class__.__mro__ }}{{ event.__dict__ }}{{ event._model }}]", context) == "[]"


def test_range_of_one_hundred_is_fine(context):
    assert render("{% for i in range(100) %}.{% endfor %}", context) == "." * 100


def test_output_is_capped(context):
    with pytest.raises(TemplateRenderError, match="output is longer than 1000 characters"):
        render(
            "{% for i in range(100) %}{% for j in range(100) %}x{% endfor %}{% endfor %}",
            context,
            max_output_chars=1000,
        )


def test_a_slow_render_is_interrupted():
    big = list(range(1_000_000))
    started = time.monotonic()
    with pytest.raises(TemplateRenderError, match="longer than 0.2 s"):
        render(
            "{% for a in big %}{% for b in big %}{% endfor %}{% endfor %}", {"big": big}, timeout_seconds=0.2
        )
    assert time.monotonic() - started < 1.5
    assert render("{{ 1 + 1 }}", {}) == "2"  # the thread is fine afterwards


def test_many_fast_renders_are_never_interrupted(context):
    for _ in range(300):
        assert render("{{ flow.name }}", context, timeout_seconds=0.05) == "exchange-rates-daily"


def test_runtime_errors_are_template_errors_with_a_line(context):
    with pytest.raises(TemplateRenderError) as info:
        render("a\n{{ 1 / 0 }}", context)
    assert info.value.line == 2 and "ZeroDivisionError" in str(info.value)


# --- rendering whole actions ------------------------------------------------------------------------------------


def test_render_action_for_each_templated_type(context):
    block = str(uuid.uuid4())
    notify, hook, run = validate_actions(
        [
            {
                "type": "send-notification",
                "block_document_id": block,
                "subject": "Failed: {flow_name}",
                "body": "{{ flow_run.state.message }}",
            },
            {
                "type": "call-webhook",
                "block_document_id": block,
                "payload": {"run": "{{ flow_run.id }}"},
                "headers": {"X-Flow": "{{ flow.name }}"},
            },
            {
                "type": "run-deployment",
                "deployment_id": block,
                "parameters": {
                    "run": "{{ flow_run.id }}",
                    "tags": "{{ flow_run.tags }}",
                    "text": "x {{ flow.name }}",
                    "n": 3,
                    "nested": [{"__prefect_kind": "jinja", "template": "{{ deployment.name }}"}],
                },
            },
        ]
    )
    assert render_action(notify, context) == {
        "subject": "Failed: exchange-rates-daily",
        "body": "Worker died",
    }
    assert render_action(hook, context) == {
        "payload": f'{{\n  "run": "{FLOW_RUN}"\n}}',
        "headers": {"X-Flow": "exchange-rates-daily"},
    }
    assert render_action(run, context) == {
        "parameters": {
            "run": str(FLOW_RUN),
            "tags": ["dlt"],
            "text": "x exchange-rates-daily",
            "n": 3,
            "nested": ["prod"],
        }
    }
