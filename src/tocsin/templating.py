"""Sandboxed Jinja templates for action subjects, bodies, payloads and headers (semantics §11).

One render context serves every action type and every trigger type (`build_context`): `automation`, `event`,
`labels`, `firing`, `firings`, `events`, and the Prefect objects `flow`, `flow_run`, `deployment`, `task_run`,
`work_pool`, `work_queue` derived from the triggering event's resources and labels (Tocsin has no Prefect
database to fetch them from). Prefect 1 style `{flow_run_name}` placeholders and its default messages (seed
000) are rewritten into Jinja before parsing, so both styles validate and render the same way.

Templates are user input that runs inside the engine, so four limits apply:
  1. at create time (`validate_template`): parse errors, more than 10 `for` loops, loops nested more than
     2 deep;
  2. at render time, `range()` yields at most 100 items and `*`, `**`, `%` and numeric call arguments are
     bounded, so a single expression cannot allocate gigabytes;
  3. output stops at `max_output_chars` (64 KiB by default);
  4. a render running longer than `timeout_seconds` is interrupted by a watchdog thread that raises into it
     (CPython's PyThreadState_SetAsyncExc: it stops Python-level loops, not a single long C call).
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from uuid import UUID

from jinja2 import ChainableUndefined, Template, TemplateSyntaxError, meta, nodes, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from pydantic import BaseModel

from tocsin.errors import TocsinError, ValidationFailed
from tocsin.schemas.events import RESOURCE_ID, RESOURCE_NAME, RESOURCE_ROLE, ReceivedEvent

if TYPE_CHECKING:
    from tocsin.schemas.actions import ActionBase

MAX_FOR_LOOPS = 10
MAX_LOOP_NESTING = 2
MAX_RANGE = 100  # Prefect's limit on range() inside templates
MAX_OUTPUT_CHARS = 64 * 1024  # bigger than any chat message or SMS; a webhook payload rarely needs more
MAX_NUMERIC_ARGUMENT = (
    100_000  # widths, repeat counts, ...: enough for formatting, too small to exhaust memory
)
MAX_POWER_BITS = 100_000
RENDER_TIMEOUT_SECONDS = 2.0


class TemplateRenderError(TocsinError):
    """A template failed at render time (Prefect: ActionFailed with `template_error`). Do not retry."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line
        self.reason = message


