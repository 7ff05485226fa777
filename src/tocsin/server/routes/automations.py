"""Automations, shaped like Prefect's /api/automations routes, plus GET /api/automations/{id}/state."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tocsin.errors import NotFound, ValidationFailed
from tocsin.server import services
from tocsin.server.context import AppContext
from tocsin.server.deps import admin
from tocsin.server.problems import rejected
from tocsin.store import automations as automation_rows
from tocsin.store import evaluation as state_rows

router = APIRouter(prefix="/automations", tags=["automations"])


async def _json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise ValidationFailed([("", f"request body is not valid JSON: {exc}")]) from None


def _not_found(exc: NotFound) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


def _valid_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@router.post("/", status_code=201, summary="Create an automation")
async def create_automation(request: Request, context: AppContext = Depends(admin)) -> Response:
    try:
        stored = await asyncio.to_thread(services.create, context.store, context.clock, await _json(request))
    except ValidationFailed as exc:
        return rejected(exc)
    context.notify_evaluator()
    return JSONResponse(stored, status_code=201)


@router.get("/{automation_id}", summary="Read an automation")
async def read_automation(automation_id: str, context: AppContext = Depends(admin)) -> Response:
    if not _valid_uuid(automation_id):
        return JSONResponse({"detail": "automation not found"}, status_code=404)
    with context.store.reader.connect() as conn:
        doc = automation_rows.get(conn, automation_id)
    if doc is None:
        return JSONResponse({"detail": f"automation {automation_id} not found"}, status_code=404)
    return JSONResponse(doc)


async def _change(context: AppContext, change: Any, *args: Any) -> Response:
    """Run one write of the automation services off the event loop, map its errors, wake the evaluator."""
    try:
        await asyncio.to_thread(change, context.store, context.clock, *args)
    except ValidationFailed as exc:
        return rejected(exc)
    except NotFound as exc:
        return _not_found(exc)
    context.notify_evaluator()
    return Response(status_code=204)


@router.put("/{automation_id}", status_code=204, summary="Replace an automation")
async def replace_automation(automation_id: str, request: Request,
                             context: AppContext = Depends(admin)) -> Response:
    return await _change(context, services.replace, automation_id, await _json(request))


@router.patch("/{automation_id}", status_code=204, summary="Enable or disable an automation")
async def patch_automation(automation_id: str, request: Request,
                           context: AppContext = Depends(admin)) -> Response:
    return await _change(context, services.set_enabled, automation_id, await _json(request))


@router.delete("/{automation_id}", status_code=204, summary="Delete an automation")
async def delete_automation(automation_id: str, context: AppContext = Depends(admin)) -> Response:
    return await _change(context, services.delete, automation_id)


class _Any(BaseModel):
    model_config = ConfigDict(extra="forbid")
    any_: list[str] | None = None


class _Before(BaseModel):
    model_config = ConfigDict(extra="forbid")
    before_: datetime | None = None


class _Tags(BaseModel):
    model_config = ConfigDict(extra="forbid")
    all_: list[str] | None = None
    any_: list[str] | None = None
    is_null_: bool | None = None


class _AutomationFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: _Any | None = None
    created: _Before | None = None
    tags: _Tags | None = None


class _FilterBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sort: Literal["CREATED_DESC", "UPDATED_DESC", "NAME_ASC", "NAME_DESC"] = "NAME_ASC"
    limit: int | None = Field(default=None, ge=0)
    offset: int = Field(default=0, ge=0)
    automations: _AutomationFilter | None = None


@router.post("/filter", summary="List automations")
async def filter_automations(request: Request, context: AppContext = Depends(admin)) -> Response:
    try:
        body = _FilterBody.model_validate(await _json(request))
    except ValidationFailed as exc:
        return rejected(exc)
    except ValidationError as exc:
        return rejected(ValidationFailed.from_pydantic(exc))
    f = body.automations or _AutomationFilter()
    with context.store.reader.connect() as conn:
        docs = automation_rows.search(
            conn, sort=body.sort, limit=body.limit, offset=body.offset,
            names=f.name.any_ if f.name else None, created_before=f.created.before_ if f.created else None,
            tags_all=f.tags.all_ if f.tags else None, tags_any=f.tags.any_ if f.tags else None,
            tags_is_null=f.tags.is_null_ if f.tags else None)
    return JSONResponse(docs)


@router.post("/count", summary="Count automations")
async def count_automations(context: AppContext = Depends(admin)) -> Response:
    with context.store.reader.connect() as conn:
        return JSONResponse(automation_rows.count(conn))


@router.get("/{automation_id}/state", summary="Open windows and recent firings of an automation")
async def automation_state(automation_id: str, context: AppContext = Depends(admin)) -> Response:
    if not _valid_uuid(automation_id):
        return JSONResponse({"detail": "automation not found"}, status_code=404)
    with context.store.reader.connect() as conn:
        doc = automation_rows.get(conn, automation_id)
        if doc is None:
            return JSONResponse({"detail": f"automation {automation_id} not found"}, status_code=404)
        windows = state_rows.open_windows(conn, automation_id)
        children = state_rows.child_records(conn, automation_id)
        runs = state_rows.next_runs_for(conn, automation_id)
        firings = state_rows.recent_firings(conn, automation_id)
    out_windows = []
    for w in windows:
        out_windows.append({
            "trigger_path": w["trigger_path"], "bucket_key": w["key"], "start": w["start"], "end": w["end"],
            "count": w["count"], "deadline": w["end"],
            "last_event_id": (w.get("last_event") or {}).get("id"),
        })
    return JSONResponse({
        "automation_id": automation_id,
        "enabled": doc["enabled"],
        "windows": out_windows,
        "composite_records": [{"parent_path": c["parent_path"], "child_path": c["child_path"],
                               "triggered": c["firing"]["triggered"]} for c in children],
        "next_proactive_evaluations": runs,
        "recent_firings": [{"id": f["id"], "triggered": f["triggered"], "trigger_path": f["trigger_path"],
                            "triggering_labels": f["triggering_labels"],
                            "triggering_event_id": (f.get("triggering_event") or {}).get("id")}
                           for f in firings],
    })
