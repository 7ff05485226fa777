"""Fixtures for the provider tests: an engine on a loopback port, the provider's offline mirror, and a Terraform
working directory runner.

The engine is the real one (tocsin.server create_app under uvicorn in a thread) when it exists; until then the
STOPGAP fake_engine.FakeEngine stands in (set TOCSIN_TEST_FAKE_ENGINE=1 to force the fake).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tocsin.client import TocsinClient

TOKEN = "provider-test-token"


@dataclass
class Engine:
    url: str
    token: str
    client: TocsinClient
    fake: Any = None  # the FakeEngine when the stopgap is in use


def _real_app(home: Path) -> Any:
    if os.environ.get("TOCSIN_TEST_FAKE_ENGINE"):
        return None
    try:
        from tocsin.server.app import create_app  # type: ignore[import-not-found]
        from tocsin.server.settings import Settings
    except ImportError:
        return None
    settings = Settings.from_env({"TOCSIN_HOME": str(home), "TOCSIN_API_TOKEN": TOKEN})
    return create_app(settings)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


NEEDED_ROUTES = {"/api/automations/", "/api/blocks/", "/api/secrets/"}


def _serve(app: Any) -> tuple[Any, threading.Thread, str]:
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def real_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine | None]:
    """The real engine when tocsin.server has create_app (None before it lands)."""
    app = _real_app(tmp_path_factory.mktemp("engine-home"))
    if app is None:
        yield None
        return
    server, thread, url = _serve(app)
    engine = Engine(url, TOKEN, TocsinClient(url, TOKEN))
    engine.routes = {getattr(r, "path", "") for r in getattr(app, "routes", [])}  # type: ignore[attr-defined]
    yield engine
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="session")
def fake_engine() -> Iterator[Engine]:
    from .fake_engine import FakeEngine

    fake = FakeEngine(TOKEN)
    url = fake.start()
    yield Engine(url, TOKEN, TocsinClient(url, TOKEN), fake)
    fake.stop()


@pytest.fixture(scope="session")
def engine(real_engine: Engine | None, fake_engine: Engine) -> Engine:
    """The real engine once it serves every route the provider uses; until then the STOPGAP fake."""
    if real_engine is not None and NEEDED_ROUTES <= getattr(real_engine, "routes", set()):
        return real_engine
    return fake_engine


@pytest.fixture(scope="session")
def automation_engine(real_engine: Engine | None, fake_engine: Engine) -> Engine:
    """The real engine as soon as it exists (automation routes only), else the fake."""
    return real_engine if real_engine is not None else fake_engine


@pytest.fixture(scope="session")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from tocsin.provider.install import install

    return install(tmp_path_factory.mktemp("tf-plugins"))


@dataclass
class Workspace:
    dir: Path
    env: dict[str, str]
    outputs: list[str] = field(default_factory=list)

    def write(self, hcl: str) -> None:
        (self.dir / "main.tf").write_text(PREAMBLE + hcl)

    def tf(self, *args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["terraform", *args], cwd=self.dir, env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=120)
        self.outputs.append(f"$ terraform {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        if check and proc.returncode != 0:
            raise AssertionError(f"terraform {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc


PREAMBLE = """
terraform {
  required_providers {
    tocsin = { source = "tocsin/tocsin", version = "0.1.0" }
  }
}
provider "tocsin" {}
"""


@pytest.fixture
def workspace(tmp_path: Path, mirror: dict[str, str], engine: Engine) -> Workspace:
    return _workspace(tmp_path, mirror, engine)


@pytest.fixture
def automation_workspace(tmp_path: Path, mirror: dict[str, str], automation_engine: Engine) -> Workspace:
    return _workspace(tmp_path, mirror, automation_engine)


def _workspace(tmp_path: Path, mirror: dict[str, str], engine: Engine) -> Workspace:
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not on PATH")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TF_", "TOCSIN_"))},
        **mirror,
        "CHECKPOINT_DISABLE": "1",
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "TOCSIN_URL": engine.url,
        "TOCSIN_API_TOKEN": engine.token,
    }
    return Workspace(tmp_path, env)
