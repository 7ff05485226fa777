"""GET /api/health (no auth), POST /api/templates/validate and GET /metrics."""

from __future__ import annotations

import importlib
import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import func, select

from tocsin.server.context import AppContext
from tocsin.server.deps import admin
from tocsin.store import events as event_rows
from tocsin.store.tables import evaluation

router = APIRouter()
metrics_router = APIRouter()


@router.get("/health", tags=["health"], summary="Liveness (no token needed)")
async def health() -> bool:
    return True


def _template_source(raw: bytes, content_type: str) -> str:
    """The template text: a plain-text body, a JSON string (Prefect's client), or {"template": "..."}."""
    text = raw.decode("utf-8", errors="replace")
    if "json" in content_type:
        try:
            data = json.loads(text)
        except ValueError:
            return text
        if isinstance(data, str):
            return data
        if isinstance(data, dict) and isinstance(data.get("template"), str):
            return str(data["template"])
    return text


def _template_checker() -> Any:
    try:
        module = importlib.import_module("tocsin.templating")
    except ImportError:
        return None
    return getattr(module, "validate_template", None)


def _fallback_check(source: str) -> tuple[int, str] | None:
    from jinja2 import TemplateSyntaxError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    try:
        ImmutableSandboxedEnvironment().parse(source)
    except TemplateSyntaxError as exc:
        return exc.lineno, exc.message or "template syntax error"
    return None


@router.post("/templates/validate", tags=["templates"], summary="Check a Jinja template's syntax")
@router.post("/automations/templates/validate", include_in_schema=False)
async def validate_template(request: Request, context: AppContext = Depends(admin)) -> Response:
    source = _template_source(await request.body(), request.headers.get("content-type", ""))
    checker = _template_checker()
    if checker is not None:  # tocsin.templating.validate_template -> None or a problem with line and message
        try:
            problem = checker(source)
        except Exception as exc:  # noqa: BLE001 - a checker may also raise with line and message
            problem = exc
        if problem is None:
            return Response(status_code=204)
        line = getattr(problem, "line", None) or getattr(problem, "lineno", None) or 0
        message = getattr(problem, "message", None) or str(problem)
        return JSONResponse({"error": {"line": line, "message": message, "source": source}}, status_code=422)
    problem = _fallback_check(source)
    if problem is not None:
        return JSONResponse({"error": {"line": problem[0], "message": problem[1], "source": source}},
                            status_code=422)
    return Response(status_code=204)


@metrics_router.get("/metrics", tags=["operations"], summary="Prometheus metrics")
async def metrics(context: AppContext = Depends(admin)) -> Response:
    with context.store.reader.connect() as conn:  # the database's view: the evaluator may be another process
        cursor = conn.execute(select(func.min(evaluation.c.cursor))).scalar() or 0
        context.metrics.backlog.set(max(0, event_rows.last_seq(conn) - cursor))
    return Response(context.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
