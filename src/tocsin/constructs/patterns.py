"""L2 patterns: the alerts of the seed documents as one construct each, with documented defaults.

Every pattern is a `Construct` whose primary child (a `TfAutomation`) has the id "Resource" (`TieredAlerting`
has two: "Warning" and "Critical"). A channel prop takes a `TfBlock`, a `DataTocsinBlock` or a block id string.
Renaming a construct id changes its Terraform address, which destroys and recreates the automation (and loses
its window state): keep ids stable.
"""

from __future__ import annotations

from datetime import timedelta
from enum import Enum
from typing import Any, Mapping, Sequence

from ._cdk import Construct, TerraformProvider
from ._util import ConstructError, str_list
from .actions import Action, CallWebhook, CancelFlowRun, ChangeFlowRunState, SendNotification, ref_id
from .blocks import Webhook
from .resources import TfAutomation, TfBlock
from .triggers import EventTrigger, Posture, Trigger

FLOW_RUN = "prefect.flow-run.*"
TERMINAL_EVENTS = ["prefect.flow-run.Completed", "prefect.flow-run.Failed", "prefect.flow-run.Crashed",
                   "prefect.flow-run.Cancelled"]

DEFAULT_FAILURE_SUBJECT = "Flow run {{ flow_run.name }} of {{ flow.name }}: {{ flow_run.state.name }}"
DEFAULT_FAILURE_BODY = (
    "Flow {{ flow.name }}, run {{ flow_run.name }} ({{ flow_run.id }}) entered {{ flow_run.state.name }}.\n"
    "Message: {{ flow_run.state.message }}"
)


def _related(tags: Sequence[str], flows: Sequence[str], where: str) -> dict[str, Any] | list[dict[str, Any]]:
    """match_related for "any of these tags" and "any of these flow names" (AND between the two)."""
    specs: list[dict[str, Any]] = []
    tag_list = str_list(tags, f"{where}.tags")
    flow_list = str_list(flows, f"{where}.flows")
    if tag_list:
        specs.append({"prefect.resource.role": "tag",
                      "prefect.resource.id": [f"prefect.tag.{t}" for t in tag_list]})
    if flow_list:
        specs.append({"prefect.resource.role": "flow", "prefect.resource.name": flow_list})
    if not specs:
        return {}
    return specs[0] if len(specs) == 1 else specs


def _states(states: Sequence[str], where: str) -> list[str]:
    items = str_list(states, f"{where}.states")
    if not items:
        raise ConstructError(f"{where}.states", "needs at least one state name", received=states,
                             hint='for example states=["Failed", "Crashed"]')
    return [f"prefect.flow-run.{s}" for s in items]


def _name(scope: Construct, id: str, name: str | None) -> str:  # noqa: A002
    return name if name is not None else f"{scope.node.path}/{id}".strip("/")


class FlowRunFailureAlert(Construct):
    """Notify a channel when flow runs enter Failed or Crashed (seed 004's failure automation).

    :param channel: the notification block (TfBlock / DataTocsinBlock / block id), e.g. a SlackWebhook block.
    :param tags: only runs with any of these tags; default - every flow run.
    :param flows: only runs of flows with any of these names; default - every flow.
    :param states: state names that alert; default ["Failed", "Crashed"].
    :param name: automation name; default - the construct path.
    :param subject: message subject template; default DEFAULT_FAILURE_SUBJECT.
    :param body: message body template; default DEFAULT_FAILURE_BODY.
    """

    def __init__(self, scope: Construct, id: str, *, channel: Any, tags: Sequence[str] = (),  # noqa: A002
                 flows: Sequence[str] = (), states: Sequence[str] = ("Failed", "Crashed"), name: str | None = None,
                 subject: str = DEFAULT_FAILURE_SUBJECT, body: str = DEFAULT_FAILURE_BODY, description: str = "",
                 enabled: bool = True, provider: TerraformProvider | None = None) -> None:
        ref_id(channel, "FlowRunFailureAlert.channel", "block")
        trigger = EventTrigger(expect=_states(states, "FlowRunFailureAlert"), match={"prefect.resource.id": FLOW_RUN},
                               match_related=_related(tags, flows, "FlowRunFailureAlert"))
        actions = [SendNotification(block=channel, subject=subject, body=body)]
        super().__init__(scope, id)
        self.automation = TfAutomation(self, "Resource", name=_name(scope, id, name), trigger=trigger,
                                       actions=actions, description=description, enabled=enabled,
                                       tags=["tocsin:flow-run-failure"], provider=provider)

    @property
    def id(self) -> str:
        """The automation id token."""
        return self.automation.id


