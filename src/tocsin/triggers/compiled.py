"""Triggers prepared for fast evaluation: patterns compiled once, each node knowing its place in the tree."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from tocsin.schemas.events import Event, EventNamePattern, ResourceSpecification
from tocsin.schemas.triggers import CompositeTrigger, EventTrigger, MetricTrigger, SequenceTrigger
from tocsin.triggers.state import TriggerKey


@dataclass(eq=False)
class CompiledNode:
    automation_id: UUID
    path: str
    trigger: Any
    parent: CompiledComposite | None
    seq: int = 0

    @property
    def key(self) -> TriggerKey:
        return (self.automation_id, self.path)


@dataclass(eq=False)
class CompiledResourceTrigger(CompiledNode):
    match: ResourceSpecification = field(default_factory=lambda: ResourceSpecification({}))
    related: list[ResourceSpecification] = field(default_factory=list)

    def covers_resources(self, event: Event) -> bool:
        if not self.match.includes((event.resource,)):
            return False
        return all(spec.includes(event.related) for spec in self.related)


@dataclass(eq=False)
class CompiledEventTrigger(CompiledResourceTrigger):
    expect: list[EventNamePattern] = field(default_factory=list)
    after: list[EventNamePattern] = field(default_factory=list)
    for_each: list[str] = field(default_factory=list)

    @property
    def name_patterns(self) -> list[EventNamePattern]:
        return self.expect + self.after

    def expects(self, name: str) -> bool:
        return not self.expect or any(p.matches(name) for p in self.expect)

    def starts_after(self, name: str) -> bool:
        return any(p.matches(name) for p in self.after)

    def covers(self, event: Event) -> bool:
        if self.expect and not any(p.matches(event.event) for p in self.name_patterns):
            return False
        return self.covers_resources(event)

    def bucketing_key(self, event: Event) -> tuple[str, ...]:
        return tuple(event.find_resource_label(label) or "" for label in self.for_each)

    def triggering_labels(self, key: tuple[str, ...]) -> dict[str, str]:
        return dict(zip(self.for_each, key))


@dataclass(eq=False)
class CompiledMetricTrigger(CompiledResourceTrigger):
    pass


@dataclass(eq=False)
class CompiledComposite(CompiledNode):
    children: list[CompiledNode] = field(default_factory=list)

    @property
    def need(self) -> int:
        return int(self.trigger.num_expected_firings)

    @property
    def is_sequence(self) -> bool:
        return isinstance(self.trigger, SequenceTrigger)


def compile_tree(automation_id: UUID, trigger: Any, seq_start: int = 0) -> list[CompiledNode]:
    """Every node of the trigger tree, parents before children, numbered in document order."""
    nodes: list[CompiledNode] = []

    def visit(t: Any, path: str, parent: CompiledComposite | None) -> CompiledNode:
        seq = seq_start + len(nodes)
        node: CompiledNode
        if isinstance(t, EventTrigger):
            node = CompiledEventTrigger(
                automation_id, path, t, parent, seq,
                match=ResourceSpecification(t.match),
                related=t.related_specs(),
                expect=[EventNamePattern(p) for p in t.expect],
                after=[EventNamePattern(p) for p in t.after],
                for_each=sorted(t.for_each),
            )
            nodes.append(node)
        elif isinstance(t, MetricTrigger):
            node = CompiledMetricTrigger(
                automation_id, path, t, parent, seq, match=ResourceSpecification(t.match), related=t.related_specs()
            )
            nodes.append(node)
        elif isinstance(t, CompositeTrigger):
            comp = CompiledComposite(automation_id, path, t, parent, seq)
            nodes.append(comp)
            for i, child in enumerate(t.triggers):
                comp.children.append(visit(child, f"{path}.{i}" if path else str(i), comp))
            node = comp
        else:  # pragma: no cover - the schema admits nothing else
            raise TypeError(f"unknown trigger {t!r}")
        return node

    visit(trigger, "", None)
    return nodes
