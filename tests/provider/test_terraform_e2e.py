"""Real Terraform against the provider from its offline mirror and an engine on a loopback port.

Covers: init from the filesystem mirror, plan-time validation naming the attribute, write-only secrets never in
state or plan files, a no-op plan right after apply, value_wo_version bumps, drift (API edit -> in-place update,
API delete -> re-create), import of every trigger shape followed by a no-op plan, data sources, destroy.
"""

from __future__ import annotations

import json

import pytest

from tocsin.errors import NotFound

from .conftest import Engine, Workspace

pytestmark = pytest.mark.e2e

SECRET = "s3cr3t-Ephemeral-Value-9f1c"

SECRETS_HCL = """
variable "pw" {
  type      = string
  ephemeral = true
  sensitive = true
}
variable "pw_version" {
  type    = number
  default = 1
}
resource "tocsin_secret" "slack" {
  name             = "slack-token-%(suffix)s"
  value_wo         = var.pw
  value_wo_version = var.pw_version
}
resource "tocsin_block" "hook" {
  name            = "hook-%(suffix)s"
  type            = "slack-webhook"
  data            = jsonencode({ notify_type = "failure" })
  data_wo         = jsonencode({ url = "https://hooks.example/${var.pw}" })
  data_wo_version = var.pw_version
}
resource "tocsin_automation" "failures" {
  name    = "failures-%(suffix)s"
  tags    = ["team:data"]
  trigger = jsonencode({
    type      = "event"
    match     = { "prefect.resource.id" = "prefect.flow-run.*" }
    expect    = ["prefect.flow-run.Failed", "prefect.flow-run.Crashed"]
    posture   = "Reactive"
    threshold = 1
  })
  actions = jsonencode([{ type = "do-nothing" }])
}
data "tocsin_automation" "by_name" {
  name       = tocsin_automation.failures.name
  depends_on = [tocsin_automation.failures]
}
output "looked_up_id" { value = data.tocsin_automation.by_name.id }
"""


def _count(ws: Workspace, needle: str) -> int:
    return sum(p.read_text(errors="replace").count(needle) for p in ws.dir.rglob("*") if p.is_file()
               and ".terraform" not in p.parts)


def test_secrets_stay_out_of_state_and_plans_and_a_plan_after_apply_is_empty(workspace: Workspace,
                                                                            engine: Engine) -> None:
    ws = workspace
    ws.write(SECRETS_HCL % {"suffix": "wo"})
    env = {"TF_VAR_pw": SECRET}
    ws.tf("init", "-no-color")
    ws.tf("plan", "-out=create.tfplan", "-no-color", env=env)
    plan_json = ws.tf("show", "-json", "create.tfplan").stdout
    assert plan_json.count(SECRET) == 0
    ws.tf("apply", "-auto-approve", "-no-color", "create.tfplan", env=env)

    state = (ws.dir / "terraform.tfstate").read_text()
    assert state.count(SECRET) == 0
    assert _count(ws, SECRET) == 0  # tfstate, backups, plan files, anything written in the working dir
    assert ws.tf("plan", "-detailed-exitcode", "-no-color", env=env).returncode == 0

    resources = {r["type"]: r["instances"][0]["attributes"] for r in json.loads(state)["resources"]
                 if r["mode"] == "managed"}
    assert resources["tocsin_secret"]["value_wo"] is None and resources["tocsin_secret"]["version"] == 1
    assert resources["tocsin_block"]["data_wo"] is None
    assert json.loads(state)["outputs"]["looked_up_id"]["value"] == resources["tocsin_automation"]["id"]
    block = engine.client.get_block(resources["tocsin_block"]["id"])
    assert block["data"]["url"] == {"secret": True} and SECRET not in json.dumps(block)

    # WHEN the write-only version is bumped THEN the secret and the block are updated in place, once
    bumped = {**env, "TF_VAR_pw_version": "2"}
    plan = ws.tf("plan", "-detailed-exitcode", "-no-color", check=False, env=bumped)
    assert plan.returncode == 2, plan.stdout
    assert "tocsin_secret.slack will be updated in-place" in plan.stdout
    assert "0 to add, 2 to change, 0 to destroy" in plan.stdout
    ws.tf("apply", "-auto-approve", "-no-color", env=bumped)
    assert engine.client.get_secret(resources["tocsin_secret"]["id"])["version"] == 2
    assert ws.tf("plan", "-detailed-exitcode", "-no-color", env=bumped).returncode == 0
    assert _count(ws, SECRET) == 0

    ws.tf("destroy", "-auto-approve", "-no-color", env=bumped)
    with pytest.raises(NotFound):
        engine.client.get_automation(resources["tocsin_automation"]["id"])


def test_an_invalid_trigger_fails_plan_naming_the_attribute(automation_workspace: Workspace) -> None:
    workspace = automation_workspace
    workspace.write("""
resource "tocsin_automation" "late" {
  name    = "late"
  trigger = jsonencode({ type = "event", expect = ["prefect.flow-run.Completed"], posture = "Proactive",
                         within = 5, threshold = 1 })
}
""")
    workspace.tf("init", "-no-color")
    plan = workspace.tf("plan", "-no-color", check=False)
    assert plan.returncode == 1
    assert "Invalid trigger" in plan.stderr
    assert "trigger.within: a Proactive trigger needs within >= 10 seconds, got 5" in plan.stderr
    assert "with tocsin_automation.late" in plan.stderr
    assert 'on main.tf line' in plan.stderr and "trigger = jsonencode" in plan.stderr


