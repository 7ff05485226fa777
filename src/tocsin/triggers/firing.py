"""A Firing: the record that a trigger's condition was met (semantics §9)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from tocsin.schemas.events import ReceivedEvent


@dataclass(slots=True)
class Firing:
    automation_id: UUID
    trigger_path: str
    trigger: Any  # the trigger model; None only while a restored record waits to be re-linked
    triggered: datetime
    triggering_labels: dict[str, str] = field(default_factory=dict)
    triggering_event: ReceivedEvent | None = None
    triggering_firings: list[Firing] = field(default_factory=list)
    triggering_value: Any = None
    trigger_states: frozenset[str] = frozenset({"Triggered"})
    id: UUID = field(default_factory=uuid4)
    # (id, its text, automation_id, its text): a firing's ids are formatted once, not at every use; copied by
    # dataclasses.replace, and recomputed when either id is no longer the one the texts were made from
    _id_texts: tuple[UUID, str, UUID, str] | None = field(default=None, repr=False, compare=False)

    @property
    def id_text(self) -> str:
        """`str(self.id)`, computed once."""
        texts = self._id_texts
        if texts is None or texts[0] is not self.id or texts[2] is not self.automation_id:
            texts = self._id_texts = (self.id, str(self.id), self.automation_id, str(self.automation_id))
        return texts[1]

    @property
    def automation_id_text(self) -> str:
        """`str(self.automation_id)`, computed once."""
        texts = self._id_texts
        if texts is None or texts[0] is not self.id or texts[2] is not self.automation_id:
            texts = self._id_texts = (self.id, str(self.id), self.automation_id, str(self.automation_id))
        return texts[3]

    def to_json(self) -> dict[str, Any]:
        """JSON form, as templates and the API see it (Prefect's Firing shape)."""
        return {
            "id": self.id_text,
            "automation_id": self.automation_id_text,
            "trigger_path": self.trigger_path,
            "trigger": self.trigger.model_dump(mode="json") if self.trigger is not None else None,
            "trigger_states": sorted(self.trigger_states),
            "triggered": self.triggered.isoformat(),
            "triggering_labels": dict(self.triggering_labels),
            "triggering_firings": [f.to_json() for f in self.triggering_firings],
            "triggering_event": (
                self.triggering_event.model_dump(mode="json") if self.triggering_event is not None else None
            ),
            "triggering_value": self.triggering_value,
        }

    def to_json_text(self, trigger_json: str, event_json: str | None) -> str:
        """`json.dumps(self.to_json())` in content, written piecewise around the trigger's JSON and the
        triggering event's (as stored) that the caller already has: serialising them again for every firing
        cost more than the rest of it. Firings with children or a value take the plain way (they are rare)."""
        if self.triggering_firings or self.triggering_value is not None:
            return json.dumps(self.to_json())
        if event_json is None:
            event = self.triggering_event
            event_json = "null" if event is None else event.model_dump_json()
        states, labels = self.trigger_states, self.triggering_labels
        return "".join((
            '{"id":"', self.id_text, '","automation_id":"', self.automation_id_text, '","trigger_path":',
            json.dumps(self.trigger_path), ',"trigger":', trigger_json, ',"trigger_states":',
            '["Triggered"]' if states == _TRIGGERED else json.dumps(sorted(states)), ',"triggered":"',
            _isoformat(self.triggered), '","triggering_labels":', json.dumps(labels) if labels else "{}",
            ',"triggering_firings":[],"triggering_event":', event_json, ',"triggering_value":null}',
        ))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Firing:
        event = data.get("triggering_event")
        return cls(
            id=UUID(data["id"]),
            automation_id=UUID(data["automation_id"]),
            trigger_path=data["trigger_path"],
            trigger=None,
            triggered=datetime.fromisoformat(data["triggered"]),
            triggering_labels=dict(data.get("triggering_labels") or {}),
            triggering_event=ReceivedEvent.model_validate(event) if event else None,
            triggering_firings=[cls.from_json(f) for f in data.get("triggering_firings") or []],
            triggering_value=data.get("triggering_value"),
            trigger_states=frozenset(data.get("trigger_states") or ["Triggered"]),
        )


_TRIGGERED = frozenset({"Triggered"})
_last_iso: tuple[datetime | None, str] = (None, "")


def _isoformat(when: datetime) -> str:
    """`when.isoformat()`, kept for the last datetime object: the firings of one event share their time."""
    global _last_iso
    last = _last_iso  # one read: another thread may replace it meanwhile
    if when is not last[0]:
        last = _last_iso = (when, when.isoformat())
    return last[1]