class TieredAlerting(Construct):
    """Two tiers (seed 004): warning - Slack on every failure; critical - Slack + PagerDuty once a flow has failed
    `critical_threshold` times within `critical_within`.

    :param slack: the warning channel (also told about critical alerts).
    :param pagerduty: the paging channel for critical alerts.
    :param tags: only runs with any of these tags; default - every flow run.
    :param flows: only these flow names; default - every flow.
    :param states: default ["Failed", "Crashed"].
    :param critical_threshold: failures that make it critical; default 3.
    :param critical_within: window for those failures; default 24 hours.
    :param per_flow: count failures per flow (True, default) or across all matching flows (False).
    :param name: name prefix; default - the construct path (children get " warning" / " critical").
    """

    def __init__(self, scope: Construct, id: str, *, slack: Any, pagerduty: Any,  # noqa: A002
                 tags: Sequence[str] = (), flows: Sequence[str] = (),
                 states: Sequence[str] = ("Failed", "Crashed"), critical_threshold: int = 3,
                 critical_within: timedelta | int | float = timedelta(hours=24), per_flow: bool = True,
                 name: str | None = None, warning_subject: str = "[warning] " + DEFAULT_FAILURE_SUBJECT,
                 critical_subject: str = "[CRITICAL] {{ flow.name }} failed repeatedly",
                 body: str = DEFAULT_FAILURE_BODY, enabled: bool = True,
                 provider: TerraformProvider | None = None) -> None:
        ref_id(slack, "TieredAlerting.slack", "block")
        ref_id(pagerduty, "TieredAlerting.pagerduty", "block")
        if isinstance(critical_threshold, bool) or not isinstance(critical_threshold, int) or critical_threshold < 2:
            raise ConstructError("TieredAlerting.critical_threshold", "must be an integer >= 2 (1 is the warning "
                                 "tier)", received=critical_threshold)
        expect = _states(states, "TieredAlerting")
        related = _related(tags, flows, "TieredAlerting")
        warning = EventTrigger(expect=expect, match={"prefect.resource.id": FLOW_RUN}, match_related=related)
        critical = EventTrigger(expect=expect, match={"prefect.resource.id": FLOW_RUN}, match_related=related,
                                for_each=["related:flow:prefect.resource.id"] if per_flow else [],
                                threshold=critical_threshold, within=critical_within)
        warn_actions: list[Action] = [SendNotification(block=slack, subject=warning_subject, body=body)]
        crit_actions: list[Action] = [SendNotification(block=slack, subject=critical_subject, body=body),
                                      SendNotification(block=pagerduty, subject=critical_subject, body=body)]
        super().__init__(scope, id)
        base = _name(scope, id, name)
        self.warning = TfAutomation(self, "Warning", name=f"{base} warning", trigger=warning, actions=warn_actions,
                                    description="Every failure, to Slack", enabled=enabled,
                                    tags=["tocsin:tiered", "severity:warning"], provider=provider)
        self.critical = TfAutomation(
            self, "Critical", name=f"{base} critical", trigger=critical, actions=crit_actions,
            description=f"{critical_threshold} failures within {critical.within:g} s, to Slack and PagerDuty",
            enabled=enabled, tags=["tocsin:tiered", "severity:critical"], provider=provider)


class SlaKind(str, Enum):
    LATE_START = "late-start"
    LATE_FINISH = "late-finish"


