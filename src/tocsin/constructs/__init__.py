"""Tocsin alerts as code: CDK for Terraform constructs for terraform-provider-tocsin.

L1 (one per provider resource, docs/CONTRACT.md): `TfProvider` (alias `TocsinProvider`), `TfAutomation`,
`TfBlock`, `TfSecret`, `DataTocsinAutomation`, `DataTocsinBlock`, plus `secret_variable`.
Typed props: triggers (`EventTrigger`, `CompoundTrigger`, `SequenceTrigger`, `MetricTrigger`), actions
(`SendNotification`, `CallWebhook`, ...), blocks (`SlackWebhook`, `PagerDuty`, ...).
L2 patterns: `FlowRunFailureAlert`, `TieredAlerting`, `FlowSla`, `HeartbeatMonitor`, `WebhookForward`.

Works with `cdktn` (preferred when installed) or `cdktf` 0.21: see `tocsin.constructs._cdk`.
Everything validates when it is built and raises `ConstructError` (a ValueError) naming the prop.
"""

from ._cdk import CDK_NAME
from ._util import ConstructError
from .actions import (
    Action,
    CallWebhook,
    CancelFlowRun,
    ChangeFlowRunState,
    DoNothing,
    PauseAutomation,
    PauseDeployment,
    ResumeAutomation,
    ResumeDeployment,
    RunDeployment,
    SendNotification,
)
from .blocks import (
    Apprise,
    BlockConfig,
    CustomWebhook,
    Email,
    MsTeamsWebhook,
    PagerDuty,
    SlackWebhook,
    TwilioSms,
    Webhook,
)
from .patterns import FlowRunFailureAlert, FlowSla, HeartbeatMonitor, HeartbeatTarget, SlaKind, TieredAlerting, WebhookForward
from .resources import (
    PROVIDER_SOURCE,
    PROVIDER_VERSION,
    DataTocsinAutomation,
    DataTocsinBlock,
    TfAutomation,
    TfBlock,
    TfProvider,
    TfSecret,
    TocsinProvider,
    secret_variable,
)
from .triggers import CompoundTrigger, EventTrigger, MetricOperator, MetricTrigger, Posture, SequenceTrigger, Trigger

__all__ = [
    "Action",
    "Apprise",
    "BlockConfig",
    "CDK_NAME",
    "CallWebhook",
    "CancelFlowRun",
    "ChangeFlowRunState",
    "CompoundTrigger",
    "ConstructError",
    "CustomWebhook",
    "DataTocsinAutomation",
    "DataTocsinBlock",
    "DoNothing",
    "Email",
    "EventTrigger",
    "FlowRunFailureAlert",
    "FlowSla",
    "HeartbeatMonitor",
    "HeartbeatTarget",
    "MetricOperator",
    "MetricTrigger",
    "MsTeamsWebhook",
    "PROVIDER_SOURCE",
    "PROVIDER_VERSION",
    "PagerDuty",
    "PauseAutomation",
    "PauseDeployment",
    "Posture",
    "ResumeAutomation",
    "ResumeDeployment",
    "RunDeployment",
    "SendNotification",
    "SequenceTrigger",
    "SlackWebhook",
    "SlaKind",
    "TfAutomation",
    "TfBlock",
    "TfProvider",
    "TfSecret",
    "TieredAlerting",
    "TocsinProvider",
    "Trigger",
    "TwilioSms",
    "Webhook",
    "WebhookForward",
    "secret_variable",
]
