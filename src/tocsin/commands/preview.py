"""`tocsin preview AUTOMATION`: render what an automation's actions would send, without sending anything.

AUTOMATION is a JSON/YAML file in Prefect's automation shape (name, trigger, actions, actions_on_trigger) or the
id of an automation on a running engine. The sample event comes from `--event FILE`, or is made up from the
trigger itself (its first expected event name, labels taken from `match`/`match_related`), so a pull request
can show reviewers the message exactly as Slack or PagerDuty will get it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

import pydantic
import yaml

from tocsin.errors import TocsinError, ValidationFailed
from tocsin.schemas.events import RESOURCE_ID, RESOURCE_ROLE, Event, ReceivedEvent, ResourceSpecification
from tocsin.schemas.triggers import CompositeTrigger, EventTrigger, MetricTrigger, parse_trigger
from tocsin.triggers import Firing

SAMPLE_FLOW_RUN = "prefect.flow-run.00000000-0000-4000-8000-000000000001"
_GLOB = re.compile(r"[*?]|\[[^\]]*\]")


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("preview", help="render an automation's notifications for a sample event")
    parser.add_argument("automation", help="automation JSON/YAML file, or an automation id on the engine")
    parser.add_argument("--event", type=Path, help="JSON/YAML file with the sample event (default: made up)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--url", default=os.environ.get("TOCSIN_URL", "http://127.0.0.1:4300"))
    parser.add_argument("--token", default=os.environ.get("TOCSIN_API_TOKEN"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        automation = load_automation(args.automation, args.url, args.token)
        event = load_event(args.event) if args.event else None
        previews = preview(automation, event)
    except ValidationFailed as exc:
        for path, reason in exc.problems:
            print(f"error: {path}: {reason}" if path else f"error: {reason}", file=out)
        return 1
    except (TocsinError, OSError, yaml.YAMLError) as exc:
        print(f"error: {exc}", file=out)
        return 1
    if args.format == "json":
        print(json.dumps(previews, indent=2), file=out)
    else:
        print(format_text(automation, previews), file=out)
    return 1 if any(p.get("error") for p in previews) else 0


def load_automation(ref: str, url: str, token: str | None) -> dict[str, Any]:
    path = Path(ref)
    if path.exists():
        data = yaml.safe_load(path.read_text())
        if not isinstance(data, dict):
            raise ValidationFailed([("", f"{ref} must hold one automation object (name, trigger, actions)")])
        return data
    try:
        UUID(ref)
    except ValueError:
        raise ValidationFailed([("", f"{ref} is neither a file nor an automation id")]) from None
    from tocsin.client import TocsinClient

    return dict(TocsinClient(url, token).get_automation(ref))


def load_event(path: Path) -> ReceivedEvent:
    try:
        return Event.model_validate(yaml.safe_load(path.read_text())).receive()
    except pydantic.ValidationError as exc:
        raise ValidationFailed.from_pydantic(exc, "event") from None


def _example(pattern: str) -> str:
    """A value a glob would match: wildcards become 'sample'."""
    return _GLOB.sub("sample", pattern)


def _first_positive(patterns: Any) -> str | None:
    for p in [patterns] if isinstance(patterns, str) else list(patterns or []):
        if not p.startswith("!"):
            return _example(p)
    return None


def _leaf(trigger: Any) -> EventTrigger | MetricTrigger | None:
    while isinstance(trigger, CompositeTrigger):
        trigger = trigger.triggers[0]
    return trigger


def sample_event(trigger: Any) -> ReceivedEvent:
    """An event the trigger would plausibly match, for previews."""
    leaf = _leaf(trigger)
    names = (list(leaf.expect) + list(leaf.after)) if isinstance(leaf, EventTrigger) else []
    name = _example(next((n for n in names if "*" not in n), names[0] if names else "prefect.flow-run.Failed"))
    resource = {RESOURCE_ID: SAMPLE_FLOW_RUN, "prefect.resource.name": "sample-flow-run"}
    related: list[dict[str, str]] = []
    if leaf is not None:
        for label, patterns in leaf.match.items():
            if label in resource and ResourceSpecification({label: patterns}).matches(resource):
                continue  # the realistic default already matches
            value = _first_positive(patterns)
            if value is not None:
                resource[label] = value
        specs = leaf.match_related if isinstance(leaf.match_related, list) else [leaf.match_related]
        for i, spec in enumerate(s for s in specs if s):
            item = {RESOURCE_ID: f"prefect.sample.{i}", RESOURCE_ROLE: "sample"}
            for label, patterns in spec.items():
                value = _first_positive(patterns)
                if value is not None:
                    item[label] = value
            related.append(item)
    if name.startswith("prefect.flow-run."):
        state = name.rsplit(".", 1)[-1]
        resource.setdefault("prefect.state-name", state)
        resource.setdefault("prefect.state-type", state.upper())
    now = datetime.now(timezone.utc)
    return Event(occurred=now, event=name, resource=resource, related=related).receive(now)


def preview(automation: dict[str, Any], event: ReceivedEvent | None = None) -> list[dict[str, Any]]:
    """Validate the automation and render every action; a render error is reported, not raised."""
    from tocsin.schemas.actions import validate_actions
    from tocsin.templating import TemplateRenderError, build_context, render_action

    try:
        trigger = parse_trigger(automation.get("trigger"))
    except pydantic.ValidationError as exc:
        raise ValidationFailed.from_pydantic(exc, "trigger") from None
    refs: dict[str, str] = {}
    actions = validate_actions(_placeholder_refs(automation.get("actions"), refs), "actions")
    on_trigger = validate_actions(_placeholder_refs(automation.get("actions_on_trigger"), refs), "actions_on_trigger")
    event = event or sample_event(trigger)
    leaf = _leaf(trigger)
    for_each = sorted(leaf.for_each) if isinstance(leaf, EventTrigger) else []
    firing = Firing(
        automation_id=UUID(int=0), trigger_path="", trigger=trigger, triggered=event.received,
        triggering_labels={label: event.find_resource_label(label) or "" for label in for_each},
        triggering_event=event,
    )
    previews = []
    for group, items in (("actions", actions), ("actions_on_trigger", on_trigger)):
        for index, action in enumerate(items):
            block = getattr(action, "block_document_id", None)
            item: dict[str, Any] = {"path": f"{group}[{index}]", "type": action.type,
                                    "block": refs.get(str(block), str(block)) if block else None}
            try:
                item.update(render_action(action, build_context(automation, firing, event)))
            except TemplateRenderError as exc:
                item["error"] = str(exc)
            previews.append(item)
    return previews


def _placeholder_refs(raw: Any, refs: dict[str, str]) -> Any:
    """Terraform references (`${tocsin_block.x.id}`) to blocks not applied yet stand in as placeholder ids."""
    if not isinstance(raw, list):
        return raw
    out = []
    for item in raw:
        ref = item.get("block_document_id") if isinstance(item, dict) else None
        if isinstance(ref, str) and ref.startswith("${"):
            placeholder = str(UUID(int=len(refs) + 1))
            refs[placeholder] = ref
            item = {**item, "block_document_id": placeholder}
        out.append(item)
    return out


def format_text(automation: dict[str, Any], previews: list[dict[str, Any]]) -> str:
    lines = [f"automation: {automation.get('name', '(unnamed)')}"]
    if not previews:
        lines.append("  (no actions)")
    for item in previews:
        target = f" -> block {item['block']}" if item.get("block") else ""
        lines.append(f"{item['path']} {item['type']}{target}")
        if item.get("error"):
            lines.append(f"  TEMPLATE ERROR: {item['error']}")
        for key in ("subject", "body", "payload", "headers", "parameters"):
            if key in item:
                value = item[key] if isinstance(item[key], str) else json.dumps(item[key], indent=2)
                lines.append(f"  {key}:")
                lines += [f"    {line}" for line in str(value).splitlines() or [""]]
    return "\n".join(lines)
