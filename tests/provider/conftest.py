"""Fixtures for the provider tests: the real engine (tocsin.server create_app under uvicorn in a thread) on a
loopback port, the provider's offline mirror, and a Terraform working directory runner.
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


def _real_app(home: Path) -> Any:
    from tocsin.server.app import create_app
    from tocsin.server.settings import Settings

    settings = Settings.from_env({"TOCSIN_HOME": str(home), "TOCSIN_API_TOKEN": TOKEN})
    return create_app(settings)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The real engine, shared by the session."""
    server, thread, url = _serve(_real_app(tmp_path_factory.mktemp("engine-home")))
    yield Engine(url, TOKEN, TocsinClient(url, TOKEN))
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="session")
def automation_engine(engine: Engine) -> Engine:
    return engine


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
