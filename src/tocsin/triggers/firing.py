"""A Firing: the record that a trigger's condition was met (semantics §9)."""

from __future__ import annotations

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
