"""End to end: `tocsin server` (SQLite, loopback) -> provider from a local filesystem mirror -> `cdktf deploy` of a
construct stack -> change it -> deploy (in-place update, same id) -> `cdktf destroy`. No registry access.

Needs cdktf-cli (scripts/setup-cdktf.sh), terraform >= 1.11 on PATH and the provider's install helper; skipped
with the reason otherwise. Blocks and secrets are included only when the server has /api/blocks and /api/secrets.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
CDKTF = REPO / "node_modules/.bin/cdktf"

pytestmark = pytest.mark.e2e

APP = textwrap.dedent('''
    import os
    from tocsin.constructs import TfProvider, TfAutomation, EventTrigger, DoNothing, Posture
    from tocsin.constructs._cdk import App, TerraformStack, TerraformOutput
    app = App()
    stack = TerraformStack(app, "e2e")
    TfProvider(stack, "tocsin")
    auto = TfAutomation(stack, "Sla", name=os.environ["E2E_NAME"], actions=[DoNothing()],
                        trigger=EventTrigger(after=["job.started"], expect=["job.done"], posture=Posture.PROACTIVE,
                                             for_each=["prefect.resource.id"], within=30))
    TerraformOutput(stack, "id", value=auto.id)
    app.synth()
''')


def _skip_reason() -> str | None:
    if not CDKTF.exists():
        return "cdktf-cli not installed (run scripts/setup-cdktf.sh)"
    if shutil.which("terraform") is None:
        return "terraform not on PATH"
    try:
        import tocsin.provider.install  # noqa: F401
        import tocsin.server  # noqa: F401
    except ImportError as exc:
        return f"provider or server not available: {exc}"
    return None


class _Server:
    token = "e2e-admin-token"

    def __init__(self, home: Path) -> None:
        import socket
        import time

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        self.api = self.base_url + "/api"
        home.mkdir(parents=True)
        env = {**os.environ, "TOCSIN_HOME": str(home), "TOCSIN_API_TOKEN": self.token}
        self.log = open(home / "server.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "tocsin.cli", "server", "--port", str(port)], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.api + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"tocsin server did not start: {(home / 'server.log').read_text()[-2000:]}")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture
def server(tmp_path):
    if reason := _skip_reason():
        pytest.skip(reason)
    srv = _Server(tmp_path / "home")
    yield srv
    srv.stop()


def _cdktf(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run([str(CDKTF), *args, "--skip-provider-lock"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_cdktf_deploy_update_destroy(server, tmp_path):
    plugins = tmp_path / "plugins"
    subprocess.run([sys.executable, "-m", "tocsin.provider.install", "--dir", str(plugins)], check=True,
                   capture_output=True, timeout=60)
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "main.py").write_text(APP)
    (app_dir / "cdktf.json").write_text(json.dumps({
        "language": "python", "app": f"{sys.executable} main.py", "projectId": "00000000-0000-4000-8000-00000000e2e0",
        "sendCrashReports": "false", "terraformProviders": [], "terraformModules": [], "context": {}}))
    env = {**os.environ, "CI": "true", "CHECKPOINT_DISABLE": "1", "DISABLE_VERSION_CHECK": "1",
           "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "TF_IN_AUTOMATION": "1",
           "TF_PLUGIN_CACHE_DIR": str(tmp_path / "cache"), "TF_CLI_CONFIG_FILE": str(plugins / "terraformrc"),
           "TF_CLI_ARGS_providers_lock": f"-fs-mirror={plugins}", "TOCSIN_URL": server.base_url,
           "TOCSIN_API_TOKEN": server.token, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(REPO / "src")}
    (tmp_path / "cache").mkdir()

    def listed() -> list[dict]:
        r = httpx.post(f"{server.api}/automations/filter", json={}, headers=server.headers(), timeout=10)
        r.raise_for_status()
        return r.json()

    env["E2E_NAME"] = "e2e sla v1"  # cdktf-cli replaces CDKTF_CONTEXT_JSON
    out = _cdktf(["deploy", "--auto-approve"], app_dir, env)
    assert "1 added" in out
    [first] = listed()
    assert first["name"] == "e2e sla v1" and first["trigger"]["within"] == 30

    env["E2E_NAME"] = "e2e sla v2"
    out = _cdktf(["deploy", "--auto-approve"], app_dir, env)
    assert "0 added, 1 changed, 0 destroyed" in out
    [second] = listed()
    assert (second["id"], second["name"]) == (first["id"], "e2e sla v2")

    out = _cdktf(["destroy", "--auto-approve"], app_dir, env)
    assert "1 destroyed" in out
    assert listed() == []
