"""Keeps secret values out of the engine's logs: a `Redactor` that knows every secret value the engine holds
(stored secrets and the secret fields of blocks), kept current as they are written and used, and a logging
filter that applies it to each record's message, exception text and `extra` string fields.

`RedactingVault` is the server's `Vault` with the redactor fed: at start (everything stored), on every write
(the new value) and on every read for delivery (what is about to travel). For delivery it also keeps loaded
blocks and resolved secret values BLOCK_CACHE_SECONDS (another process's change is seen within that time; this
one's at once).
"""

from __future__ import annotations

import json
import logging
import time
import weakref
from typing import Any

from tocsin.secrets import RedactingFilter, Redactor
from tocsin.server.vault import Vault
from tocsin.store import blocks as block_rows
from tocsin.store.tables import secrets as secrets_table

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
LOGGERS = ("tocsin", "uvicorn", "uvicorn.error", "")
BLOCK_CACHE_SECONDS = 2.0


class RedactingVault(Vault):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.redactor = Redactor()
        self._known: set[str] = set()  # values already given to the redactor (recompiling it is not free)
        self._blocks: dict[str, tuple[float, str, Any, Any]] = {}  # block id -> (expires, type, model, row)
        self._resolved: dict[str, tuple[float, str]] = {}  # secret name -> (expires, value)

    def load_everything(self) -> None:
        """Teach the redactor every stored value (called once at start)."""
        values: list[str] = []
        with self.store.reader.connect() as conn:
            for (ciphertext,) in conn.execute(
                secrets_table.select().with_only_columns(secrets_table.c.ciphertext)
            ):
                values.append(self.box.decrypt(ciphertext))
            for doc in block_rows.search(conn):
                values.extend(_flatten(json.loads(self.box.decrypt(doc["secret_data"]))))
        self._teach(values)

    def create_secret(self, data: Any) -> dict[str, Any]:
        self._learn(data)
        out = super().create_secret(data)
        self._resolved.clear()
        return out

    def rotate_secret(self, secret_id: str, data: Any) -> dict[str, Any]:
        self._learn(data)
        out = super().rotate_secret(secret_id, data)
        self._resolved.clear()
        return out

    def create_block(self, data: Any) -> dict[str, Any]:
        out = super().create_block(data)
        self.load_block(out["id"])
        return out

    def replace_block(self, block_id: str, data: Any) -> dict[str, Any]:
        out = super().replace_block(block_id, data)
        self._blocks.pop(block_id, None)
        self.load_block(block_id)
        return out

    def load_block(self, block_id: str) -> tuple[str, Any]:
        # every delivery loads its block: keep decrypted blocks for BLOCK_CACHE_SECONDS (a change made through
        # another server process is seen within that time; through this one, at once). When that time is up
        # and the stored row is unchanged, the same model object is kept: the redactor built for it
        # (`redactor_for`, per block object) stays cached instead of being rebuilt every few seconds
        now = time.monotonic()
        cached = self._blocks.get(block_id)
        if cached is not None and cached[0] > now:
            return cached[1], cached[2]
        with self.store.reader.connect() as conn:
            doc = block_rows.get(conn, block_id)
        stamp = (doc["type"], doc["updated"], doc["secret_data"], doc["data"]) if doc is not None else None
        if cached is not None and stamp is not None and cached[3] == stamp:
            self._blocks[block_id] = (now + BLOCK_CACHE_SECONDS, cached[1], cached[2], stamp)
            return cached[1], cached[2]
        block_type, model = super().load_block(block_id)
        self._teach(model.secret_values())
        self._blocks[block_id] = (now + BLOCK_CACHE_SECONDS, block_type, model, stamp)
        return block_type, model

    def delete_block(self, block_id: str) -> None:
        super().delete_block(block_id)  # a refused delete (block in use) keeps the cached block
        self._blocks.pop(block_id, None)

    def resolve(self, name: str) -> str:
        # a secret-URL block resolves its secret on every delivery: keep values BLOCK_CACHE_SECONDS too (a read
        # and a decryption each time otherwise, about 0.13 ms); this process's secret writes drop them at once
        now = time.monotonic()
        cached = self._resolved.get(name)
        if cached is not None and cached[0] > now:
            return cached[1]
        value = super().resolve(name)
        self._teach([value])
        self._resolved[name] = (now + BLOCK_CACHE_SECONDS, value)
        return value

    def delete_secret(self, secret_id: str) -> None:
        super().delete_secret(secret_id)
        self._resolved.clear()

    def _learn(self, data: Any) -> None:
        if isinstance(data, dict) and isinstance(data.get("value"), str):
            self._teach([data["value"]])

    def _teach(self, values: list[str]) -> None:
        new = [v for v in values if v not in self._known]
        if new:
            self._known.update(new)
            self.redactor.update(new)


def _flatten(values: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for value in values.values():
        out.extend(str(v) for v in (value.values() if isinstance(value, dict) else [value]))
    return out


class SecretLogFilter(RedactingFilter):
    """RedactingFilter over several engines' redactors (tests run several apps in one process), also applied
    to string `extra` fields, which the JSON log formatter prints."""

    def __init__(self) -> None:
        super().__init__(Redactor())
        self.redactors: weakref.WeakSet[Redactor] = weakref.WeakSet()

    def filter(self, record: logging.LogRecord) -> bool:
        for redactor in list(self.redactors):
            self.redactor = redactor
            super().filter(record)
            for key, value in vars(record).items():
                if key not in _STANDARD and isinstance(value, str):
                    setattr(record, key, redactor.redact(value))
        return True


def install_log_redaction(redactor: Redactor) -> None:
    """Attach the filter (one per logger/handler, shared by every engine in the process) to the tocsin and
    uvicorn loggers, their handlers, the root handlers and every tocsin.* logger that exists."""
    names = [*LOGGERS, *(n for n in logging.root.manager.loggerDict if n.startswith("tocsin."))]
    targets: list[logging.Filterer] = []
    for name in names:
        logger = logging.getLogger(name)
        targets.append(logger)
        targets.extend(logger.handlers)
    for target in targets:
        existing = next((f for f in target.filters if isinstance(f, SecretLogFilter)), None)
        if existing is None:
            existing = SecretLogFilter()
            target.addFilter(existing)
        existing.redactors.add(redactor)