@dataclass(frozen=True)
class TemplateProblem:
    """Why a template was rejected at create time: the 1-based line and a message."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


# --- Prefect 1 placeholders (seed 000) ----------------------------------------------------------------------

# Each `{name}` of seed 000's event attributes, as a Jinja expression over the Prefect 3 context.
PLACEHOLDERS: dict[str, str] = {
    "event_name": "event.event",
    "message": "message",
    "tenant_id": "event.payload.tenant_id",
    "tenant_slug": "event.payload.tenant_slug",
    "timestamp": "event.occurred",
    "id": "event.id",
    "flow_id": "flow.id",
    "flow_group_id": "flow.id",  # a Prefect 1 flow group is what Prefect 3 calls a flow
    "flow_name": "flow.name",
    "flow_link": "flow | ui_url",
    "flow_run_id": "flow_run.id",
    "flow_run_name": "flow_run.name",
    "flow_run_link": "flow_run | ui_url",
    "state": "flow_run.state.name",
    "state_name": "flow_run.state.name",
    "state_message": "flow_run.state.message",
    # SLAs are proactive triggers here: the automation is the SLA config, `within` its duration, a run still
    # Scheduled/Pending failed the start SLA while a Running one failed the finish SLA.
    "flow_sla_config_id": "event.payload.flow_sla_config_id or automation.id",
    "kind": "event.payload.kind or "
    "('start' if flow_run.state.type in ['SCHEDULED', 'PENDING'] else 'finish')",
    "duration_seconds": "(event.payload.duration_seconds or firing.trigger.within or 0) | int",
    # Prefect 1 agents are Prefect 3 workers, grouped by work pool / work queue.
    "agent_config_id": "event.payload.agent_config_id or work_pool.name or work_queue.name "
    "or event.resource.name",
    "sla_min_healthy": "event.payload.sla_min_healthy or firing.trigger.threshold",
    "healthy_agent_ids": "event.payload.healthy_agent_ids | join(', ')",
    "unhealthy_agent_ids": "event.payload.unhealthy_agent_ids | join(', ')",
    "agent_ids": "(event.payload.unhealthy_agent_ids or [event.resource.name or event.resource.id])"
    " | join(', ')",
}

_PLACEHOLDER = re.compile(
    r"(?<![{%])\{(" + "|".join(sorted(PLACEHOLDERS, key=len, reverse=True)) + r")\}(?!\})"
)

# Seed 000's default messages, verbatim, for the three event kinds it defines.
DEFAULT_MESSAGES: dict[str, str] = {
    "flow-run-state-change": "Run {flow_run_name} of flow {flow_name} entered state {state} with message "
    "{state_message}. See {flow_run_link} for more details.",
    "flow-sla-failure": "Run {flow_run_name} ({flow_run_id}) of flow {flow_name} failed {kind} SLA "
    "({flow_sla_config_id}) after {duration_seconds} seconds. See {flow_run_link} for more details.",
    "agent-sla-failure": "Agents sharing the config {agent_config_id} have failed the minimum healthy count "
    "of "
    "{sla_min_healthy}. The following agents are unhealthy: {agent_ids}",
}


def convert_placeholders(source: str) -> str:
    """Rewrite known `{placeholder}`s as Jinja; everything else (JSON braces, `{{ }}`) is left alone."""
    if "{" not in source:
        return source
    return _converted(source)


@lru_cache(maxsize=1024)
def _converted(source: str) -> str:
    return _PLACEHOLDER.sub(lambda m: "{{ " + PLACEHOLDERS[m.group(1)] + " }}", source)


def default_message_kind(context: Mapping[str, Any]) -> str:
    """Which seed 000 default message fits this firing: SLA for proactive flow-run firings, agent SLA for
    work pool / queue / worker events, else the flow run state change."""
    event = context.get("event")
    name = event.event if isinstance(event, EventView) else ""
    firing = context.get("firing") or {}
    posture = ((firing.get("trigger") or {}) if isinstance(firing, Mapping) else {}).get("posture")
    if ".sla." in f".{name}." or (posture == "Proactive" and "flow_run" in context):
        return "flow-sla-failure"
    if re.match(r"prefect\.(work-pool|work-queue|worker|agent)\.", name) or (
        "flow_run" not in context and ("work_pool" in context or "work_queue" in context)
    ):
        return "agent-sla-failure"
    return "flow-run-state-change"


# --- the sandbox --------------------------------------------------------------------------------------------

_BIG_FORMAT_WIDTH = re.compile(r"%[-#0 +]*\d{6,}|%[-#0 +]*\d*\.\d{6,}")


def _bounded(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_NUMERIC_ARGUMENT:
        raise SecurityError(
            f"numeric argument {value} is larger than the template limit {MAX_NUMERIC_ARGUMENT}"
        )


def _safe_range(*args: int) -> range:
    for arg in args:
        _bounded(arg)
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise SecurityError(f"range() is limited to {MAX_RANGE} items in templates")
    return result


class _Sandbox(ImmutableSandboxedEnvironment):
    """Prefect's sandbox plus bounds on the operations that can allocate without looping."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(count, int):
                    if len(seq) * count > MAX_OUTPUT_CHARS:
                        raise SecurityError("repeating a sequence past the template output limit")
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and abs(left) > 1:
                if left.bit_length() * right > MAX_POWER_BITS:
                    raise SecurityError("power too large for a template")
        elif operator == "%" and isinstance(left, str) and _BIG_FORMAT_WIDTH.search(left):
            raise SecurityError("format width too large for a template")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        for value in itertools.chain(args, kwargs.values()):
            _bounded(value)
        return super().call(__context, __obj, *args, **kwargs)


