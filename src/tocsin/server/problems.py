"""Turning rejected input into HTTP answers: every problem carries the field path it is about."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from tocsin.errors import ValidationFailed


def detail(problems: list[tuple[str, str]], root: str = "body") -> list[dict[str, Any]]:
    out = []
    for path, reason in problems:
        parts: list[Any] = [root] + [int(p) if p.isdigit() else p for p in path.split(".") if p != ""]
        out.append({"loc": parts, "field": path, "msg": reason, "type": "value_error"})
    return out


def rejected(exc: ValidationFailed, status: int = 422, root: str = "body") -> JSONResponse:
    return JSONResponse({"detail": detail(exc.problems, root)}, status_code=status)
