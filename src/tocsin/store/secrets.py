"""Secret rows: the value only ever as ciphertext; reads give name, version and times."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from tocsin.store.tables import secrets
from tocsin.store.timeutil import from_us, to_us


def create(conn: Connection, secret_id: str, name: str, ciphertext: str, now: datetime) -> None:
    conn.execute(insert(secrets).values(id=secret_id, name=name, version=1, ciphertext=ciphertext,
                                        created_us=to_us(now), updated_us=to_us(now)))


def rotate(conn: Connection, secret_id: str, ciphertext: str, now: datetime) -> bool:
    return conn.execute(update(secrets).where(secrets.c.id == secret_id).values(
        ciphertext=ciphertext, version=secrets.c.version + 1, updated_us=to_us(now))).rowcount == 1


def get(conn: Connection, secret_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(secrets).where(secrets.c.id == secret_id)).first()
    return public(row) if row else None


def by_name(conn: Connection, name: str) -> dict[str, Any] | None:
    row = conn.execute(select(secrets).where(secrets.c.name == name)).first()
    return public(row) if row else None


def ciphertext_by_name(conn: Connection, name: str) -> str | None:
    return conn.execute(select(secrets.c.ciphertext).where(secrets.c.name == name)).scalar()


def remove(conn: Connection, secret_id: str) -> bool:
    return conn.execute(delete(secrets).where(secrets.c.id == secret_id)).rowcount == 1


def search(conn: Connection, limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
    stmt = select(secrets).order_by(secrets.c.name).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [public(r) for r in conn.execute(stmt)]


def public(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "version": row.version,
            "created": from_us(row.created_us).isoformat(), "updated": from_us(row.updated_us).isoformat()}


def exists(conn: Connection) -> bool:
    """Whether there is at least one row."""
    return conn.execute(select(secrets.c.id).limit(1)).first() is not None
