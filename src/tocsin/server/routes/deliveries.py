"""Deliveries (the outbox seen from the API): list them (`?status=dead` for dead letters), read one, retry a
dead one; and drills (`POST /api/automations/{id}/drill`), which send one `[TEST]` notification per action
through the same outbox and return the delivery ids. No response carries a secret: a delivery shows its
action type, destination block id, status, attempts and the (redacted) last error."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from sqlalchemy import insert, select

from tocsin.server.context import AppContext
from tocsin.server.deps import admin
from tocsin.store import automations as automation_rows
from tocsin.store import outbox as outbox_rows
from tocsin.store.tables import outbox
from tocsin.store.timeutil import to_us

router = APIRouter(tags=["delivery"])
STATUSES = (outbox_rows.PENDING, outbox_rows.DELIVERING, outbox_rows.DELIVERED, outbox_rows.DEAD)


@router.get("/deliveries", summary="List deliveries, newest first (status=dead for dead letters)")
async def list_deliveries(
    status: str | None = None,
    automation_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
    context: AppContext = Depends(admin),
) -> Response:
    if status is not None and status not in STATUSES:
        return JSONResponse(
            {
                "detail": [
                    {
                        "loc": ["query", "status"],
                        "field": "status",
                        "msg": f"unknown status {status!r}; one of {', '.join(STATUSES)}",
                    }
                ]
            },
            status_code=422,
        )
    stmt = select(outbox).order_by(outbox.c.created_us.desc(), outbox.c.id).limit(max(0, min(limit, 1000)))
    stmt = stmt.offset(max(0, offset))
    if status:
        stmt = stmt.where(outbox.c.status == status)
    if automation_id:
        stmt = stmt.where(outbox.c.automation_id == automation_id)
    with context.store.reader.connect() as conn:
        return JSONResponse([outbox_rows.public(r) for r in conn.execute(stmt)])


@router.get("/deliveries/{delivery_id}", summary="Read one delivery")
async def read_delivery(delivery_id: str, context: AppContext = Depends(admin)) -> Response:
    with context.store.reader.connect() as conn:
        row = conn.execute(select(outbox).where(outbox.c.id == delivery_id)).first()
    if row is None:
        return JSONResponse({"detail": f"delivery {delivery_id} not found"}, status_code=404)
    return JSONResponse(outbox_rows.public(row))


@router.post("/deliveries/{delivery_id}/retry", status_code=204, summary="Retry a dead letter")
async def retry_delivery(delivery_id: str, context: AppContext = Depends(admin)) -> Response:
    with context.store.write() as conn:
        done = outbox_rows.retry(conn, delivery_id, to_us(context.clock.now()))
    if not done:
        return JSONResponse(
            {"detail": f"no dead delivery {delivery_id} (only dead letters can be retried)"}, status_code=404
        )
    context.notify_dispatcher()
    return Response(status_code=204)


@router.post(
    "/automations/{automation_id}/drill",
    status_code=202,
    tags=["automations"],
    summary="Send one [TEST] notification per action through the outbox",
)
async def drill(automation_id: str, context: AppContext = Depends(admin)) -> Response:
    from tocsin.delivery.drill import plan_drill

    def run() -> dict[str, Any] | None:
        with context.store.reader.connect() as conn:
            doc = automation_rows.get(conn, automation_id)
        if doc is None:
            return None
        rows, skipped = plan_drill(doc, context.clock.now())
        if rows:
            with context.store.write() as conn:
                conn.execute(insert(outbox), rows)
        return {
            "automation_id": automation_id,
            "skipped": skipped,
            "deliveries": [
                {"id": r["id"], "action_index": r["action_index"], "path": _path(r["action"])} for r in rows
            ],
        }

    try:
        uuid.UUID(automation_id)
    except ValueError:
        return JSONResponse({"detail": f"automation {automation_id} not found"}, status_code=404)
    out = await asyncio.to_thread(run)
    if out is None:
        return JSONResponse({"detail": f"automation {automation_id} not found"}, status_code=404)
    if out["deliveries"]:
        context.notify_dispatcher()
    return JSONResponse(out, status_code=202)


def _path(action_json: str) -> str:
    return str(json.loads(action_json).get("path", ""))
