from datetime import timedelta

from tocsin.constructs import (EventTrigger, FlowRunFailureAlert, Posture, SendNotification, SlackWebhook,
                               TfAutomation, TfBlock, TfProvider, TfSecret, secret_variable)
from tocsin.constructs._cdk import App, TerraformStack

app = App()
stack = TerraformStack(app, "alerts")
TfProvider(stack, "tocsin")  # TOCSIN_URL / TOCSIN_API_TOKEN
hook = TfSecret(stack, "SlackUrl", name="slack-url", value_wo_version=1,
                value_wo=secret_variable(stack, "slack_url").string_value)  # TF_VAR_slack_url, never in state
slack = TfBlock(stack, "Slack", name="slack", block=SlackWebhook(webhook_url_secret=hook.name))

FlowRunFailureAlert(stack, "EtlFailures", channel=slack, tags=["etl"])  # Failed/Crashed runs tagged etl
TfAutomation(stack, "NightlyExport", name="nightly export did not finish within an hour",
             trigger=EventTrigger(after=["prefect.flow-run.Running"], expect=["prefect.flow-run.Completed"],
                                  match={"prefect.resource.name": "nightly-export*"},
                                  for_each=["prefect.resource.id"], posture=Posture.PROACTIVE,
                                  within=timedelta(hours=1)),
             actions=[SendNotification(block=slack, subject="{{ flow_run.name }} is late",
                                       body="{{ flow_run.name }} started an hour ago and has not completed.")])
app.synth()
