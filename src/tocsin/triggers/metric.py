"""Metric triggers (Prefect Cloud): successes, duration and lateness of flow runs. Placeholder hooks.

NOT IMPLEMENTED YET: these hooks keep the evaluator's interface stable while the metric evaluation is built;
metric triggers currently never fire.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tocsin.schemas.events import ReceivedEvent
from tocsin.triggers.state import InMemoryStateStore


def is_metric_event(event: ReceivedEvent) -> bool:
    return event.event.startswith("prefect.flow-run.")


def observe(store: InMemoryStateStore, mt: Any, event: ReceivedEvent) -> None:
    return None


def evaluate(store: InMemoryStateStore, mt: Any, wall: datetime, fire: Any) -> None:
    return None


def next_deadline(store: InMemoryStateStore, mt: Any, now: datetime) -> datetime | None:
    return None
