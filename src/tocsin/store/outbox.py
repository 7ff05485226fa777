"""Outbox rows: actions waiting for delivery. A row is claimed by compare-and-set (status and due time), so
several dispatchers (threads or processes) never send the same attempt twice; a claim that is not settled
(the process died mid-delivery) becomes due again when its claim expires, and is re-sent with the same
delivery id so the receiver can deduplicate."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, func, select, update

from tocsin.store.tables import outbox

PENDING, DELIVERING, DELIVERED, DEAD = "pending", "delivering", "delivered", "dead"


def due(conn: Connection, now_us: int, limit: int) -> list[Any]:
    return list(conn.execute(
        select(outbox).where(outbox.c.status.in_([PENDING, DELIVERING]), outbox.c.next_attempt_us <= now_us)
        .order_by(outbox.c.next_attempt_us).limit(limit)).all())


def claim(conn: Connection, row: Any, now_us: int, claim_us: int) -> bool:
    return conn.execute(update(outbox).where(
        outbox.c.id == row.id, outbox.c.status == row.status, outbox.c.next_attempt_us == row.next_attempt_us,
        outbox.c.attempts == row.attempts,
    ).values(status=DELIVERING, attempts=row.attempts + 1, next_attempt_us=now_us + claim_us,
             updated_us=now_us)).rowcount == 1


def settle(conn: Connection, row_id: str, attempts: int, status: str, now_us: int,
           next_attempt_us: int | None = None, error: str | None = None) -> bool:
    return conn.execute(update(outbox).where(
        outbox.c.id == row_id, outbox.c.status == DELIVERING, outbox.c.attempts == attempts,
    ).values(status=status, next_attempt_us=next_attempt_us if next_attempt_us is not None else now_us,
             last_error=error, updated_us=now_us)).rowcount == 1


def next_due_us(conn: Connection) -> int | None:
    return conn.execute(select(func.min(outbox.c.next_attempt_us))
                        .where(outbox.c.status.in_([PENDING, DELIVERING]))).scalar()


def pending_count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(outbox)
                            .where(outbox.c.status.in_([PENDING, DELIVERING]))).scalar_one())


def listing(conn: Connection, status: str | None, limit: int, offset: int) -> list[dict[str, Any]]:
    stmt = select(outbox).order_by(outbox.c.created_us.desc()).limit(limit).offset(offset)
    if status:
        stmt = stmt.where(outbox.c.status == status)
    return [public(r) for r in conn.execute(stmt)]


def retry(conn: Connection, row_id: str, now_us: int) -> bool:
    return conn.execute(update(outbox).where(outbox.c.id == row_id, outbox.c.status == DEAD).values(
        status=PENDING, attempts=0, next_attempt_us=now_us, updated_us=now_us, last_error=None)).rowcount == 1


def public(row: Any) -> dict[str, Any]:
    item = json.loads(row.action)
    return {"id": row.id, "firing_id": row.firing_id, "automation_id": row.automation_id,
            "action_index": row.action_index, "action_type": item["action"].get("type"),
            "destination": row.destination, "status": row.status, "attempts": row.attempts,
            "last_error": row.last_error}
