"""Checks that an automation's actions point at blocks that exist and can do the job, so a typo in a
`block_document_id` fails when the automation is written (422) instead of dead-lettering at 3 a.m.

1. `send-notification` needs a block whose type can notify (not `webhook`, not `prefect-api`);
2. `call-webhook` needs a `webhook` block;
3. every problem is reported at once, as `actions[i].block_document_id` (or `actions_on_trigger[i]...`).

The other direction: a block that an automation still names cannot be deleted (`BlockInUse`, 409 naming the
automations). Both checks run inside the write transaction that writes the automation or deletes the block. On
SQLite those transactions are serialised (BEGIN IMMEDIATE); on PostgreSQL the automation write takes a share
lock on the blocks it names (`FOR SHARE`) and the delete an exclusive one on the block (`FOR UPDATE`) before
looking for users, so one of the two always sees the other's committed result.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, or_, select

from tocsin.errors import Conflict, ValidationFailed
from tocsin.store.tables import automations, blocks

ACTION_FIELDS = ("actions", "actions_on_trigger", "actions_on_resolve")
_NEEDS_BLOCK = ("send-notification", "call-webhook")


def block_ref(action: dict[str, Any]) -> str | None:
    """The block id an action names, for the action types that need a block; None for the others."""
    if action.get("type") not in _NEEDS_BLOCK:
        return None
    return str(action.get("block_document_id") or action.get("block_id") or "")


def block_problems(doc: dict[str, Any], types: dict[str, str]) -> list[tuple[str, str]]:
    """Problems with the block references of an automation document, given {block id: block type}."""
    from tocsin.notifications import NOTIFICATION_BLOCK_TYPES

    problems = []
    for field in ACTION_FIELDS:
        for i, action in enumerate(doc.get(field) or []):
            ref = block_ref(action)
            if ref is None:
                continue
            kind = action.get("type")
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
    refs = {ref for field in ACTION_FIELDS for a in doc.get(field) or [] if (ref := block_ref(a)) is not None}
    if not refs:
        return
    stmt = select(blocks.c.id, blocks.c.type).where(blocks.c.id.in_(sorted(refs)))
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(read=True)  # a concurrent delete of one of them waits for this write
    types = {row.id: row.type for row in conn.execute(stmt)}
    problems = block_problems(doc, types)
    if problems:
        raise ValidationFailed(problems)


class BlockInUse(Conflict):
    """A block cannot be deleted while automations name it; `automations` lists them (id, name, fields)."""

    def __init__(self, block_id: str, users: list[dict[str, Any]]) -> None:
        self.block_id = block_id
        self.automations = users
        named = ", ".join(f"{u['name']!r} ({u['id']})" for u in users)
        count = f"{len(users)} automation{'s' if len(users) != 1 else ''}"
        super().__init__([("", (
            f"block {block_id} is still used by {count}: {named}; nothing was deleted. Point their "
            "send-notification / call-webhook actions at another block (or delete those automations) first"
        ))])

    def to_json(self) -> dict[str, Any]:
        return {"detail": str(self), "block_id": self.block_id, "automations": self.automations}


def automations_using_block(conn: Connection, block_id: str) -> list[dict[str, Any]]:
    """Automations whose actions name `block_id`, by name: [{"id", "name", "fields": [action paths]}]."""
    columns = [automations.c[field] for field in ACTION_FIELDS]
    # the id must appear in the action JSON text; only those rows are parsed
    stmt = (
        select(automations.c.id, automations.c.name, *columns)
        .where(or_(*(c.contains(block_id, autoescape=True) for c in columns)))
        .order_by(automations.c.name, automations.c.id)
    )
    users = []
    for row in conn.execute(stmt):
        fields = [
            f"{field}[{i}].block_document_id"
            for field in ACTION_FIELDS
            for i, action in enumerate(json.loads(getattr(row, field) or "[]"))
            if isinstance(action, dict) and block_ref(action) == block_id
        ]
        if fields:
            users.append({"id": row.id, "name": row.name, "fields": fields})
    return users


def check_block_unused(conn: Connection, block_id: str) -> None:
    """Raise BlockInUse when an automation's action names `block_id`."""
    users = automations_using_block(conn, block_id)
    if users:
        raise BlockInUse(block_id, users)
