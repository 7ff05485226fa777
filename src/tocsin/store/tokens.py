"""API tokens: only their sha256 is stored; the plaintext is shown once, when created."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime

from sqlalchemy import Connection, insert, select

from tocsin.store.tables import tokens
from tocsin.store.timeutil import to_us

SCOPES = ("admin", "ingest")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "tocsin_" + secrets.token_urlsafe(32)


def create(conn: Connection, scope: str, now: datetime, name: str = "") -> str:
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    token = new_token()
    conn.execute(insert(tokens).values(id=str(uuid.uuid4()), name=name, scope=scope,
                                       token_hash=hash_token(token), created_us=to_us(now), revoked=False))
    return token


def scope_of(conn: Connection, token_hash: str) -> str | None:
    row = conn.execute(select(tokens.c.scope, tokens.c.revoked).where(tokens.c.token_hash == token_hash)).first()
    if row is None or row.revoked:
        return None
    return str(row.scope)