def _bounded_filter(original: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for value in itertools.chain(args[1:], kwargs.values()):
            _bounded(value)
        if (
            original.__name__ == "do_format"
            and isinstance(args[0], str)
            and _BIG_FORMAT_WIDTH.search(args[0])
        ):
            raise SecurityError("format width too large for a template")
        return original(*args, **kwargs)

    return wrapper


def _make_environment() -> _Sandbox:
    env = _Sandbox(undefined=ChainableUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals["range"] = _safe_range
    for name in ("center", "indent", "wordwrap", "truncate", "format", "batch", "slice", "random"):
        if name in env.filters:
            env.filters[name] = _bounded_filter(env.filters[name])
    env.filters.update(
        ui_url=ui_url, ui_resource_events_url=ui_resource_events_url, tojson=tojson, flow_run_id=flow_run_id
    )
    return env


# --- filters ------------------------------------------------------------------------------------------------

_KIND_PATHS = {
    "flow-run": "runs/flow-run/{id}",
    "task-run": "runs/task-run/{id}",
    "flow": "flows/flow/{id}",
    "deployment": "deployments/deployment/{id}",
    "work-pool": "work-pools/work-pool/{name}",
    "work-queue": "work-queues/work-queue/{id}",
    "automation": "automations/automation/{id}",
}


@pass_context
def ui_url(ctx: Context, obj: Any) -> str:
    """A link to the object in the Prefect UI; "" when no UI URL is configured or the object has no page."""
    base = ctx.get("_ui_url")
    if not base or obj is None:
        return ""
    base = str(base).rstrip("/")
    if isinstance(obj, EventView):
        return f"{base}/events/event/{obj.occurred.date().isoformat()}/{obj.id}"
    if isinstance(obj, PrefectObject):
        kind, ident, name = obj.kind, obj.get("id"), obj.get("name")
    else:
        resource_id = obj.get(RESOURCE_ID) if isinstance(obj, Mapping) else str(obj)
        match = re.match(r"prefect\.([a-z-]+)\.(.+)$", str(resource_id or ""))
        if not match:
            return ""
        kind, ident = match.groups()
        name = obj.get(RESOURCE_NAME) if isinstance(obj, Mapping) else None
    template = _KIND_PATHS.get(kind)
    if template is None or not ident:
        return ""
    return f"{base}/{template.format(id=ident, name=name or ident)}"


@pass_context
def ui_resource_events_url(ctx: Context, obj: Any) -> str:
    base = ctx.get("_ui_url")
    resource_id = obj.get(RESOURCE_ID) if isinstance(obj, Mapping) else obj
    if isinstance(obj, PrefectObject):
        resource_id = f"prefect.{obj.kind}.{obj.get('id')}"
    if not base or not resource_id:
        return ""
    return f"{str(base).rstrip('/')}/events?resource={resource_id}"


def _json_default(value: Any) -> Any:
    if isinstance(value, EventView):
        return value._as_model().model_dump(mode="json")
    if isinstance(value, LabelDiver):
        return value.as_dict()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (UUID, Enum)):
        return str(value.value if isinstance(value, Enum) else value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, ChainableUndefined):
        return None
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def tojson(value: Any, indent: int | None = None) -> str:
    """JSON without Jinja's HTML escaping (alerts are not HTML); understands events, models, dates, UUIDs."""
    _bounded(indent)
    return json.dumps(value, default=_json_default, indent=indent)


_FLOW_RUN_ID = re.compile(
    r"flow-run[./]([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
)


def flow_run_id(value: Any) -> str:
    """The flow run UUID in a resource id (`prefect.flow-run.<id>`), a UI link (`.../flow-run/<id>`) or a
    resource/event; "" when there is none."""
    if isinstance(value, EventView):
        candidates = [value.resource, *value.related]
    elif isinstance(value, Mapping):
        candidates = [value]
    else:
        candidates = [{RESOURCE_ID: str(value)}]
    for labels in candidates:
        match = _FLOW_RUN_ID.search(str(labels.get(RESOURCE_ID, "")))
        if match:
            return match.group(1)
    return ""


# --- the render context -------------------------------------------------------------------------------------


class ResourceView(dict):  # type: ignore[type-arg]
    """A resource's labels with Prefect's `.id`, `.name` and `.role` shortcuts."""

    @property
    def id(self) -> str:
        return str(self.get(RESOURCE_ID, ""))

    @property
    def name(self) -> str | None:
        return self.get(RESOURCE_NAME)

    @property
    def role(self) -> str | None:
        return self.get(RESOURCE_ROLE)


class PrefectObject(dict):  # type: ignore[type-arg]
    """A Prefect object (flow, flow_run, ...) rebuilt from event labels; `kind` picks its UI page."""

    def __init__(self, kind: str, data: Mapping[str, Any]) -> None:
        super().__init__(data)
        self.kind = kind


class EventView:
    """The triggering event as templates see it (Prefect's ReceivedEvent attributes plus `url`)."""

    def __init__(self, model: ReceivedEvent) -> None:
        self._model: ReceivedEvent | None = model
        self._fill(str(model.id), model.event, model.occurred, model.received,
                   str(model.follows) if model.follows else None, model.payload, model.resource, model.related)

    @classmethod
    def from_engine_json(cls, data: Mapping[str, Any]) -> EventView:
        """The view of an event as the engine serialised it (`ReceivedEvent.model_dump_json`, inside outbox
        rows): valid already, so it is read as is instead of validated again per delivery; the model is made
        only if a template iterates the event. KeyError/TypeError/ValueError if it is not such JSON."""
        view = cls.__new__(cls)
        view._model, view._data = None, data
        follows = data.get("follows")
        view._fill(str(data["id"]), data["event"], _utc(data["occurred"]), _utc(data["received"]),
                   str(follows) if follows else None, data.get("payload") or {}, data["resource"],
                   data.get("related") or [])
        return view

    def _fill(self, event_id: str, name: str, occurred: datetime, received: datetime, follows: str | None,
              payload: dict[str, Any], resource: Mapping[str, str], related: list[Mapping[str, str]]) -> None:
        self.id = event_id
        self.event = name
        self.occurred = occurred
        self.received = received
        self.follows = follows
        self.payload = payload
        self.resource = ResourceView(resource)
        self.related = [ResourceView(r) for r in related]
        self.resource_in_role = {}
        self.resources_in_role: dict[str, list[ResourceView]] = {}
        for item in self.related:
            role = item.role or ""
            self.resource_in_role.setdefault(role, item)
            self.resources_in_role.setdefault(role, []).append(item)

    def __str__(self) -> str:
        return self.event

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter(self._as_model().model_dump(mode="json").items())

    def _as_model(self) -> ReceivedEvent:
        if self._model is None:
            self._model = ReceivedEvent.model_validate(self._data)
        return self._model


def _utc(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError("naive time")
    return value if value.tzinfo is UTC else value.astimezone(UTC)


class LabelDiver:
    """Dotted label names as attributes: `labels.prefect.resource.id`; `labels['prefect.state-name']` too."""

    def __init__(self, labels: Mapping[str, str], prefix: str = "") -> None:
        self._labels = labels
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        key = self._prefix + name
        if key in self._labels:
            return self._labels[key]
        if any(label.startswith(key + ".") for label in self._labels):
            return LabelDiver(self._labels, key + ".")
        raise AttributeError(name)

    def __getitem__(self, name: str) -> Any:
        try:
            return self.__getattr__(name)
        except AttributeError:
            raise KeyError(name) from None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.as_dict().items())

    def as_dict(self) -> dict[str, str]:
        n = len(self._prefix)
        return {k[n:]: v for k, v in self._labels.items() if k.startswith(self._prefix)}

    def __str__(self) -> str:
        return json.dumps(self.as_dict())


def _as_event(value: Any) -> ReceivedEvent | None:
    if value is None or isinstance(value, ReceivedEvent):
        return value
    if isinstance(value, BaseModel):
        value = value.model_dump()
    return ReceivedEvent.model_validate(value)


def _event_view(value: Any, engine_built: bool) -> EventView | None:
    """The view of an event given as a model or a dict; a dict the engine serialised is read without pydantic
    when `engine_built` (anything unexpected in it takes the validating path)."""
    if engine_built and isinstance(value, dict):
        try:
            return EventView.from_engine_json(value)
        except (KeyError, TypeError, ValueError, AttributeError):
            pass
    model = _as_event(value)
    return EventView(model) if model is not None else None


def _firing_json(firing: Any) -> dict[str, Any]:
    return firing.to_json() if hasattr(firing, "to_json") else dict(firing)


def _all_firings(firing: dict[str, Any]) -> list[dict[str, Any]]:
    found = [firing]
    for child in firing.get("triggering_firings") or []:
        found.extend(_all_firings(child))
    return found


def _latest_event(firing: dict[str, Any]) -> Any:
    """A composite firing's event is its newest child's (recursively), as Prefect passes it up."""
    if firing.get("triggering_event"):
        return firing["triggering_event"]
    children = sorted(firing.get("triggering_firings") or [], key=lambda f: str(f.get("triggered") or ""))
    for child in reversed(children):
        event = _latest_event(child)
        if event:
            return event
    return None


_KINDS = {
    "flow": "flow",
    "flow-run": "flow_run",
    "deployment": "deployment",
    "task-run": "task_run",
    "work-pool": "work_pool",
    "work-queue": "work_queue",
}


def _prefect_objects(resources: list[Mapping[str, str]]) -> dict[str, PrefectObject]:
    """The first resource of each Prefect kind, as an object with id, name, labels (and state for runs)."""
    found: dict[str, PrefectObject] = {}
    tags = [
        r[RESOURCE_ID][len("prefect.tag.") :]
        for r in resources
        if r.get(RESOURCE_ID, "").startswith("prefect.tag.")
    ]
    for labels in resources:
        match = re.match(r"prefect\.([a-z-]+)\.(.+)$", labels.get(RESOURCE_ID, ""))
        if not match or match.group(1) not in _KINDS or _KINDS[match.group(1)] in found:
            continue
        kind, ident = match.groups()
        data: dict[str, Any] = {"id": ident, "name": labels.get(RESOURCE_NAME), "labels": dict(labels)}
        if kind in ("flow-run", "task-run"):
            data["state"] = {
                field: labels.get(f"prefect.state-{field}")
                for field in ("name", "type", "message", "timestamp")
            }
            data["tags"] = tags
        if kind == "work-pool":
            data["type"] = labels.get("prefect.work-pool.type")
        found[_KINDS[kind]] = PrefectObject(kind, data)
    run = found.get("flow_run")
    if run is not None:
        for key in ("flow", "deployment", "work_queue", "work_pool"):
            run.setdefault(f"{key}_id", found[key]["id"] if key in found else None)
    return found


class SecretLookup:
    """`{{ secrets.name }}` / `{{ secrets['name'] }}` in templates: the engine's stored secrets, read at send
    time. Without a resolver (previews, validation) every secret renders as a mask."""

    MASK = "********"

    def __init__(self, resolve: Callable[[str], str] | None = None) -> None:
        self._resolve = resolve

    def __getitem__(self, name: str) -> str:
        if self._resolve is None:
            return self.MASK
        try:
            return self._resolve(str(name))
        except LookupError:
            raise TemplateRenderError(f"no secret named {name!r}") from None
        except TocsinError as exc:  # NotFound and friends; their messages name the secret, never its value
            raise TemplateRenderError(str(exc)) from None

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]


