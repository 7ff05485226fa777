"""Prefect's automation actions (semantics §10): what an automation does when it fires.

The JSON is Prefect's, unchanged: a list of objects tagged by `type`. Two leniencies keep Terraform's flat
action objects loading (the provider sends every attribute of every action type): unknown keys whose value is
empty (null, "", {}, []) are ignored, and `block_id` is read as `block_document_id` (seed 004). Any other
unknown key is an error, so a typo such as `bdoy` fails at plan time instead of sending an empty alert.

Targets follow Prefect: `source: "selected"` needs the id, `source: "inferred"` forbids it (the target is then
the first resource of that kind in the triggering event).
"""

from __future__ import annotations

import json
from datetime import timedelta
from enum import Enum
from typing import Annotated, Any, ClassVar, Literal, Union
from uuid import UUID

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from tocsin.errors import ValidationFailed

DEFAULT_SUBJECT = "Prefect automated notification"

# Accepted by Prefect Cloud only; named so the error can say so instead of "unknown type".
CLOUD_ONLY_TYPES = frozenset(
    {
        "declare-incident",
        "send-email-notification",
        "pause-schedule-for-flow-run",
        "resume-schedule-for-flow-run",
    }
)


class StateType(str, Enum):
    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    CRASHED = "CRASHED"
    PAUSED = "PAUSED"
    CANCELLING = "CANCELLING"


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == {} or value == []


class ActionBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str

    @model_validator(mode="before")
    @classmethod
    def _drop_empty_unknowns(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        known = set(cls.model_fields)
        for field in cls.model_fields.values():
            if isinstance(field.validation_alias, AliasChoices):
                known.update(str(c) for c in field.validation_alias.choices)
        kept = {}
        for key, value in data.items():
            if key in known:
                kept[key] = value
            elif not _is_empty(value):
                raise ValueError(f"{key}: is not a field of {data.get('type')} actions")
        return kept

    def template_fields(self) -> list[tuple[str, str]]:
        """(field path relative to the action, Jinja source) for every templated field."""
        return []


class _Targeted(ActionBase):
    """Acts on a Prefect object picked by id (`selected`) or found in the triggering event (`inferred`)."""

    target_field: ClassVar[str]

    source: Literal["selected", "inferred"] = "selected"

    @model_validator(mode="after")
    def _source_rule(self) -> _Targeted:
        value = getattr(self, self.target_field)
        if self.source == "selected" and value is None:
            raise ValueError(f"{self.target_field}: is required when source is 'selected'")
        if self.source == "inferred" and value is not None:
            raise ValueError(
                f"{self.target_field}: must not be set when source is 'inferred' "
                "(the target is taken from the triggering event)"
            )
        return self


class DoNothing(ActionBase):
    type: Literal["do-nothing"] = "do-nothing"


class RunDeployment(_Targeted):
    target_field: ClassVar[str] = "deployment_id"

    type: Literal["run-deployment"] = "run-deployment"
    deployment_id: UUID | None = None
    parameters: dict[str, Any] | None = None
    job_variables: dict[str, Any] | None = None
    schedule_after: timedelta = Field(default=timedelta(0))

    @field_validator("schedule_after")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("must be zero or more seconds")
        return value

    @field_serializer("schedule_after")
    def _seconds(self, value: timedelta) -> float:
        return value.total_seconds()

    def template_fields(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        _jinja_strings(self.parameters or {}, "parameters", found)
        return found


def _jinja_strings(value: Any, path: str, found: list[tuple[str, str]]) -> None:
    """Parameter strings containing `{{` or `{%` are Jinja templates (Prefect's hydration rule)."""
    if isinstance(value, str):
        if "{{" in value or "{%" in value:
            found.append((path, value))
    elif isinstance(value, dict):
        if value.get("__prefect_kind") == "jinja" and isinstance(value.get("template"), str):
            found.append((f"{path}.template", value["template"]))
            return
        for key, item in value.items():
            _jinja_strings(item, f"{path}.{key}", found)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _jinja_strings(item, f"{path}[{i}]", found)


class PauseDeployment(_Targeted):
    target_field: ClassVar[str] = "deployment_id"
    type: Literal["pause-deployment"] = "pause-deployment"
    deployment_id: UUID | None = None


class ResumeDeployment(_Targeted):
    target_field: ClassVar[str] = "deployment_id"
    type: Literal["resume-deployment"] = "resume-deployment"
    deployment_id: UUID | None = None


class CancelFlowRun(ActionBase):
    type: Literal["cancel-flow-run"] = "cancel-flow-run"


class SuspendFlowRun(ActionBase):
    type: Literal["suspend-flow-run"] = "suspend-flow-run"


class ResumeFlowRun(ActionBase):
    type: Literal["resume-flow-run"] = "resume-flow-run"


class DeleteFlowRun(ActionBase):
    type: Literal["delete-flow-run"] = "delete-flow-run"


class ChangeFlowRunState(ActionBase):
    type: Literal["change-flow-run-state"] = "change-flow-run-state"
    state: StateType
    name: str | None = None
    message: str | None = None  # None: "State changed by Automation <id>" at run time
    force: bool = False


class PauseWorkQueue(_Targeted):
    target_field: ClassVar[str] = "work_queue_id"
    type: Literal["pause-work-queue"] = "pause-work-queue"
    work_queue_id: UUID | None = None


class ResumeWorkQueue(_Targeted):
    target_field: ClassVar[str] = "work_queue_id"
    type: Literal["resume-work-queue"] = "resume-work-queue"
    work_queue_id: UUID | None = None


class PauseWorkPool(_Targeted):
    target_field: ClassVar[str] = "work_pool_id"
    type: Literal["pause-work-pool"] = "pause-work-pool"
    work_pool_id: UUID | None = None


class ResumeWorkPool(_Targeted):
    target_field: ClassVar[str] = "work_pool_id"
    type: Literal["resume-work-pool"] = "resume-work-pool"
    work_pool_id: UUID | None = None


class PauseAutomation(_Targeted):
    target_field: ClassVar[str] = "automation_id"
    type: Literal["pause-automation"] = "pause-automation"
    automation_id: UUID | None = None


class ResumeAutomation(_Targeted):
    target_field: ClassVar[str] = "automation_id"
    type: Literal["resume-automation"] = "resume-automation"
    automation_id: UUID | None = None


_BLOCK_ID = Field(validation_alias=AliasChoices("block_document_id", "block_id"))


class SendNotification(ActionBase):
    """Render subject and body, then send them through the notification block."""

    type: Literal["send-notification"] = "send-notification"
    block_document_id: UUID = _BLOCK_ID
    subject: str = DEFAULT_SUBJECT
    body: str

    def template_fields(self) -> list[tuple[str, str]]:
        return [("subject", self.subject), ("body", self.body)]


class CallWebhook(ActionBase):
    """Render `payload` (and header values) and send them to the `webhook` block's URL; non-2xx fails."""

    type: Literal["call-webhook"] = "call-webhook"
    block_document_id: UUID = _BLOCK_ID
    payload: str = ""
    headers: dict[str, str] | None = None

    @field_validator("payload", mode="before")
    @classmethod
    def _objects_as_json(cls, value: Any) -> Any:
        # Prefect accepts a JSON object here and sends it as indented JSON text.
        if isinstance(value, (dict, list)):
            return json.dumps(value, indent=2)
        return "" if value is None else value

    def template_fields(self) -> list[tuple[str, str]]:
        fields = [("payload", self.payload)]
        fields += [(f"headers.{name}", value) for name, value in (self.headers or {}).items()]
        return fields


_MODELS: tuple[type[ActionBase], ...] = (
    DoNothing,
    RunDeployment,
    PauseDeployment,
    ResumeDeployment,
    CancelFlowRun,
    SuspendFlowRun,
    ResumeFlowRun,
    DeleteFlowRun,
    ChangeFlowRunState,
    PauseWorkQueue,
    ResumeWorkQueue,
    PauseWorkPool,
    ResumeWorkPool,
    PauseAutomation,
    ResumeAutomation,
    SendNotification,
    CallWebhook,
)
ACTION_TYPES: dict[str, type[ActionBase]] = {m.model_fields["type"].default: m for m in _MODELS}

Action = Annotated[
    Union[
        DoNothing,
        RunDeployment,
        PauseDeployment,
        ResumeDeployment,
        CancelFlowRun,
        SuspendFlowRun,
        ResumeFlowRun,
        DeleteFlowRun,
        ChangeFlowRunState,
        PauseWorkQueue,
        ResumeWorkQueue,
        PauseWorkPool,
        ResumeWorkPool,
        PauseAutomation,
        ResumeAutomation,
        SendNotification,
        CallWebhook,
    ],
    Field(discriminator="type"),
]


def parse_action(data: Any, path: str = "action") -> ActionBase:
    """One action; raise ValidationFailed with paths under `path` (e.g. `actions[0].body`)."""
    problems: list[tuple[str, str]] = []
    action = _parse_one(data, path, problems)
    if action is None:
        raise ValidationFailed(problems)
    return action


def _parse_one(data: Any, path: str, problems: list[tuple[str, str]]) -> ActionBase | None:
    if not isinstance(data, dict):
        problems.append((path, f"must be an object with a type, got {type(data).__name__}"))
        return None
    kind = data.get("type")
    model = ACTION_TYPES.get(kind) if isinstance(kind, str) else None
    if model is None:
        expected = ", ".join(sorted(ACTION_TYPES))
        if kind is None:
            reason = f"is required; one of {expected}"
        elif kind in CLOUD_ONLY_TYPES:
            reason = f"{kind!r} is a Prefect Cloud action that Tocsin does not run; one of {expected}"
        else:
            reason = f"unknown action type {kind!r}; expected one of {expected}"
        problems.append((f"{path}.type", reason))
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems.extend(ValidationFailed.from_pydantic(exc, path).problems)
        return None


def validate_actions(raw: Any, path: str = "actions", *, check_templates: bool = True) -> list[ActionBase]:
    """Validate a list of action objects (and, by default, their templates); report every problem at once."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValidationFailed([(path, f"must be a list of actions, got {type(raw).__name__}")])
    problems: list[tuple[str, str]] = []
    actions = [_parse_one(item, f"{path}[{i}]", problems) for i, item in enumerate(raw)]
    if problems:
        raise ValidationFailed(problems)
    parsed = [a for a in actions if a is not None]
    if check_templates:
        from tocsin.templating import action_template_problems  # jinja2 is only needed for this check

        problems = action_template_problems(parsed, path)
        if problems:
            raise ValidationFailed(problems)
    return parsed
