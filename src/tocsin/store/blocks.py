"""Block rows: non-secret fields in clear JSON, secret fields as one encrypted JSON document."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from tocsin.store.tables import blocks
from tocsin.store.timeutil import from_us, to_us


def create(conn: Connection, block_id: str, name: str, type_: str, data: dict[str, Any], secret_data: str,
           now: datetime) -> None:
    conn.execute(insert(blocks).values(id=block_id, name=name, type=type_, data=json.dumps(data),
                                       secret_data=secret_data, created_us=to_us(now), updated_us=to_us(now)))


def replace(conn: Connection, block_id: str, name: str, data: dict[str, Any], secret_data: str,
            now: datetime) -> bool:
    return conn.execute(update(blocks).where(blocks.c.id == block_id).values(
        name=name, data=json.dumps(data), secret_data=secret_data, updated_us=to_us(now))).rowcount == 1


def get(conn: Connection, block_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(blocks).where(blocks.c.id == block_id)).first()
    return _doc(row) if row else None


def lock(conn: Connection, block_id: str) -> bool:
    """Whether the block exists; on PostgreSQL its row is locked (FOR UPDATE) until the transaction ends, so
    automation writes that name it (they read it FOR SHARE) wait. SQLite write transactions are serial already."""
    stmt = select(blocks.c.id).where(blocks.c.id == block_id)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return conn.execute(stmt).first() is not None


def remove(conn: Connection, block_id: str) -> bool:
    return conn.execute(delete(blocks).where(blocks.c.id == block_id)).rowcount == 1


def search(conn: Connection, limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
    stmt = select(blocks).order_by(blocks.c.name, blocks.c.id).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [_doc(r) for r in conn.execute(stmt)]


def _doc(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "type": row.type, "data": json.loads(row.data),
            "secret_data": row.secret_data, "created": from_us(row.created_us).isoformat(),
            "updated": from_us(row.updated_us).isoformat()}


def exists(conn: Connection) -> bool:
    """Whether there is at least one row."""
    return conn.execute(select(blocks.c.id).limit(1)).first() is not None
