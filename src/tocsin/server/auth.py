"""Bearer-token authentication. The admin token comes from TOCSIN_API_TOKEN or is generated on first start into
TOCSIN_HOME/token (mode 600); other tokens (`tocsin token create`) are stored hashed with their scope.
An admin token may do everything; an ingest token may only send events."""

from __future__ import annotations

import hmac
import logging
import os
import time
from pathlib import Path

from tocsin.store import Store
from tocsin.store import tokens as token_rows

log = logging.getLogger("tocsin.server.auth")
CACHE_SECONDS = 5.0  # a valid token is looked up in the database at most this often


def ensure_admin_token(home: Path, configured: str | None) -> str:
    if configured:
        return configured
    path = home / "token"
    if path.exists():
        return path.read_text().strip()
    home.mkdir(parents=True, exist_ok=True)
    token = token_rows.new_token()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    log.info("generated the admin API token", extra={"path": str(path)})
    return token


class Authenticator:
    def __init__(self, store: Store, admin_token: str) -> None:
        self._store = store
        self._admin = admin_token.encode()
        self._cache: dict[str, tuple[str, float]] = {}

    def scope_of(self, authorization: str | None) -> str | None:
        """The scope of the bearer token in an Authorization header value, or None if it is not valid."""
        if not authorization:
            return None
        kind, _, token = authorization.partition(" ")
        if kind.lower() != "bearer" or not token:
            return None
        return self.scope_of_token(token.strip())

    def scope_of_token(self, token: str) -> str | None:
        if hmac.compare_digest(token.encode(), self._admin):
            return "admin"
        digest = token_rows.hash_token(token)
        hit = self._cache.get(digest)
        now = time.monotonic()
        if hit and hit[1] > now:
            return hit[0]
        with self._store.reader.connect() as conn:
            scope = token_rows.scope_of(conn, digest)
        if scope:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (scope, now + CACHE_SECONDS)
        return scope


def allows(scope: str | None, needed: str) -> bool:
    return scope == "admin" or (scope is not None and scope == needed)
