#!/usr/bin/env python
"""Seed 004's tiered alerting as a Tocsin stack: Slack on every dlt failure, Slack + PagerDuty after 3 failures
of the same flow within 24 h.

Secrets come from the environment at *plan* time only, as Terraform variables (never read here):
  TF_VAR_slack_webhook_url            the Slack incoming-webhook URL
  TF_VAR_pagerduty_integration_key    the PagerDuty Events API v2 integration (routing) key
Both are ephemeral and flow into write-only `tocsin_secret` values, so they reach neither the state nor
cdktf.out; the blocks reference the secrets by name. Bump SECRET_VERSION to push a rotated value.

    cdktf deploy          # from this directory, after `. ../../scripts/cdktf-env.sh`
"""

from __future__ import annotations

from datetime import timedelta

from tocsin.constructs import (
    PagerDuty,
    SlackWebhook,
    TfBlock,
    TfProvider,
    TfSecret,
    TieredAlerting,
    secret_variable,
)
from tocsin.constructs._cdk import App, TerraformStack

SECRET_VERSION = 1


class TieredStack(TerraformStack):
    def __init__(self, scope, id):  # noqa: A002
        super().__init__(scope, id)
        TfProvider(self, "tocsin")  # TOCSIN_URL / TOCSIN_API_TOKEN

        slack_url = secret_variable(self, "slack_webhook_url", description="Slack webhook for pipeline alerts")
        pd_key = secret_variable(self, "pagerduty_integration_key", description="PagerDuty Events v2 key")
        slack_secret = TfSecret(self, "SlackUrl", name="slack-webhook-url", value_wo=slack_url.string_value,
                                value_wo_version=SECRET_VERSION)
        pd_secret = TfSecret(self, "PagerDutyKey", name="pagerduty-integration-key", value_wo=pd_key.string_value,
                             value_wo_version=SECRET_VERSION)

        slack = TfBlock(self, "SlackAlerts", name="alerts",
                        block=SlackWebhook(webhook_url_secret=slack_secret.name))
        pagerduty = TfBlock(self, "PagerDutyDataPipelines", name="data-pipelines",
                            block=PagerDuty(integration_key_secret=pd_secret.name, severity="critical"))

        TieredAlerting(self, "DltFailures", slack=slack, pagerduty=pagerduty, tags=["dlt"],
                       critical_threshold=3, critical_within=timedelta(hours=24), name="DLT pipeline failures",
                       warning_subject="Pipeline Failed: {{ flow.name }}",
                       critical_subject="CRITICAL: {{ flow.name }} failed 3 times",
                       body=(":x: *Pipeline Failed*\n\n*Flow*: {{ flow.name }}\n*State*: {{ flow_run.state.name }}\n"
                             "*Error*: {{ flow_run.state.message }}"))


if __name__ == "__main__":
    app = App()
    TieredStack(app, "seed004-tiered")
    app.synth()
