"""Blocks (/api/blocks) and secrets (/api/secrets). Deliveries and dead letters: routes/deliveries.py."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from tocsin.delivery.references import BlockInUse
from tocsin.errors import Conflict, NotFound, ValidationFailed
from tocsin.secrets import SecretKeyError
from tocsin.server.context import AppContext
from tocsin.server.deps import admin
from tocsin.server.problems import rejected

router = APIRouter()


async def _body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise ValidationFailed([("", f"request body is not valid JSON: {exc}")]) from None


async def _call(fn: Any, *args: Any, status: int = 200) -> Response:
    try:
        out = await asyncio.to_thread(fn, *args)
    except BlockInUse as exc:
        return JSONResponse(exc.to_json(), status_code=409)
    except Conflict as exc:
        return JSONResponse({"detail": str(exc)}, status_code=409)
    except ValidationFailed as exc:
        return rejected(exc)
    except NotFound as exc:
        return JSONResponse({"detail": str(exc)}, status_code=404)
    except SecretKeyError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=500)
    if status == 204:
        return Response(status_code=204)
    return JSONResponse(out, status_code=status)


def _page(data: Any) -> tuple[int | None, int]:
    data = data if isinstance(data, dict) else {}
    limit = data.get("limit")
    return (int(limit) if isinstance(limit, int) else None), int(data.get("offset") or 0)


async def _call_with_body(request: Request, fn: Any, *args: Any, status: int = 200) -> Response:
    """`fn(*args, body)` for a create or replace: a body that is not JSON answers 422 before `fn` runs."""
    try:
        body = await _body(request)
    except ValidationFailed as exc:
        return rejected(exc)
    return await _call(fn, *args, body, status=status)


async def _call_page(request: Request, fn: Any) -> Response:
    """`fn(limit, offset)` for a .../filter route, the page read from the body."""
    try:
        limit, offset = _page(await _body(request))
    except ValidationFailed as exc:
        return rejected(exc)
    return await _call(fn, limit, offset)


@router.post("/blocks/", status_code=201, tags=["blocks"], summary="Create a block")
async def create_block(request: Request, context: AppContext = Depends(admin)) -> Response:
    return await _call_with_body(request, context.vault.create_block, status=201)


@router.get("/blocks/{block_id}", tags=["blocks"], summary="Read a block (secret fields masked)")
async def get_block(block_id: str, context: AppContext = Depends(admin)) -> Response:
    return await _call(context.vault.get_block, block_id)


@router.put("/blocks/{block_id}", tags=["blocks"], summary="Replace a block")
async def replace_block(block_id: str, request: Request, context: AppContext = Depends(admin)) -> Response:
    return await _call_with_body(request, context.vault.replace_block, block_id)


@router.delete("/blocks/{block_id}", status_code=204, tags=["blocks"], summary="Delete a block")
async def delete_block(block_id: str, context: AppContext = Depends(admin)) -> Response:
    return await _call(context.vault.delete_block, block_id, status=204)


@router.post("/blocks/filter", tags=["blocks"], summary="List blocks")
async def filter_blocks(request: Request, context: AppContext = Depends(admin)) -> Response:
    return await _call_page(request, context.vault.list_blocks)


@router.post("/secrets/", status_code=201, tags=["secrets"], summary="Create a secret (value never returned)")
async def create_secret(request: Request, context: AppContext = Depends(admin)) -> Response:
    return await _call_with_body(request, context.vault.create_secret, status=201)


@router.get("/secrets/{secret_id}", tags=["secrets"], summary="Read a secret's name and version")
async def get_secret(secret_id: str, context: AppContext = Depends(admin)) -> Response:
    return await _call(context.vault.get_secret, secret_id)


@router.put("/secrets/{secret_id}", tags=["secrets"], summary="Rotate a secret's value")
async def rotate_secret(secret_id: str, request: Request, context: AppContext = Depends(admin)) -> Response:
    return await _call_with_body(request, context.vault.rotate_secret, secret_id)


@router.delete("/secrets/{secret_id}", status_code=204, tags=["secrets"], summary="Delete a secret")
async def delete_secret(secret_id: str, context: AppContext = Depends(admin)) -> Response:
    return await _call(context.vault.delete_secret, secret_id, status=204)


@router.post("/secrets/filter", tags=["secrets"], summary="List secrets (names and versions)")
async def filter_secrets(request: Request, context: AppContext = Depends(admin)) -> Response:
    return await _call_page(request, context.vault.list_secrets)