_OBJECT_NAMES = frozenset(_KINDS.values()) | {"flow_run_url"}


def build_context(
    automation: Mapping[str, Any], firing: Any, event: Any = None, *, ui_url: str | None = None,
    resolve_secret: Callable[[str], str] | None = None, names: Collection[str] | None = None,
    engine_built: bool = False,
) -> dict[str, Any]:
    """The template context for one firing; the same for every action of every trigger type.

    `firing` is a tocsin.triggers.Firing (or its `to_json()`); `event` defaults to the firing's triggering
    event, which for a composite firing is its newest child's. Pass `event` explicitly for
    `actions_on_trigger` (Prefect gives those the `prefect.automation.triggered` event). `ui_url` is the
    Prefect UI base for links.

    `names` (see `template_variables`) limits the costly entries (the event, `events` and the Prefect objects)
    to the ones the templates read; the others are left out. None builds everything.

    `engine_built`: the firing and event are JSON the engine wrote (the dispatcher's outbox rows), so their
    events are read without validating them again.
    """
    firing_data = _firing_json(firing)
    objects = names is None or not _OBJECT_NAMES.isdisjoint(names)
    view = None
    if names is None or "event" in names or objects:
        view = _event_view(event if event is not None else _latest_event(firing_data), engine_built)
    labels = dict(firing_data.get("triggering_labels") or {})
    all_firings = _all_firings(firing_data)
    events: list[EventView] = []
    if names is None or "events" in names:
        seen = set()
        for item in all_firings:
            if item.get("triggering_event"):
                candidate = _event_view(item["triggering_event"], engine_built)
                if candidate is not None and candidate.id not in seen:
                    seen.add(candidate.id)
                    events.append(candidate)
    resources: list[Mapping[str, str]] = []
    if view is not None:
        resources += [view.resource, *view.related]
    if labels.get(RESOURCE_ID):
        resources.append(labels)
    context: dict[str, Any] = {
        "automation": PrefectObject("automation", automation),
        "event": view,
        "labels": LabelDiver(labels),
        "firing": firing_data,
        "firings": all_firings,
        "events": events,
        "_ui_url": ui_url,
        "secrets": SecretLookup(resolve_secret),
    }
    if objects:
        context.update(_prefect_objects(resources))
    if ui_url and "flow_run" in context:
        # not in Prefect's context, but seed 004's Slack template uses it
        context["flow_run_url"] = f"{ui_url.rstrip('/')}/runs/flow-run/{context['flow_run']['id']}"
    return context


