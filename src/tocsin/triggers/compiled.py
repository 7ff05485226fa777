"""Triggers prepared for fast evaluation: patterns compiled once, each node knowing its place in the tree."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

from tocsin.schemas.events import Event, EventNamePattern, ResourceSpecification
from tocsin.schemas.triggers import CompositeTrigger, EventTrigger, MetricTrigger, Posture, SequenceTrigger
from tocsin.triggers.state import TriggerKey


@dataclass(eq=False)
class CompiledNode:
    automation_id: UUID
    path: str
    trigger: Any
    parent: CompiledComposite | None
    seq: int = 0

    def __post_init__(self) -> None:
        self.key: TriggerKey = (self.automation_id, self.path)


@dataclass(eq=False)
class CompiledResourceTrigger(CompiledNode):
    match: ResourceSpecification = field(default_factory=lambda: ResourceSpecification({}))
    related: list[ResourceSpecification] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.cover_key = (id(self.match), *(id(r) for r in self.related))

    def covers_resources(self, event: Event, memo: dict[Any, bool] | None = None) -> bool:
        """`match` against the primary resource, every `match_related` spec against the related ones.
        `memo` caches results per (interned) spec for one event, since automations often share specs."""
        if memo is None:
            memo = {}
        whole = memo.get(self.cover_key)
        if whole is not None:
            return whole
        whole = memo[self.cover_key] = self._covers(event, memo)
        return whole

    def _covers(self, event: Event, memo: dict[Any, bool]) -> bool:
        hit = memo.get(id(self.match))
        if hit is None:
            hit = memo[id(self.match)] = self.match.matches(event.resource) if self.match else True
        if not hit:
            return False
        for spec in self.related:
            hit = memo.get(id(spec))
            if hit is None:
                hit = memo[id(spec)] = spec.includes(event.related)
            if not hit:
                return False
        return True


@dataclass(eq=False)
class CompiledEventTrigger(CompiledResourceTrigger):
    expect: list[EventNamePattern] = field(default_factory=list)
    after: list[EventNamePattern] = field(default_factory=list)
    for_each: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.refresh()

    def refresh(self) -> None:
        """Copy the hot fields off the (pydantic) trigger model; call again after swapping `trigger`."""
        t = self.trigger
        self.reactive = t.posture == Posture.Reactive
        self.within = t.within
        self.has_window = t.within != timedelta(0)
        self.immediate = self.reactive and not self.has_window
        self.threshold = t.threshold

    @property
    def name_patterns(self) -> list[EventNamePattern]:
        return self.expect + self.after

    def expects(self, name: str) -> bool:
        return not self.expect or any(p.test.test(name) for p in self.expect)

    def starts_after(self, name: str) -> bool:
        return any(p.test.test(name) for p in self.after)


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


class SpecInterner:
    """Hands out one shared ResourceSpecification per distinct spec, so per-event results can be memoised."""

    def __init__(self) -> None:
        self._specs: dict[str, ResourceSpecification] = {}

    def __call__(self, spec: dict[str, Any]) -> ResourceSpecification:
        key = repr(sorted((k, v if isinstance(v, str) else tuple(v)) for k, v in spec.items()))
        found = self._specs.get(key)
        if found is None:
            found = self._specs[key] = ResourceSpecification(spec)
        return found


def compile_tree(automation_id: UUID, trigger: Any, seq_start: int = 0,
                 intern: SpecInterner | None = None) -> list[CompiledNode]:
    """Every node of the trigger tree, parents before children, numbered in document order."""
    nodes: list[CompiledNode] = []
    intern = intern or SpecInterner()

    def related(t: Any) -> list[ResourceSpecification]:
        specs = t.match_related if isinstance(t.match_related, list) else [t.match_related]
        return [intern(s) for s in specs if s]

    def visit(t: Any, path: str, parent: CompiledComposite | None) -> CompiledNode:
        seq = seq_start + len(nodes)
        node: CompiledNode
        if isinstance(t, EventTrigger):
            node = CompiledEventTrigger(
                automation_id, path, t, parent, seq,
                match=intern(t.match),
                related=related(t),
                expect=[EventNamePattern(p) for p in t.expect],
                after=[EventNamePattern(p) for p in t.after],
                for_each=sorted(t.for_each),
            )
            nodes.append(node)
        elif isinstance(t, MetricTrigger):
            node = CompiledMetricTrigger(
                automation_id, path, t, parent, seq, match=intern(t.match), related=related(t)
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
