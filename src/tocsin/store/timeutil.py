"""Integer microseconds since the epoch, the time format of every table."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_US = timedelta(microseconds=1)


def to_us(when: datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return (when - EPOCH) // _ONE_US  # exact integer division, in C


def from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=timezone.utc)


def iso_z(when: datetime) -> str:
    """A datetime as pydantic writes it in JSON: UTC, ISO 8601, `Z` (for event JSON the engine writes itself)."""
    if when.tzinfo is not timezone.utc:
        when = when.astimezone(timezone.utc)
    return when.isoformat().replace("+00:00", "Z")