class FlowSla(Construct):
    """A proactive SLA on flow runs (seed 000 "Flow SLA failure", seed 002 proactive triggers).

    late-finish: a run that entered Running and has not reached a terminal state (Completed, Failed, Crashed,
    Cancelled) within `within`. late-start: a run that was Scheduled and has not gone Pending/Running (or ended)
    within `within`; the window opens when the `start_events` event arrives (default "prefect.flow-run.Scheduled",
    use ["prefect.flow-run.Late"] to count from Prefect's own lateness mark).

    :param channel: where to notify.
    :param within: the SLA (timedelta or seconds, >= 10 s). Required: there is no sensible default.
    :param kind: SlaKind.LATE_FINISH (default) or SlaKind.LATE_START.
    :param cancel_late_runs: also cancel the late run (late-finish only); default False.
    """

    def __init__(self, scope: Construct, id: str, *, channel: Any, within: timedelta | int | float,  # noqa: A002
                 kind: SlaKind | str = SlaKind.LATE_FINISH, tags: Sequence[str] = (), flows: Sequence[str] = (),
                 start_events: Sequence[str] | None = None, cancel_late_runs: bool = False,
                 name: str | None = None, subject: str | None = None, body: str | None = None,
                 enabled: bool = True, provider: TerraformProvider | None = None) -> None:
        ref_id(channel, "FlowSla.channel", "block")
        try:
            kind = SlaKind(kind.value if isinstance(kind, Enum) else kind)
        except ValueError:
            raise ConstructError("FlowSla.kind", "must be SlaKind.LATE_START or SlaKind.LATE_FINISH",
                                 received=kind) from None
        if kind is SlaKind.LATE_FINISH:
            after = str_list(start_events, "FlowSla.start_events") if start_events is not None else \
                ["prefect.flow-run.Running"]
            expect = TERMINAL_EVENTS
            verb = "has not finished"
        else:
            after = str_list(start_events, "FlowSla.start_events") if start_events is not None else \
                ["prefect.flow-run.Scheduled"]
            expect = ["prefect.flow-run.Pending", "prefect.flow-run.Running", *TERMINAL_EVENTS]
            verb = "has not started"
        if cancel_late_runs and kind is not SlaKind.LATE_FINISH:
            raise ConstructError("FlowSla.cancel_late_runs", "only applies to SlaKind.LATE_FINISH", received=True)
        trigger = EventTrigger(after=after, expect=expect, match={"prefect.resource.id": FLOW_RUN},
                               match_related=_related(tags, flows, "FlowSla"), for_each=["prefect.resource.id"],
                               posture=Posture.PROACTIVE, threshold=1, within=within)
        limit = f"{trigger.within:g} s"
        subject = subject if subject is not None else f"SLA {kind.value}: {{{{ flow.name }}}} {verb} after {limit}"
        body = body if body is not None else (
            f"Flow run {{{{ flow_run.name }}}} of {{{{ flow.name }}}} {verb} within {limit} ({kind.value} SLA).")
        actions: list[Action] = [SendNotification(block=channel, subject=subject, body=body)]
        if cancel_late_runs:
            actions.append(CancelFlowRun())
        super().__init__(scope, id)
        self.kind = kind
        self.automation = TfAutomation(self, "Resource", name=_name(scope, id, name), trigger=trigger,
                                       actions=actions, description=f"{kind.value} SLA of {limit}",
                                       enabled=enabled, tags=[f"tocsin:sla:{kind.value}"], provider=provider)

    @property
    def id(self) -> str:
        return self.automation.id


class HeartbeatTarget(str, Enum):
    FLOW_RUNS = "flow-runs"
    WORKERS = "workers"


_HEARTBEAT_DEFAULTS = {
    HeartbeatTarget.FLOW_RUNS: ("prefect.flow-run.heartbeat", timedelta(seconds=90)),
    HeartbeatTarget.WORKERS: ("prefect.worker.heartbeat", timedelta(minutes=5)),
}


class HeartbeatMonitor(Construct):
    """Alert when something that sends heartbeats goes quiet (seed 001 "stuck in Running"; seed 000 agent health).

    flow-runs (zombie flows): after a run's first heartbeat, fire if neither another heartbeat nor a terminal
    state arrives within `within`, per flow run. workers: after a worker's first heartbeat, fire if it sends no
    heartbeat (and no "prefect.worker.stopped") within `within`, per worker.

    :param target: HeartbeatTarget.FLOW_RUNS (default) or HeartbeatTarget.WORKERS.
    :param within: default - 90 s for flow runs (3 missed 30 s heartbeats), 5 minutes for workers.
    :param heartbeat_event: default "prefect.flow-run.heartbeat" / "prefect.worker.heartbeat".
    :param tags: flow runs only: only runs with any of these tags; default - all.
    :param work_pools: workers only: only workers of these work pools; default - all.
    :param mark_crashed: flow runs only: also move the zombie run to CRASHED; default False.
    """

    def __init__(self, scope: Construct, id: str, *, channel: Any,  # noqa: A002
                 target: HeartbeatTarget | str = HeartbeatTarget.FLOW_RUNS,
                 within: timedelta | int | float | None = None, heartbeat_event: str | None = None,
                 tags: Sequence[str] = (), work_pools: Sequence[str] = (), mark_crashed: bool = False,
                 name: str | None = None, subject: str | None = None, body: str | None = None,
                 enabled: bool = True, provider: TerraformProvider | None = None) -> None:
        ref_id(channel, "HeartbeatMonitor.channel", "block")
        try:
            target = HeartbeatTarget(target.value if isinstance(target, Enum) else target)
        except ValueError:
            raise ConstructError("HeartbeatMonitor.target", "must be HeartbeatTarget.FLOW_RUNS or "
                                 "HeartbeatTarget.WORKERS", received=target) from None
        default_event, default_within = _HEARTBEAT_DEFAULTS[target]
        beat = heartbeat_event if heartbeat_event is not None else default_event
        if not isinstance(beat, str) or not beat:
            raise ConstructError("HeartbeatMonitor.heartbeat_event", "must be an event name", received=beat)
        window = default_within if within is None else within
        if target is HeartbeatTarget.FLOW_RUNS:
            if str_list(work_pools, "HeartbeatMonitor.work_pools"):
                raise ConstructError("HeartbeatMonitor.work_pools", "only applies to HeartbeatTarget.WORKERS",
                                     received=work_pools)
            trigger = EventTrigger(after=[beat], expect=[beat, *TERMINAL_EVENTS],
                                   match={"prefect.resource.id": FLOW_RUN},
                                   match_related=_related(tags, (), "HeartbeatMonitor"),
                                   for_each=["prefect.resource.id"], posture=Posture.PROACTIVE, within=window)
            what = "Flow run {{ flow_run.name }} of {{ flow.name }}"
        else:
            if str_list(tags, "HeartbeatMonitor.tags"):
                raise ConstructError("HeartbeatMonitor.tags", "only applies to HeartbeatTarget.FLOW_RUNS",
                                     received=tags)
            if mark_crashed:
                raise ConstructError("HeartbeatMonitor.mark_crashed", "only applies to HeartbeatTarget.FLOW_RUNS",
                                     received=mark_crashed)
            pools = str_list(work_pools, "HeartbeatMonitor.work_pools")
            related = {"prefect.resource.role": "work-pool", "prefect.resource.name": pools} if pools else {}
            trigger = EventTrigger(after=[beat], expect=[beat, "prefect.worker.stopped"],
                                   match={"prefect.resource.id": "prefect.worker.*"}, match_related=related,
                                   for_each=["prefect.resource.id"], posture=Posture.PROACTIVE, within=window)
            what = "Worker {{ event.resource.get('prefect.resource.name', event.resource.id) }}"
        limit = f"{trigger.within:g} s"
        subject = subject if subject is not None else f"No heartbeat: {what} silent for {limit}"
        body = body if body is not None else f"{what} sent no {beat} within {limit}."
        actions: list[Action] = [SendNotification(block=channel, subject=subject, body=body)]
        if mark_crashed:
            actions.append(ChangeFlowRunState(state="CRASHED", message=f"No heartbeat within {limit}"))
        super().__init__(scope, id)
        self.target = target
        self.automation = TfAutomation(self, "Resource", name=_name(scope, id, name), trigger=trigger,
                                       actions=actions, description=f"{target.value} heartbeat, {limit}",
                                       enabled=enabled, tags=[f"tocsin:heartbeat:{target.value}"],
                                       provider=provider)

    @property
    def id(self) -> str:
        return self.automation.id


