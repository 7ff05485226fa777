#!/usr/bin/env python
"""The repo's own demo app (`cdktf deploy` reads it through ../cdktf.json; `python cdk/main.py` synthesizes it
without cdktf-cli into ./cdktf.out/stacks/tocsin-demo).

What it deploys into a Tocsin engine (provider settings from TOCSIN_URL / TOCSIN_API_TOKEN):
- two channels aimed at a local sink (`tocsin sink`, default http://127.0.0.1:4399, override with
  TF_VAR_sink_url): "demo-slack" (slack-webhook at <sink>/slack) and "demo-pagerduty" (pager-duty with
  api_base_url <sink>/pagerduty, routing key from the write-only secret "demo-pagerduty-routing-key", whose value
  comes from TF_VAR_pagerduty_routing_key and never reaches state);
- FailureAlert: Failed/Crashed flow runs tagged "etl" -> Slack;
- Tiered: flow runs tagged "payments": every failure -> Slack, 3 failures of one flow within 24 h -> Slack +
  PagerDuty;
- Sla: a flow run tagged "etl" that is Running and has not finished within 15 s -> Slack (late-finish SLA).

Events the demo emits must carry the tag as a related resource:
{"prefect.resource.id": "prefect.tag.etl", "prefect.resource.role": "tag"}.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))  # run from a checkout without install

from constructs import Construct  # noqa: E402

from tocsin.constructs import (  # noqa: E402
    FlowRunFailureAlert,
    FlowSla,
    PagerDuty,
    SlackWebhook,
    TfBlock,
    TfProvider,
    TfSecret,
    TieredAlerting,
    secret_variable,
)
from tocsin.constructs._cdk import App, TerraformOutput, TerraformStack, TerraformVariable  # noqa: E402

STACK_NAME = "tocsin-demo"
DEFAULT_SINK = "http://127.0.0.1:4399"
SLA_SECONDS = 15


class DemoStack(TerraformStack):
    def __init__(self, scope: Construct, id: str, *, sink_url: str | None = None) -> None:  # noqa: A002
        super().__init__(scope, id)
        TfProvider(self, "tocsin")

        sink = sink_url or TerraformVariable(
            self, "sink_url", type="string", default=DEFAULT_SINK,
            description="Base URL of the local notification sink (tocsin sink)").string_value
        routing_key = secret_variable(self, "pagerduty_routing_key",
                                      description="PagerDuty Events v2 routing key (TF_VAR_pagerduty_routing_key)")
        pd_secret = TfSecret(self, "PagerDutyKey", name="demo-pagerduty-routing-key",
                             value_wo=routing_key.string_value, value_wo_version=1)

        slack = TfBlock(self, "Slack", name="demo-slack", block=SlackWebhook(url=f"{sink}/slack"))
        pagerduty = TfBlock(self, "PagerDuty", name="demo-pagerduty",
                            block=PagerDuty(routing_key_secret=pd_secret.name, severity="critical",
                                            api_base_url=f"{sink}/pagerduty"))

        failures = FlowRunFailureAlert(self, "FailureAlert", channel=slack, tags=["etl"],
                                       name="demo: etl flow run failures")
        TieredAlerting(self, "Tiered", slack=slack, pagerduty=pagerduty, tags=["payments"],
                       critical_threshold=3, critical_within=timedelta(hours=24), name="demo: payments")
        sla = FlowSla(self, "Sla", channel=slack, tags=["etl"], within=timedelta(seconds=SLA_SECONDS),
                      name=f"demo: etl runs finish within {SLA_SECONDS} s")

        TerraformOutput(self, "failure_alert_id", value=failures.id)
        TerraformOutput(self, "sla_id", value=sla.id)


def main() -> None:
    app = App()
    sink = app.node.try_get_context("sinkUrl")  # cdktf.json "context" or CDKTF_CONTEXT_JSON
    DemoStack(app, STACK_NAME, sink_url=sink if isinstance(sink, str) and sink else None)
    app.synth()


if __name__ == "__main__":
    main()
