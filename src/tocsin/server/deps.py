"""Request dependencies: the app context and scope checks (401 without a valid token, 403 with the wrong one)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import HTTPException, Request

from tocsin.server.auth import allows
from tocsin.server.context import AppContext


def ctx(request: Request) -> AppContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


def require(scope: str) -> Callable[[Request], AppContext]:
    def check(request: Request) -> AppContext:
        context = ctx(request)
        granted = context.auth.scope_of(request.headers.get("authorization"))
        if granted is None:
            raise HTTPException(401, "a valid bearer token is required (Authorization: Bearer <token>)",
                                headers={"WWW-Authenticate": "Bearer"})
        if not allows(granted, scope):
            raise HTTPException(403, f"this token has scope {granted!r}; this route needs {scope!r}")
        return context

    return check


admin = require("admin")
ingest = require("ingest")