# --- validation ---------------------------------------------------------------------------------------------

_ENV = _make_environment()


def _loop_problem(tree: nodes.Template) -> TemplateProblem | None:
    loops = list(tree.find_all(nodes.For))
    if len(loops) > MAX_FOR_LOOPS:
        return TemplateProblem(
            loops[MAX_FOR_LOOPS].lineno,
            f"contains {len(loops)} for loops; at most {MAX_FOR_LOOPS} are allowed",
        )

    def deepest(node: nodes.Node, depth: int) -> TemplateProblem | None:
        for child in node.iter_child_nodes():
            child_depth = depth + 1 if isinstance(child, nodes.For) else depth
            if child_depth > MAX_LOOP_NESTING:
                return TemplateProblem(
                    child.lineno,
                    f"for loops are nested {child_depth} deep; at most {MAX_LOOP_NESTING} levels are allowed",
                )
            problem = deepest(child, child_depth)
            if problem:
                return problem
        return None

    return deepest(tree, 0)


@lru_cache(maxsize=1024)
def _compile(source: str) -> Template | TemplateProblem:
    """Parse, check loop limits and compile once per distinct source."""
    try:
        tree = _ENV.parse(source)
        problem = _loop_problem(tree)
        if problem:
            return problem
        return _ENV.from_string(tree)  # type: ignore[arg-type]
    except TemplateSyntaxError as exc:
        return TemplateProblem(exc.lineno or 1, exc.message or "syntax error")


