"""The engine's tables (SQLAlchemy Core). Times are integer microseconds since the epoch (UTC), ids are UUID
strings and JSON documents are text, so the same schema behaves identically on SQLite and PostgreSQL.

Layout, by concern:
- `events`: every accepted event, `seq` is the commit order (the evaluation cursor walks it);
- `automations`: Prefect-shaped automation documents;
- evaluator state, written in the same transaction as the cursor advance that produced it: `evaluation` (the
  cursor + fencing version + events clock), `trigger_buckets`, `child_firings`, `parked_events`, `next_runs`,
  `loaded_triggers` (the exact trigger each automation was evaluated with);
- `firings` and `outbox` (actions waiting for delivery), `blocks` and `secrets` (encrypted at rest);
- `tokens` (sha256 of API tokens with their scope) and `leases` (work ownership between server processes).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid); PostgreSQL wants a bigint identity.
SeqType = BigInteger().with_variant(Integer(), "sqlite")

events = Table(
    "events",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("occurred_us", BigInteger, nullable=False),
    Column("received_us", BigInteger, nullable=False),
    Column("event", String(1024), nullable=False),
    Column("resource_id", Text, nullable=False),
    Column("body", Text, nullable=False),
    Index("ix_events_occurred", "occurred_us"),
    Index("ix_events_event", "event"),
    Index("ix_events_resource_id", "resource_id"),
)

automations = Table(
    "automations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("tags", Text, nullable=False, default="[]"),
    Column("trigger", Text, nullable=False),
    Column("actions", Text, nullable=False, default="[]"),
    Column("actions_on_trigger", Text, nullable=False, default="[]"),
    Column("actions_on_resolve", Text, nullable=False, default="[]"),
    Column("owner_resource", Text, nullable=True),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Index("ix_automations_name", "name"),
)

evaluation = Table(
    "evaluation",
    metadata,
    Column("partition", Integer, primary_key=True, autoincrement=False),
    Column("cursor", BigInteger, nullable=False, default=0),
    Column("version", BigInteger, nullable=False, default=0),
    Column("events_clock", Text, nullable=True),
    Column("events_clock_updated", Text, nullable=True),
)

trigger_buckets = Table(
    "trigger_buckets",
    metadata,
    Column("automation_id", String(36), primary_key=True),
    Column("trigger_path", String(200), primary_key=True),
    Column("bucket_key", Text, primary_key=True),
    Column("start_us", BigInteger, nullable=False),
    Column("end_us", BigInteger, nullable=False),
    Column("count", Integer, nullable=False),
    Column("data", Text, nullable=False),
)

child_firings = Table(
    "child_firings",
    metadata,
    Column("automation_id", String(36), primary_key=True),
    Column("parent_path", String(200), primary_key=True),
    Column("child_path", String(200), primary_key=True),
    Column("data", Text, nullable=False),
)

parked_events = Table(
    "parked_events",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("data", Text, nullable=False),
)

next_runs = Table(
    "next_runs",
    metadata,
    Column("automation_id", String(36), primary_key=True),
    Column("trigger_path", String(200), primary_key=True),
    Column("due", Text, nullable=False),
)

loaded_triggers = Table(
    "loaded_triggers",
    metadata,
    Column("automation_id", String(36), primary_key=True),
    Column("trigger", Text, nullable=False),
)

firings = Table(
    "firings",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("automation_id", String(36), nullable=False),
    Column("triggered_us", BigInteger, nullable=False),
    Column("event_id", String(36), nullable=True),
    Column("data", Text, nullable=False),
    Index("ix_firings_automation", "automation_id", "triggered_us"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("firing_id", String(36), nullable=False),
    Column("automation_id", String(36), nullable=False),
    Column("action_index", Integer, nullable=False),
    Column("action", Text, nullable=False),
    Column("destination", Text, nullable=False, default=""),
    Column("status", String(20), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_us", BigInteger, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Index("ix_outbox_due", "status", "next_attempt_us"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", Text, nullable=False, default=""),
    Column("scope", String(20), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_us", BigInteger, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(100), nullable=False),
    Column("epoch", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
)

blocks = Table(
    "blocks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", Text, nullable=False),
    Column("type", String(100), nullable=False),
    Column("data", Text, nullable=False),  # the non-secret fields, JSON
    Column("secret_data", Text, nullable=False),  # the secret fields, JSON encrypted with tocsin.secrets.SecretBox
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Index("ix_blocks_name", "name"),
)

secrets = Table(
    "secrets",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("version", Integer, nullable=False),
    Column("ciphertext", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
)
