"""Helpers for the construct tests (a module of its own: tests/constructs has no __init__.py, so that the
directory never shadows the `constructs` library)."""

from __future__ import annotations

import json
from typing import Any


def strip_meta(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_meta(v) for k, v in value.items() if k != "//"}
    if isinstance(value, list):
        return [strip_meta(v) for v in value]
    return value


def synth(stack: Any) -> dict[str, Any]:
    """The stack's Terraform JSON as a dict, without cdktf's "//" metadata."""
    from tocsin.constructs._cdk import Testing

    return strip_meta(json.loads(Testing.synth(stack)))
