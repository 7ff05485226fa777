"""The dispatcher reads the event in an outbox row without validating it again (`build_context(engine_built=
True)`): every template must render exactly as through the validated model."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from tocsin import templating
from tocsin.schemas.events import ReceivedEvent

TEMPLATES = [
    "{{ event.id }} {{ event.event }} {{ event.occurred }} {{ event.received.isoformat() }} {{ event.follows }}",
    "{{ event.occurred.strftime('%Y-%m-%d %H:%M') }} {{ event.resource.id }} {{ event.resource.name }}",
    "{{ event.resource['prefect.resource.id'] }} {{ event.related[0].role }} {{ event.payload.n }}",
    "{{ event.resource_in_role['flow'].name }} {{ event.resources_in_role['tag'] | length }}",
    "{{ event | tojson }}",
    "{% for k, v in event %}{{ k }}={{ v }};{% endfor %}",
    "{{ flow_run.name }} {{ flow_run.state.name }} {{ flow.name }} {{ flow_run.tags }}",
    "{{ events | length }} {{ events[0].id }} {{ event }}",
    "{{ missing.deeply.nested }}|{{ event.nope }}",
]


def _event() -> ReceivedEvent:
    return ReceivedEvent(
        id=uuid.uuid4(), follows=uuid.uuid4(), occurred=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        received=datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC), event="prefect.flow-run.Failed",
        resource={"prefect.resource.id": "prefect.flow-run.abc", "prefect.resource.name": "nightly",
                  "prefect.state-name": "Failed"},
        related=[{"prefect.resource.id": "prefect.flow.f1", "prefect.resource.role": "flow",
                  "prefect.resource.name": "etl"},
                 {"prefect.resource.id": "prefect.tag.a", "prefect.resource.role": "tag"},
                 {"prefect.resource.id": "prefect.tag.b", "prefect.resource.role": "tag"}],
        payload={"n": 3, "nested": {"x": [1, 2]}},
    )


@pytest.mark.parametrize("source", TEMPLATES)
def test_engine_json_renders_as_the_validated_event(source: str) -> None:
    event_json = json.loads(_event().model_dump_json())  # as the planner stores it in the outbox row
    firing = {"id": str(uuid.uuid4()), "triggered": "2026-01-02T03:04:07Z", "triggering_event": event_json,
              "triggering_labels": {}, "triggering_firings": []}
    automation = {"id": str(uuid.uuid4()), "name": "a"}
    names = templating.template_variables([source])
    slow = templating.build_context(automation, firing, event_json, names=names)
    fast = templating.build_context(automation, firing, event_json, names=names, engine_built=True)
    assert templating.render(source, fast) == templating.render(source, slow)


def test_json_that_is_not_the_engines_takes_the_validating_path() -> None:
    odd = {"event": "x", "resource": {"prefect.resource.id": "r"}, "occurred": "2026-01-02T03:04:05+02:00"}
    context = templating.build_context({"id": "a"}, {"triggering_event": odd}, odd, engine_built=True)
    assert templating.render("{{ event.occurred }} {{ event.related | length }}", context) == (
        "2026-01-02 01:04:05+00:00 0"
    )


LOOKUPS = [
    "plain text, no lookups\n",
    "{{ event.id }}-{{ event.resource['prefect.resource.id'] }}  {{- event.event -}}  !",
    "{{ missing }}|{{ missing.a.b['c'] }}|{{ event.nope.deeper }}|{{ event.payload['n'] }}",
    "{{ event.payload.nested.x[1] }} {{ firing['id'] }} {{ automation.name }} {{ labels.anything }}",
    "{{ event.__class__ }}{{ event._model }}{{ range }}",
    "{{ 'quoted' }}",  # a constant: not a lookup, Jinja renders it
]


@pytest.mark.parametrize("source", LOOKUPS)
def test_plain_lookups_print_as_jinja_prints_them(source: str) -> None:
    event_json = json.loads(_event().model_dump_json())
    firing = {"id": "f-1", "triggering_event": event_json}
    context = templating.build_context({"id": "a", "name": "auto"}, firing, event_json, engine_built=True)
    jinja = templating._generate(templating._compile(source), context, 10_000)
    parts = templating._lookups(source)
    if parts is not None:
        assert templating._print_lookups(parts, context) == jinja
    assert templating.render(source, context) == jinja
