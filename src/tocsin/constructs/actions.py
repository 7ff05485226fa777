"""Typed actions for `TfAutomation(actions=[...])`: Prefect's action JSON as keyword-only Python objects.

A block or automation reference may be a construct (`TfBlock`, `DataTocsinBlock`, `TfAutomation`, ...) or an id
string (a literal id or a CDK token); the id lands inside the actions JSON as a Terraform reference.
Templates (`subject`, `body`, `payload`, `message`) are Jinja, checked for syntax when the action is built.
"""

from __future__ import annotations

from typing import Any, Mapping

from ._engine import check_action, check_template
from ._util import ConstructError

FLOW_RUN_STATES = ("SCHEDULED", "PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "CANCELLING",
                   "CRASHED", "PAUSED")


def ref_id(value: Any, where: str, kind: str) -> str:
    """The id of a referenced resource: a construct with an `.id` token, or an id string."""
    if isinstance(value, str):
        if not value:
            raise ConstructError(where, f"an empty {kind} id", received=value)
        return value
    ident = getattr(value, "id", None)
    if isinstance(ident, str) and hasattr(value, "node"):
        return ident
    raise ConstructError(where, f"must be a {kind} construct or a {kind} id string", received=value,
                         hint=f"pass the construct itself, e.g. {where.rsplit('.', 1)[-1]}=my_{kind}")


class Action:
    """Base of the typed actions; `to_json()` gives the engine's action JSON."""

    type: str = ""

    def __init__(self, **fields: Any) -> None:
        self._fields = {k: v for k, v in fields.items() if v is not None}
        check_action(type(self).__name__, self.to_json())

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, **self._fields}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._fields!r})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.to_json() == other.to_json()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]


def _template(cls: str, field: str, value: Any) -> Any:
    if value is not None:
        check_template(f"{cls}.{field}", value)
    return value


class SendNotification(Action):
    """Send a message through a notification block. Default subject - the engine's ("Prefect automated
    notification"); `body` is required, as in Prefect."""

    type = "send-notification"

    def __init__(self, *, block: Any, body: str, subject: str | None = None) -> None:
        if not isinstance(body, str):
            raise ConstructError("SendNotification.body", "is required: a Jinja template string", received=body,
                                 hint='for example body="{{ flow.name }} entered {{ flow_run.state.name }}"')
        super().__init__(block_document_id=ref_id(block, "SendNotification.block", "block"),
                         subject=_template("SendNotification", "subject", subject),
                         body=_template("SendNotification", "body", body))


class CallWebhook(Action):
    """Send a templated payload to a `Webhook` block; a non-2xx answer is a failure.

    :param payload: Jinja template of the body; default - the engine's ("", an empty body).
    :param headers: extra headers, values are templates; default - none.
    """

    type = "call-webhook"

    def __init__(self, *, block: Any, payload: str | None = None, headers: Mapping[str, str] | None = None) -> None:
        if headers is not None:
            if not isinstance(headers, Mapping):
                raise ConstructError("CallWebhook.headers", "must be a mapping of name -> template", received=headers)
            headers = {k: _template("CallWebhook", f"headers.{k}", v) for k, v in headers.items()}
        super().__init__(block_document_id=ref_id(block, "CallWebhook.block", "block"),
                         payload=_template("CallWebhook", "payload", payload), headers=headers)


class _AutomationToggle(Action):
    def __init__(self, *, automation: Any = None) -> None:
        if automation is None:
            super().__init__(source="inferred")
        else:
            super().__init__(source="selected",
                             automation_id=ref_id(automation, f"{type(self).__name__}.automation", "automation"))


class PauseAutomation(_AutomationToggle):
    """Pause an automation: the one given, or (default) the one that fired."""

    type = "pause-automation"


class ResumeAutomation(_AutomationToggle):
    """Resume an automation: the one given, or (default) the one that fired."""

    type = "resume-automation"


class PauseDeployment(Action):
    """Pause a deployment's schedule: `deployment_id`, or (default) the triggering event's deployment."""

    type = "pause-deployment"

    def __init__(self, *, deployment_id: str | None = None) -> None:
        super().__init__(source="inferred" if deployment_id is None else "selected", deployment_id=deployment_id)


class ResumeDeployment(PauseDeployment):
    """Resume a deployment's schedule: `deployment_id`, or (default) the triggering event's deployment."""

    type = "resume-deployment"


class RunDeployment(Action):
    """Run a Prefect deployment: `deployment_id`, or (default) the deployment of the triggering event."""

    type = "run-deployment"

    def __init__(self, *, deployment_id: str | None = None, parameters: Mapping[str, Any] | None = None,
                 job_variables: Mapping[str, Any] | None = None) -> None:
        if deployment_id is not None and (not isinstance(deployment_id, str) or not deployment_id):
            raise ConstructError("RunDeployment.deployment_id", "must be a deployment id string",
                                 received=deployment_id)
        for name, value in (("parameters", parameters), ("job_variables", job_variables)):
            if value is not None and not isinstance(value, Mapping):
                raise ConstructError(f"RunDeployment.{name}", "must be a mapping", received=value)
        super().__init__(source="inferred" if deployment_id is None else "selected", deployment_id=deployment_id,
                         parameters=None if parameters is None else dict(parameters),
                         job_variables=None if job_variables is None else dict(job_variables))


class CancelFlowRun(Action):
    """Cancel the flow run of the triggering event."""

    type = "cancel-flow-run"

    def __init__(self) -> None:
        super().__init__()


class ChangeFlowRunState(Action):
    """Move the triggering flow run to `state` (e.g. "CRASHED"), with an optional state name and message."""

    type = "change-flow-run-state"

    def __init__(self, *, state: str, name: str | None = None, message: str | None = None,
                 force: bool | None = None) -> None:
        if not isinstance(state, str) or state.upper() not in FLOW_RUN_STATES:
            raise ConstructError("ChangeFlowRunState.state", f"must be one of {', '.join(FLOW_RUN_STATES)}",
                                 received=state)
        super().__init__(state=state.upper(), name=name,
                         message=_template("ChangeFlowRunState", "message", message), force=force)


class DoNothing(Action):
    """Record the firing and do nothing else (useful to test a trigger)."""

    type = "do-nothing"

    def __init__(self) -> None:
        super().__init__()


__all__ = ["Action", "CallWebhook", "CancelFlowRun", "ChangeFlowRunState", "DoNothing", "PauseAutomation",
           "PauseDeployment", "ResumeAutomation", "ResumeDeployment", "RunDeployment", "SendNotification"]
