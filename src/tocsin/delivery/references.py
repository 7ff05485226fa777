"""Checks that an automation's actions point at blocks that exist and can do the job, so a typo in a
`block_document_id` fails when the automation is written (422) instead of dead-lettering at 3 a.m.

1. `send-notification` needs a block whose type can notify (not `webhook`, not `prefect-api`);
2. `call-webhook` needs a `webhook` block;
3. every problem is reported at once, as `actions[i].block_document_id` (or `actions_on_trigger[i]...`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from tocsin.errors import ValidationFailed
from tocsin.store.tables import blocks

ACTION_FIELDS = ("actions", "actions_on_trigger", "actions_on_resolve")
_NEEDS_BLOCK = ("send-notification", "call-webhook")


def block_problems(doc: dict[str, Any], types: dict[str, str]) -> list[tuple[str, str]]:
    """Problems with the block references of an automation document, given {block id: block type}."""
    from tocsin.notifications import NOTIFICATION_BLOCK_TYPES

    problems = []
    for field in ACTION_FIELDS:
        for i, action in enumerate(doc.get(field) or []):
            kind = action.get("type")
            if kind not in _NEEDS_BLOCK:
                continue
            ref = str(action.get("block_document_id") or action.get("block_id") or "")
            path = f"{field}[{i}].block_document_id"
            block_type = types.get(ref)
            if block_type is None:
                reason = f"no block with id {ref!r}; create it first (POST /api/blocks/) or fix the reference"
            elif kind == "call-webhook" and block_type != "webhook":
                reason = (
                    f"call-webhook needs a 'webhook' block, and block {ref} is a {block_type!r} block; "
                    "use send-notification for notification blocks"
                )
            elif kind == "send-notification" and block_type not in NOTIFICATION_BLOCK_TYPES:
                reason = (
                    f"block {ref} is a {block_type!r} block, which cannot send notifications; expected "
                    f"one of {', '.join(sorted(NOTIFICATION_BLOCK_TYPES))}"
                )
            else:
                continue
            problems.append((path, reason))
    return problems


def check_block_references(conn: Connection, doc: dict[str, Any]) -> None:
    """Raise ValidationFailed when an action of `doc` names a missing or unsuitable block."""
    refs = {
        str(a.get("block_document_id") or a.get("block_id") or "")
        for field in ACTION_FIELDS
        for a in doc.get(field) or []
        if a.get("type") in _NEEDS_BLOCK
    }
    if not refs:
        return
    types = {
        row.id: row.type
        for row in conn.execute(select(blocks.c.id, blocks.c.type).where(blocks.c.id.in_(sorted(refs))))
    }
    problems = block_problems(doc, types)
    if problems:
        raise ValidationFailed(problems)
