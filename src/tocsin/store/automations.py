"""Automation rows <-> Prefect-shaped automation documents."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.engine import Row

from tocsin.store.tables import automations
from tocsin.store.timeutil import from_us, to_us

JSON_FIELDS = ("tags", "trigger", "actions", "actions_on_trigger", "actions_on_resolve")
SORTS = {
    "CREATED_DESC": automations.c.created_us.desc(),
    "UPDATED_DESC": automations.c.updated_us.desc(),
    "NAME_ASC": automations.c.name.asc(),
    "NAME_DESC": automations.c.name.desc(),
}


def to_document(row: Row[Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "enabled": bool(row.enabled),
        "created": from_us(row.created_us).isoformat(),
        "updated": from_us(row.updated_us).isoformat(),
    }
    for name in JSON_FIELDS:
        doc[name] = json.loads(getattr(row, name))
    if row.owner_resource:
        doc["owner_resource"] = row.owner_resource
    return doc


def _columns(doc: dict[str, Any]) -> dict[str, Any]:
    values = {k: doc[k] for k in ("name", "description", "enabled") if k in doc}
    for name in JSON_FIELDS:
        if name in doc:
            values[name] = json.dumps(doc[name])
    if "owner_resource" in doc:
        values["owner_resource"] = doc["owner_resource"]
    return values


def create(conn: Connection, automation_id: str, doc: dict[str, Any], now: datetime) -> dict[str, Any]:
    conn.execute(insert(automations).values(id=automation_id, created_us=to_us(now), updated_us=to_us(now),
                                            **_columns(doc)))
    got = get(conn, automation_id)
    assert got is not None
    return got


def get(conn: Connection, automation_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(automations).where(automations.c.id == automation_id)).first()
    return to_document(row) if row else None


def get_for_update(conn: Connection, automation_id: str) -> dict[str, Any] | None:
    stmt = select(automations).where(automations.c.id == automation_id)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    return to_document(row) if row else None


def replace(conn: Connection, automation_id: str, doc: dict[str, Any], now: datetime) -> bool:
    values = _columns(doc)
    return conn.execute(update(automations).where(automations.c.id == automation_id)
                        .values(updated_us=to_us(now), **values)).rowcount == 1


def remove(conn: Connection, automation_id: str) -> bool:
    return conn.execute(delete(automations).where(automations.c.id == automation_id)).rowcount == 1


def list_all(conn: Connection) -> list[dict[str, Any]]:
    return [to_document(r) for r in conn.execute(select(automations))]


def search(conn: Connection, *, sort: str = "NAME_ASC", limit: int | None = None, offset: int = 0,
           names: list[str] | None = None, created_before: datetime | None = None,
           tags_all: list[str] | None = None, tags_any: list[str] | None = None,
           tags_is_null: bool | None = None) -> list[dict[str, Any]]:
    stmt = select(automations)
    if names:
        stmt = stmt.where(automations.c.name.in_(names))
    if created_before is not None:
        stmt = stmt.where(automations.c.created_us <= to_us(created_before))
    stmt = stmt.order_by(SORTS.get(sort, SORTS["NAME_ASC"]), automations.c.id)
    docs = [to_document(r) for r in conn.execute(stmt)]
    if tags_all:
        docs = [d for d in docs if set(tags_all) <= set(d["tags"])]
    if tags_any:
        docs = [d for d in docs if set(tags_any) & set(d["tags"])]
    if tags_is_null is not None:
        docs = [d for d in docs if (not d["tags"]) == tags_is_null]
    docs = docs[offset:]
    return docs[:limit] if limit is not None else docs


def count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(automations)).scalar_one())