@lru_cache(maxsize=1024)
def _variables(source: str) -> frozenset[str] | None:
    try:
        return frozenset(meta.find_undeclared_variables(_ENV.parse(convert_placeholders(source))))
    except TemplateSyntaxError:
        return None


def template_variables(sources: Collection[str]) -> frozenset[str] | None:
    """The context names the templates read, for `build_context(names=...)`; None (build everything) when a
    template reads `message` (the default message uses the whole context) or does not parse."""
    found: set[str] = set()
    for source in sources:
        names = _variables(source)
        if names is None or "message" in names:
            return None
        found |= names
    return frozenset(found)


def renders_in_time_of_data(sources: Collection[str]) -> bool:
    """Whether every template only prints looked-up values (no loops, calls, filters...): such a render takes
    time in proportion to the data and needs no watchdog, so the dispatcher runs it on its event loop."""
    return all(not _may_run_long(convert_placeholders(source)) for source in sources)


def validate_template(source: str) -> TemplateProblem | None:
    """None if `source` (Jinja or `{placeholder}` style) is acceptable, else the line and reason."""
    result = _compile(convert_placeholders(source))
    return result if isinstance(result, TemplateProblem) else None


def action_template_problems(actions: list[ActionBase], path: str = "actions") -> list[tuple[str, str]]:
    """(path, "line N: message") for every invalid template in a list of parsed actions."""
    problems = []
    for i, action in enumerate(actions):
        for field, source in action.template_fields():
            problem = validate_template(source)
            if problem is not None:
                problems.append((f"{path}[{i}].{field}", str(problem)))
    return problems


def validate_action_templates(actions: list[ActionBase], path: str = "actions") -> None:
    problems = action_template_problems(actions, path)
    if problems:
        raise ValidationFailed(problems)


# --- rendering ----------------------------------------------------------------------------------------------


class _RenderTimeout(BaseException):
    """Raised into a rendering thread by the watchdog. BaseException so no `except Exception` swallows it."""


