"""Shared fixtures: real engines on loopback ports and a throwaway PostgreSQL 15.

- `start_thread_server(...)`: create_app under uvicorn in a thread (fast; most API tests).
- `ServerProcess`: the `tocsin server` command in a subprocess, for kill -9 and restart.
- `postgres` (session): initdb + pg_ctl in a temp dir on a free loopback port, run as the `postgres` user when
  the tests run as root (initdb refuses root). `pg_url` hands each test a fresh database.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ADMIN_TOKEN = "test-admin-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(base_url: str, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{base_url}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise TimeoutError(f"{base_url} did not become healthy in {timeout}s")


# --- in-thread server ---------------------------------------------------------------------------------------------
@dataclass
class LiveServer:
    base_url: str
    token: str
    app: Any
    server: Any
    thread: threading.Thread

    @property
    def api(self) -> str:
        return self.base_url + "/api"

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def client(self, token: str | None = None) -> Any:
        import httpx

        return httpx.Client(base_url=self.api, headers=self.headers(token), timeout=30)

    @property
    def worker(self) -> Any:
        return self.app.state.ctx.worker

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def start_thread_server(home: Path, database_url: str | None = None, token: str = ADMIN_TOKEN,
                        clock: Any = None, env: dict[str, str] | None = None) -> LiveServer:
    import uvicorn

    from tocsin.server import Settings, create_app

    env = {"TOCSIN_HOME": str(home), "TOCSIN_API_TOKEN": token, **(env or {})}
    if database_url:
        env["TOCSIN_DATABASE_URL"] = database_url
    app = create_app(Settings.from_env(env), clock=clock)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True, name=f"uvicorn-{port}")
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("uvicorn thread died")
        time.sleep(0.01)
    return LiveServer(f"http://127.0.0.1:{port}", token, app, server, thread)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    """A fresh engine on SQLite in a temp TOCSIN_HOME."""
    server = start_thread_server(tmp_path / "home")
    yield server
    server.stop()


# --- subprocess server --------------------------------------------------------------------------------------------
@dataclass
class ServerProcess:
    home: Path
    database_url: str | None = None
    token: str = ADMIN_TOKEN
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    extra_args: list[str] = field(default_factory=list)
    wrapper: list[str] = field(default_factory=list)  # a command that execs the server (e.g. taskset -c 0)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return self.base_url + "/api"

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def start(self, wait: bool = True) -> ServerProcess:
        env = {**os.environ, "TOCSIN_HOME": str(self.home), "TOCSIN_API_TOKEN": self.token}
        args = [*self.wrapper, sys.executable, "-c", "from tocsin.cli import main; raise SystemExit(main())",
                "server", "--port", str(self.port)]
        if self.database_url:
            args += ["--database", self.database_url]
        args += self.extra_args
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_path = self.home / f"server-{self.port}-{int(time.time() * 1000)}.log"
        self.proc = subprocess.Popen(args, env=env, stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT)
        if wait:
            wait_healthy(self.base_url, proc=self.proc)
        return self

    def kill(self) -> None:
        """kill -9."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[Any]:
    """Factory: server_process(database_url=None) -> a started `tocsin server` subprocess (killed at teardown)."""
    started: list[ServerProcess] = []

    def make(database_url: str | None = None, home: Path | None = None, start: bool = True,
             args: list[str] | None = None, wrapper: list[str] | None = None) -> ServerProcess:
        sp = ServerProcess(home or tmp_path / "home", database_url, extra_args=list(args or []),
                           wrapper=list(wrapper or []))
        started.append(sp)
        return sp.start() if start else sp

    yield make
    for sp in started:
        sp.close()


# --- PostgreSQL ---------------------------------------------------------------------------------------------------
def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *cmd]
    return ["su", "postgres", "-c", shlex.join(cmd)]


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise RuntimeError(f"{name} not found: PostgreSQL 15 server binaries are required for these tests")


@dataclass
class Postgres:
    port: int
    base: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    base = Path(tempfile.mkdtemp(prefix="tocsin-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    port = free_port()
    subprocess.run(_as_postgres([_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                                 "--no-sync", "-E", "UTF8"]), check=True, capture_output=True)
    opts = (f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
            f"-c full_page_writes=off -c max_connections=200")
    subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", str(data), "-l", str(base / "pg.log"), "-w",
                                 "-o", opts, "start"]), check=True, capture_output=True)
    try:
        yield Postgres(port, base)
    finally:
        subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_url(postgres: Postgres) -> str:
    return postgres.create_database()
