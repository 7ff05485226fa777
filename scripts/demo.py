#!/usr/bin/env python
"""`make demo`: the whole product on one machine, in about a minute.

1. start `tocsin sink` (a stand-in for Slack and PagerDuty) and `tocsin server` on SQLite, on free loopback ports;
2. `cdktf deploy` the repo's own app (cdk/main.py): two channels, a failure alert, tiered alerting, a 15 s SLA;
3. send sample events: a "payments" flow failing three times, an "etl" flow failing once, and an "etl" flow run
   that starts and never finishes;
4. print each notification as it reaches the sink, wait for the SLA window, print a summary;
5. stop what it started. Every run starts from an empty engine, so re-running works.
Set TOCSIN_DEMO_PLAIN_TERRAFORM=1 to deploy with plain `terraform` instead of cdktf-cli.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / ".demo"
VENV_BIN = Path(sys.executable).parent
STACK = "tocsin-demo"
SLA_SECONDS = 15
EXPECTED = 7  # 1 etl failure + 3 payments warnings + critical to Slack and PagerDuty + 1 SLA
TIMEOUT_SECONDS = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def start(cmd: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            sys.exit(f"the engine exited early; see {log}:\n{log.read_text()[-2000:]}")
        try:
            if requests.get(f"{url}/api/health", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    sys.exit(f"the engine did not become healthy; see {log}")


def deploy(env: dict[str, str]) -> None:
    out = ROOT / "cdktf.out" / "stacks" / STACK
    for stale in ("terraform.tfstate", "terraform.tfstate.backup", "terraform.tocsin-demo.tfstate"):
        (out / stale).unlink(missing_ok=True)  # the engine is new every run; so is the state
    started = time.monotonic()
    if env.get("TOCSIN_DEMO_PLAIN_TERRAFORM"):
        subprocess.run([sys.executable, "cdk/main.py"], cwd=ROOT, env=env, check=True)
        subprocess.run(["terraform", f"-chdir={out}", "init", "-input=false"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["terraform", f"-chdir={out}", "apply", "-auto-approve", "-input=false"], cwd=ROOT, env=env,
                       check=True)
    else:
        subprocess.run(["cdktf", "deploy", STACK, "--auto-approve", "--skip-provider-lock"], cwd=ROOT, env=env,
                       check=True, stdin=subprocess.DEVNULL)
    print(f"deployed in {time.monotonic() - started:.1f} s")


def flow_run_event(name: str, run_id: str, flow: str, tag: str) -> dict[str, object]:
    state = name.rsplit(".", 1)[-1]
    return {
        "id": str(uuid.uuid4()),
        "occurred": datetime.now(timezone.utc).isoformat(),
        "event": name,
        "resource": {"prefect.resource.id": f"prefect.flow-run.{run_id}", "prefect.resource.name": f"{flow}-run",
                     "prefect.state-name": state, "prefect.state-type": state.upper(),
                     "prefect.state-message": "" if state == "Running" else "Task 'load' raised ConnectionError"},
        "related": [
            {"prefect.resource.id": f"prefect.flow.{flow}", "prefect.resource.role": "flow",
             "prefect.resource.name": flow},
            {"prefect.resource.id": f"prefect.tag.{tag}", "prefect.resource.role": "tag"},
        ],
    }


def main() -> int:
    DEMO.mkdir(exist_ok=True)
    shutil.rmtree(DEMO / "home", ignore_errors=True)
    env = dict(os.environ)
    env["PATH"] = f"{ROOT / 'node_modules' / '.bin'}:{VENV_BIN}:{env.get('PATH', '')}"
    server_port, sink_port, smtp_port = free_port(), free_port(), free_port()
    url, sink_url = f"http://127.0.0.1:{server_port}", f"http://127.0.0.1:{sink_port}"
    token = "demo-" + secrets.token_urlsafe(16)
    env.update({
        "TOCSIN_HOME": str(DEMO / "home"), "TOCSIN_API_TOKEN": token, "TOCSIN_URL": url,
        "TF_VAR_sink_url": sink_url, "TF_VAR_pagerduty_routing_key": "demo-" + secrets.token_hex(8),
        "CHECKPOINT_DISABLE": "1", "DISABLE_VERSION_CHECK": "1", "TF_IN_AUTOMATION": "1",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CI": "true",
        "TF_PLUGIN_CACHE_DIR": str(ROOT / ".tf-plugins" / "cache"),
    })
    (ROOT / ".tf-plugins" / "cache").mkdir(parents=True, exist_ok=True)

    step("installing the Terraform provider into a local mirror (.tf-plugins)")
    exports = subprocess.run([str(VENV_BIN / "tocsin"), "provider", "install", "--dir", ".tf-plugins"],
                             cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    for line in exports.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value

    procs: list[subprocess.Popen[bytes]] = []
    sink_log = DEMO / "sink.jsonl"
    sink_log.unlink(missing_ok=True)
    try:
        step(f"starting the sink on {sink_url} and the engine on {url} (SQLite in .demo/home)")
        procs.append(start([str(VENV_BIN / "tocsin"), "sink", "--port", str(sink_port), "--smtp-port", str(smtp_port),
                            "--jsonl", str(sink_log)], DEMO / "sink.log", env))
        server_log = DEMO / "server.log"
        procs.append(start([str(VENV_BIN / "tocsin"), "server", "--port", str(server_port)], server_log, env))
        wait_healthy(url, procs[-1], server_log)

        step("cdktf deploy of cdk/main.py")
        deploy(env)
        automations = requests.post(f"{url}/api/automations/filter", json={},
                                    headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
        for automation in automations:
            print(f"  automation: {automation['name']}")

        step("sending events: payments flow fails 3 times, etl flow fails once, an etl run starts and hangs")
        failing, etl, hanging = uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex
        batch = [flow_run_event("prefect.flow-run.Running", hanging, "nightly-etl", "etl")]
        batch += [flow_run_event("prefect.flow-run.Failed", failing, "charge-cards", "payments") for _ in range(3)]
        batch += [flow_run_event("prefect.flow-run.Failed", etl, "load-warehouse", "etl")]
        for event in batch:
            response = requests.post(f"{url}/api/events", json=[event], headers={"Authorization": f"Bearer {token}"},
                                     timeout=10)
            response.raise_for_status()
            time.sleep(0.2)
        sent_at = time.monotonic()

        step(f"notifications arriving at the sink (the SLA fires {SLA_SECONDS} s after the hung run started)")
        seen = 0
        deadline = sent_at + TIMEOUT_SECONDS
        while time.monotonic() < deadline and seen < EXPECTED:
            lines = sink_log.read_text().splitlines() if sink_log.exists() else []
            for line in lines[seen:]:
                record = json.loads(line)
                where = {"slack": "#alerts (Slack)", "pagerduty": "PagerDuty", "email": "email"}.get(
                    record["channel"], record["channel"])
                text = [t for t in str(record.get("text", "")).replace("*", "").splitlines() if t.strip()] or [""]
                print(f"  +{time.monotonic() - sent_at:5.1f}s  {where:16} {text[0]}", flush=True)
                for extra in text[1:]:
                    print(f"{'':26}{extra}", flush=True)
            seen = len(lines)
            time.sleep(0.1)
        ok = seen >= EXPECTED
        print(f"\n{seen} notifications arrived ({EXPECTED} expected) in {time.monotonic() - sent_at:.1f} s: "
              + ("demo OK" if ok else f"demo INCOMPLETE, see {DEMO}/server.log"))
        return 0 if ok else 1
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except subprocess.CalledProcessError as exc:
        sys.exit(f"demo failed: {' '.join(map(str, exc.cmd))} exited with {exc.returncode}; logs in {DEMO}")
