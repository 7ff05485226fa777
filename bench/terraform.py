"""Alerts-as-code at scale: `cdktf deploy` of 200 automations, a no-op `terraform plan` over 1,000 resources, and
the provider's start time, against a real `tocsin server` on loopback (issue 5's goals).

Usage: python bench/terraform.py [--deploy 200] [--plan 1000]. Needs terraform on PATH and cdktf-cli in
./node_modules (scripts/setup-cdktf.sh). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

APP = textwrap.dedent('''
    import sys
    from tocsin.constructs import DoNothing, EventTrigger, TfAutomation, TfProvider
    from tocsin.constructs._cdk import App, TerraformStack

    count = int(sys.argv[1]) if len(sys.argv) > 1 else {count}
    app = App()
    stack = TerraformStack(app, "bench")
    TfProvider(stack, "tocsin")
    for i in range(count):
        TfAutomation(stack, f"A{{i}}", name=f"bench automation {{i}}",
                     trigger=EventTrigger(expect=[f"bench.service-{{i}}.failed"], threshold=3, within=3600,
                                          for_each=["prefect.resource.id"]),
                     actions=[DoNothing()])
    app.synth()
''')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return time.monotonic() - started


def provider_start_ms(env: dict[str, str], runs: int = 10) -> float:
    """Process start to the go-plugin handshake line, as Terraform sees it."""
    from tocsin.provider.plugin import MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE

    samples = []
    for _ in range(runs):
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "tocsin.provider"], stdout=subprocess.PIPE,
                                env={**env, MAGIC_COOKIE_KEY: MAGIC_COOKIE_VALUE, "PLUGIN_PROTOCOL_VERSIONS": "6"})
        assert proc.stdout is not None
        proc.stdout.readline()
        samples.append((time.monotonic() - started) * 1000)
        proc.kill()
        proc.wait()
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deploy", type=int, default=200)
    parser.add_argument("--plan", type=int, default=1000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tocsin-tf-bench-"))
    port, token = free_port(), secrets.token_urlsafe(16)
    env = {**os.environ, "TOCSIN_HOME": str(work / "home"), "TOCSIN_API_TOKEN": token,
           "TOCSIN_URL": f"http://127.0.0.1:{port}", "CHECKPOINT_DISABLE": "1", "DISABLE_VERSION_CHECK": "1",
           "TF_IN_AUTOMATION": "1", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CI": "true",
           "PATH": f"{ROOT / 'node_modules' / '.bin'}:{BIN}:{os.environ['PATH']}",
           "TF_PLUGIN_CACHE_DIR": str(work / "plugin-cache")}
    (work / "plugin-cache").mkdir()
    exports = subprocess.run([str(BIN / "tocsin"), "provider", "install", "--dir", str(work / "mirror")], env=env,
                             check=True, capture_output=True, text=True).stdout
    for line in exports.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value
    server = subprocess.Popen([str(BIN / "tocsin"), "server", "--port", str(port), "--log-level", "WARNING"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = []
    try:
        for _ in range(300):
            try:
                if requests.get(f"{env['TOCSIN_URL']}/api/health", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.05)
        rows.append(("provider start, exec to handshake (median of 10)", f"{provider_start_ms(env):.0f} ms", "<= 300 ms"))

        app = work / "deploy"
        app.mkdir()
        (app / "main.py").write_text(APP.format(count=args.deploy))
        (app / "cdktf.json").write_text('{"language": "python", "app": "python main.py", "sendCrashReports": "false",'
                                        ' "terraformProviders": [], "terraformModules": [], "context": {}}')
        deploy = timed(["cdktf", "deploy", "bench", "--auto-approve", "--skip-provider-lock"], app, env)
        rows.append((f"`cdktf deploy` of {args.deploy} automations (synth + init + create)", f"{deploy:.1f} s",
                     "<= 20 s"))
        noop = timed(["cdktf", "deploy", "bench", "--auto-approve", "--skip-provider-lock"], app, env)
        rows.append((f"`cdktf deploy` again, nothing changed ({args.deploy})", f"{noop:.1f} s", ""))

        plain = work / "plan"
        plain.mkdir()
        (plain / "main.py").write_text(APP.format(count=args.plan))
        synth = timed([sys.executable, "main.py"], plain, env)
        stack = plain / "cdktf.out" / "stacks" / "bench"
        timed(["terraform", "init", "-input=false"], stack, env)
        apply = timed(["terraform", "apply", "-auto-approve", "-input=false", "-parallelism=20"], stack, env)
        plan = timed(["terraform", "plan", "-input=false", "-detailed-exitcode", "-parallelism=20"], stack, env)
        rows.append((f"synth of {args.plan} automations (python main.py)", f"{synth:.1f} s", ""))
        rows.append((f"`terraform apply` creating {args.plan}", f"{apply:.1f} s", ""))
        rows.append((f"no-op `terraform plan` of {args.plan} resources (refresh included)", f"{plan:.1f} s",
                     "<= 15 s"))
    finally:
        server.terminate()
        server.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)
    print("| measure | result | goal |\n|---|---:|---|")
    for row in rows:
        print(f"| {row[0]} | {row[1]} | {row[2]} |")


if __name__ == "__main__":
    main()