class _Watchdog:
    """One daemon thread that interrupts renders past their deadline."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._counter = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float) -> _Deadline:
        deadline = _Deadline(threading.get_ident(), time.monotonic() + seconds)
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="tocsin-template-watchdog", daemon=True
                )
                self._thread.start()
            # the watchdog sleeps until the earliest deadline (finished ones are dropped when it wakes): wake it
            # only when this one comes first, not on every render (each wake-up is a thread switch)
            if not self._heap or deadline.at < self._heap[0][0]:
                self._cond.notify()
            heapq.heappush(self._heap, (deadline.at, next(self._counter), deadline))
        return deadline

    def disarm(self, deadline: _Deadline) -> None:
        try:
            with self._cond:
                deadline.done = True
                if deadline.fired:  # the exception may still be pending: cancel it
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(deadline.thread_id), None)
        except _RenderTimeout:
            pass  # it arrived just now; the render had finished anyway

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                at, _, deadline = self._heap[0]
                wait = at - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                deadline.fired = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(deadline.thread_id), ctypes.py_object(_RenderTimeout)
                )


@dataclass
class _Deadline:
    thread_id: int
    at: float
    done: bool = False
    fired: bool = False


_WATCHDOG = _Watchdog()


def _template_line(exc: BaseException) -> int | None:
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


@lru_cache(maxsize=1024)
def _uses_message(source: str) -> bool:
    """Whether the template reads the variable `message` (the `{message}` placeholder)."""
    return "message" in meta.find_undeclared_variables(_ENV.parse(source))


# Nodes of templates that only print values looked up in the context (`{{ event.id }}`, `{{ x['k'] }}`): they
# cannot loop or call anything, so they render in time proportional to the data and skip the watchdog
_STRAIGHT_NODES = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Getattr, nodes.Getitem,
                   nodes.Const)


@lru_cache(maxsize=1024)
def _may_run_long(source: str) -> bool:
    """Whether the template needs the watchdog: anything but plain lookups (loops, calls, filters, tests,
    operators, macros, ...) may."""
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError:
        return True
    return not all(type(node) in _STRAIGHT_NODES for node in [tree, *tree.find_all(nodes.Node)])


_Lookup = tuple[str, tuple[tuple[bool, Any], ...]]  # a context name, then (is attribute, name or key) steps


@lru_cache(maxsize=1024)
def _lookups(source: str) -> tuple[str | _Lookup, ...] | None:
    """A template of text and `{{ name.attr['key'] }}` lookups as its parts (text, or a lookup), so that it
    prints without Jinja's per-render context and generator (about half of a short render); None for anything
    else, which Jinja renders."""
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError:
        return None
    parts: list[str | _Lookup] = []
    for output in tree.body:
        if not isinstance(output, nodes.Output):
            return None
        for node in output.nodes:
            if isinstance(node, nodes.TemplateData):
                parts.append(node.data)
                continue
            steps: list[tuple[bool, Any]] = []
            while isinstance(node, (nodes.Getattr, nodes.Getitem)):
                if isinstance(node, nodes.Getattr):
                    steps.append((True, node.attr))
                elif isinstance(node.arg, nodes.Const):
                    steps.append((False, node.arg.value))
                else:
                    return None
                node = node.node
            if not isinstance(node, nodes.Name):
                return None
            parts.append((node.name, tuple(reversed(steps))))
    return tuple(parts)


def _print_lookups(parts: tuple[str | _Lookup, ...], variables: dict[str, Any]) -> str:
    """What Jinja's compiled code does for these parts: names from the context, then the globals, else
    undefined; each step through the sandbox's getattr/getitem; each value printed with str()."""
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        name, steps = part
        if name in variables:
            value = variables[name]
        elif name in _ENV.globals:
            value = _ENV.globals[name]
        else:
            value = _ENV.undefined(name=name)
        for is_attribute, key in steps:
            value = _ENV.getattr(value, key) if is_attribute else _ENV.getitem(value, key)
        out.append(str(value))
    return "".join(out)