def test_an_api_edit_plans_an_in_place_update_and_an_api_delete_plans_a_create(
        automation_workspace: Workspace, automation_engine: Engine) -> None:
    ws, engine = automation_workspace, automation_engine
    ws.write("""
resource "tocsin_automation" "a" {
  name    = "drift-me"
  trigger = jsonencode({ expect = ["prefect.flow-run.Failed"] })
}
""")
    ws.tf("init", "-no-color")
    ws.tf("apply", "-auto-approve", "-no-color")
    automation_id = json.loads((ws.dir / "terraform.tfstate").read_text())["resources"][0]["instances"][0][
        "attributes"]["id"]
    server = engine.client.get_automation(automation_id)
    engine.client.update_automation(automation_id, {**{k: server[k] for k in (
        "name", "description", "enabled", "tags", "actions", "actions_on_trigger", "actions_on_resolve")},
        "trigger": {**server["trigger"], "threshold": 3}})

    plan = ws.tf("plan", "-detailed-exitcode", "-no-color", check=False)
    assert plan.returncode == 2
    assert "tocsin_automation.a will be updated in-place" in plan.stdout
    assert "threshold     = 3" in plan.stdout, plan.stdout  # the engine-side value, planned back to the default
    ws.tf("apply", "-auto-approve", "-no-color")
    assert engine.client.get_automation(automation_id)["trigger"]["threshold"] == 1
    assert ws.tf("plan", "-detailed-exitcode", "-no-color").returncode == 0

    engine.client.delete_automation(automation_id)
    plan = ws.tf("plan", "-detailed-exitcode", "-no-color", check=False)
    assert plan.returncode == 2 and "tocsin_automation.a will be created" in plan.stdout


TRIGGER_SHAPES = {
    "reactive": {"expect": ["prefect.flow-run.Failed"], "match_related": {"prefect.resource.role": "tag",
                                                                           "prefect.resource.id": "prefect.tag.prod"}},
    "proactive": {"type": "event", "posture": "Proactive", "expect": ["prefect.flow-run.Completed"],
                  "after": ["prefect.flow-run.Running"], "for_each": ["prefect.resource.id"], "within": 600,
                  "threshold": 1},
    "related_list": {"expect": ["prefect.flow-run.*"], "match_related": [{"prefect.resource.role": "flow"},
                                                                         {"prefect.resource.id": ["a", "b"]}]},
    "compound": {"type": "compound", "require": 2, "within": 3600, "triggers": [
        {"expect": ["a.b"]}, {"expect": ["c.d"], "threshold": 2, "within": 60}]},
    "sequence": {"type": "sequence", "within": 300, "triggers": [
        {"expect": ["x.start"]}, {"type": "compound", "require": "any", "triggers": [{"expect": ["x.end"]}]}]},
    "metric": {"type": "metric", "match": {"prefect.resource.id": "prefect.deployment.*"},
               "metric": {"name": "duration", "operator": ">", "threshold": 120, "range": 600, "firing_for": 300}},
}


def test_every_trigger_shape_imports_and_then_plans_no_changes(workspace: Workspace, engine: Engine) -> None:
    ws = workspace
    hcl, imports = [], []
    for key, trigger in TRIGGER_SHAPES.items():
        created = engine.client.create_automation({"name": f"import-{key}", "trigger": trigger, "actions": []})
        hcl.append(f'resource "tocsin_automation" "{key}" {{\n  name    = "import-{key}"\n'
                   f"  trigger = jsonencode({json.dumps(trigger)})\n}}\n")
        imports.append((f"tocsin_automation.{key}", created["id"]))
    email = {"smtp_host": "smtp.x.io", "from_email": "tocsin@x.io", "to_emails": ["ops@x.io"]}
    block = engine.client.create_block({"name": "import-block", "type": "email", "data": email})
    hcl.append('resource "tocsin_block" "b" {\n  name = "import-block"\n  type = "email"\n'
               f'  data = jsonencode({json.dumps(email)})\n}}\n')
    imports.append(("tocsin_block.b", block["id"]))
    secret = engine.client.create_secret("import-secret", "v")
    hcl.append('resource "tocsin_secret" "s" {\n  name  = "import-secret"\n  value = "v"\n}\n')
    imports.append(("tocsin_secret.s", "import-secret"))  # by name
    ws.write("\n".join(hcl))
    ws.tf("init", "-no-color")
    for address, import_id in imports:
        ws.tf("import", "-no-color", address, import_id)

    plan = ws.tf("plan", "-detailed-exitcode", "-no-color", check=False)
    # a secret's value cannot be read back, so only the imported secret is updated (its value is re-sent)
    assert "tocsin_secret.s will be updated in-place" in plan.stdout
    assert "0 to add, 1 to change, 0 to destroy" in plan.stdout, plan.stdout
    state = json.loads((ws.dir / "terraform.tfstate").read_text())
    ids = {r["name"]: r["instances"][0]["attributes"]["id"] for r in state["resources"]}
    assert ids["s"] == secret["id"]
    ws.tf("apply", "-auto-approve", "-no-color")
    assert ws.tf("plan", "-detailed-exitcode", "-no-color").returncode == 0
