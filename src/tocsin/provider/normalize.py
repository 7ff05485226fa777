"""Canonical forms of the JSON attributes, so that text meaning the same thing compares equal.

The engine fills in defaults and gives every trigger a fresh `id`; users write minimal JSON with any key order.
Both sides go through the engine's own parser when it is importable, then lose trigger ids, then are dumped with
sorted keys. Plans and reads compare these forms and keep the user's text when they match (framework.py).
"""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any) -> str:
    """Compact JSON text, the form written to state when the server's value replaces the user's."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def canonical_trigger(text: str) -> str:
    data = json.loads(text)
    try:
        from tocsin.schemas.triggers import parse_trigger, trigger_to_json

        data = trigger_to_json(parse_trigger(data))
    except Exception:  # noqa: BLE001 - invalid triggers are reported by validation; compare them as JSON
        pass
    return dumps(strip_trigger_ids(data))


def strip_trigger_ids(trigger: Any) -> Any:
    """The trigger tree without the `id` of each trigger (ids are assigned by the engine, not by users)."""
    if not isinstance(trigger, dict):
        return trigger
    out = {k: v for k, v in trigger.items() if k != "id"}
    if isinstance(out.get("triggers"), list):
        out["triggers"] = [strip_trigger_ids(t) for t in out["triggers"]]
    return out


def canonical_actions(text: str) -> str:
    data = json.loads(text)
    if isinstance(data, list):
        parsed = _parse_actions(data)
        if parsed is not None:
            data = parsed
    return dumps(data)


def _parse_actions(actions: list[Any]) -> list[Any] | None:
    """Actions with the engine's defaults filled in, when tocsin.schemas.actions exists and accepts them."""
    try:
        from tocsin.schemas import actions as schema
    except ImportError:
        return None
    try:
        if hasattr(schema, "parse_actions"):
            models = schema.parse_actions(actions)
        elif hasattr(schema, "parse_action"):
            models = [schema.parse_action(a) for a in actions]
        else:
            return None
        return [_to_json(schema, m) for m in models]
    except Exception:  # noqa: BLE001 - invalid actions are reported by validation
        return None


def _to_json(schema: Any, model: Any) -> Any:
    if hasattr(schema, "action_to_json"):
        return schema.action_to_json(model)
    if hasattr(model, "model_dump"):
        return model.model_dump(mode="json")
    return model


def canonical_json(text: str) -> str:
    return dumps(json.loads(text))