def render(
    source: str,
    context: Mapping[str, Any],
    *,
    max_output_chars: int = MAX_OUTPUT_CHARS,
    timeout_seconds: float = RENDER_TIMEOUT_SECONDS,
) -> str:
    """Render one template against a `build_context` dict; raise TemplateRenderError on any failure."""
    converted = convert_placeholders(source)
    compiled = _compile(converted)
    if isinstance(compiled, TemplateProblem):
        raise TemplateRenderError(compiled.message, compiled.line)
    variables = context if isinstance(context, dict) else dict(context)
    if "message" not in variables and _uses_message(converted):
        variables = dict(variables)
        variables["message"] = _render_default_message(variables, max_output_chars, timeout_seconds)
    if not _may_run_long(converted):
        parts = _lookups(converted)
        if parts is not None:
            try:
                text: str | None = _print_lookups(parts, variables)
            except Exception:  # noqa: BLE001 - Jinja renders it again below, and reports the error as always
                text = None
            if text is not None:
                if len(text) > max_output_chars:
                    raise TemplateRenderError(f"output is longer than {max_output_chars} characters")
                return text
        try:
            return _generate(compiled, variables, max_output_chars)
        except Exception as exc:
            raise _render_error(exc, timeout_seconds) from None
    deadline = _WATCHDOG.arm(timeout_seconds)
    try:
        try:
            return _generate(compiled, variables, max_output_chars)
        finally:
            _WATCHDOG.disarm(deadline)
    except (Exception, _RenderTimeout) as exc:  # the watchdog's timeout is a BaseException
        raise _render_error(exc, timeout_seconds) from None


def _render_error(exc: BaseException, timeout_seconds: float) -> TemplateRenderError:
    """What a failed render reports: any template error is the template's fault, reported, never a crash."""
    if isinstance(exc, TemplateRenderError):
        return exc
    if isinstance(exc, _RenderTimeout):
        return TemplateRenderError(f"rendering took longer than {timeout_seconds:g} s")
    if isinstance(exc, SecurityError):
        return TemplateRenderError(f"not allowed in templates: {exc}", _template_line(exc))
    return TemplateRenderError(f"{type(exc).__name__}: {exc}", _template_line(exc))


def _generate(template: Template, variables: dict[str, Any], limit: int) -> str:
    parts, size = [], 0
    for chunk in template.generate(variables):
        size += len(chunk)
        if size > limit:
            raise TemplateRenderError(f"output is longer than {limit} characters")
        parts.append(chunk)
    return "".join(parts)


def _render_default_message(variables: dict[str, Any], limit: int, timeout_seconds: float) -> str:
    source = DEFAULT_MESSAGES[default_message_kind(variables)]
    return render(
        source, {**variables, "message": ""}, max_output_chars=limit, timeout_seconds=timeout_seconds
    )


def default_message(context: Mapping[str, Any]) -> str:
    """Seed 000's default message for this firing, rendered (what `{message}` expands to)."""
    return _render_default_message(dict(context), MAX_OUTPUT_CHARS, RENDER_TIMEOUT_SECONDS)


def render_action(action: ActionBase, context: Mapping[str, Any], **limits: Any) -> dict[str, Any]:
    """Every templated field of an action, rendered: send-notification gives {subject, body}, call-webhook
    {payload, headers}, run-deployment {parameters} (hydrated as Prefect does). Other actions give {}."""
    kind = action.type
    if kind == "send-notification":
        return {
            "subject": render(action.subject, context, **limits),  # type: ignore[attr-defined]
            "body": render(action.body, context, **limits),
        }  # type: ignore[attr-defined]
    if kind == "call-webhook":
        headers = {name: render(value, context, **limits) for name, value in (action.headers or {}).items()}  # type: ignore[attr-defined]
        return {"payload": render(action.payload, context, **limits), "headers": headers}  # type: ignore[attr-defined]
    if kind == "run-deployment":
        return {"parameters": _hydrate(action.parameters or {}, context, limits)}  # type: ignore[attr-defined]
    return {}


_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?:(?!\}\}).)*\}\}\s*$", re.DOTALL)


def _hydrate(value: Any, context: Mapping[str, Any], limits: dict[str, Any]) -> Any:
    """Prefect's parameter hydration: Jinja strings render; a lone `{{ x }}` keeps x's JSON type."""
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        if _SINGLE_EXPRESSION.match(value):
            expression = value.strip()[2:-2]
            rendered = render("{{ (" + expression + ") | tojson }}", context, **limits)
            try:
                return json.loads(rendered)
            except ValueError:
                return rendered
        return render(value, context, **limits)
    if isinstance(value, dict):
        if value.get("__prefect_kind") == "jinja":
            return render(str(value.get("template", "")), context, **limits)
        if value.get("__prefect_kind") == "json":
            return json.loads(str(value.get("value", "null")))
        return {k: _hydrate(v, context, limits) for k, v in value.items()}
    if isinstance(value, list):
        return [_hydrate(v, context, limits) for v in value]
    return value