DEFAULT_FORWARD_PAYLOAD = '{"automation": {{ automation.name | tojson }}, "event": {{ event | tojson }}}'


class WebhookForward(Construct):
    """Forward every firing of `trigger` to an HTTP endpoint (`call-webhook`).

    Give `webhook` (an existing block: TfBlock / DataTocsinBlock / id), or `url` / `url_secret` to create a
    `Webhook` block as the child "Webhook".

    :param payload: body template; default DEFAULT_FORWARD_PAYLOAD (automation name and the event as JSON).
    :param method: default "POST" (only with url/url_secret).
    :param headers: default - none (only with url/url_secret).
    """

    def __init__(self, scope: Construct, id: str, *, trigger: Trigger, webhook: Any = None,  # noqa: A002
                 url: str | None = None, url_secret: str | None = None, method: str = "POST",
                 headers: Mapping[str, str] | None = None, payload: str = DEFAULT_FORWARD_PAYLOAD,
                 name: str | None = None, enabled: bool = True,
                 provider: TerraformProvider | None = None) -> None:
        if not isinstance(trigger, Trigger):
            raise ConstructError("WebhookForward.trigger", "must be a typed trigger", received=trigger)
        if webhook is not None and (url is not None or url_secret is not None):
            raise ConstructError("WebhookForward", "give webhook, or url/url_secret, not both", show_value=False)
        config = None
        if webhook is None:
            config = Webhook(url=url, url_secret=url_secret, method=method, headers=headers)
        else:
            ref_id(webhook, "WebhookForward.webhook", "block")
        super().__init__(scope, id)
        full_name = _name(scope, id, name)
        self.webhook: Any = webhook
        if config is not None:
            self.webhook = TfBlock(self, "Webhook", name=f"{full_name} webhook", block=config, provider=provider)
        self.automation = TfAutomation(self, "Resource", name=full_name, trigger=trigger,
                                       actions=[CallWebhook(block=self.webhook, payload=payload)],
                                       enabled=enabled, tags=["tocsin:webhook-forward"], provider=provider)

    @property
    def id(self) -> str:
        return self.automation.id


__all__ = ["DEFAULT_FAILURE_BODY", "DEFAULT_FAILURE_SUBJECT", "DEFAULT_FORWARD_PAYLOAD", "FlowRunFailureAlert",
           "FlowSla", "HeartbeatMonitor", "HeartbeatTarget", "SlaKind", "TieredAlerting", "WebhookForward"]
