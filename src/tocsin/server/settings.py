"""Server settings, read once from an environment mapping (os.environ by default) so tests can pass a dict."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

DEFAULT_PORT = 4300


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    api_token: str | None = None  # admin token from TOCSIN_API_TOKEN; else generated into home/token
    secret_key: str | None = None  # TOCSIN_SECRET_KEY (comma-separated Fernet keys); else home/secret.key
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    lease_ttl_seconds: float = 2.0  # PostgreSQL: a killed evaluator's work moves on after about this long
    evaluation_batch: int = 2000  # events per evaluation transaction
    max_request_bytes: int = 64 * 1024 * 1024
    shutdown_drain_seconds: float = 5.0
    sqlite_synchronous: str = "FULL"  # TOCSIN_SQLITE_SYNCHRONOUS; NORMAL: kill -9 safe, not power-cut safe
    outbox_max_attempts: int = 8  # TOCSIN_OUTBOX_MAX_ATTEMPTS: then the delivery is dead-lettered
    outbox_backoff_seconds: float = 1.0  # TOCSIN_OUTBOX_BACKOFF_SECONDS: first retry delay (doubles, jittered)
    outbox_backoff_max_seconds: float = 300.0
    outbox_workers: int = 16  # deliveries in flight per process: 2x this; also the threads for blocking sends
    outbox_per_destination: int = 4  # deliveries in flight per block (or action type)
    outbox_claim_seconds: float = 60.0  # longer than any notifier timeout
    instance_id: str = field(default_factory=lambda: f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}")

    def secret_environment(self) -> dict[str, str]:
        """What `tocsin.secrets.SecretBox.from_environment` reads: the key from here, or the file in home."""
        env = {"TOCSIN_HOME": str(self.home)}
        if self.secret_key:
            env["TOCSIN_SECRET_KEY"] = self.secret_key
        return env

    def child_environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` (this process's environment) plus what the evaluator and dispatcher processes need to build
        the same settings, including what came from the command line."""
        env = {**base, **self.secret_environment(), "TOCSIN_DATABASE_URL": self.database_url,
               "TOCSIN_SQLITE_SYNCHRONOUS": self.sqlite_synchronous}
        if self.api_token:
            env["TOCSIN_API_TOKEN"] = self.api_token
        return env

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("TOCSIN_HOME") or Path.home() / ".tocsin").expanduser()
        database_url = env.get("TOCSIN_DATABASE_URL") or ""
        settings = cls(home=home, database_url=database_url, api_token=env.get("TOCSIN_API_TOKEN") or None,
                       secret_key=env.get("TOCSIN_SECRET_KEY") or None,
                       sqlite_synchronous=(env.get("TOCSIN_SQLITE_SYNCHRONOUS") or "FULL").upper(),
                       outbox_max_attempts=int(env.get("TOCSIN_OUTBOX_MAX_ATTEMPTS") or 8),
                       outbox_backoff_seconds=float(env.get("TOCSIN_OUTBOX_BACKOFF_SECONDS") or 1.0),
                       outbox_claim_seconds=float(env.get("TOCSIN_OUTBOX_CLAIM_SECONDS") or 60.0))
        settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
        if not settings.database_url:
            settings.home.mkdir(parents=True, exist_ok=True)
            settings = replace(settings, database_url=f"sqlite:///{settings.home / 'tocsin.db'}")
        return settings
