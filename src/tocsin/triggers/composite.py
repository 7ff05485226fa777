"""Compound and sequence triggers (semantics §6): child firings are collected until the parent is satisfied.

Child firings are recorded per (parent, child), a later firing replacing an earlier one; `within` drops
records older than the newest firing minus `within`. Times are wall-clock firing times.
"""

from __future__ import annotations

from collections.abc import Callable

from tocsin.triggers.compiled import CompiledComposite
from tocsin.triggers.firing import Firing
from tocsin.triggers.state import InMemoryStateStore


def on_child_firing(store: InMemoryStateStore, parent: CompiledComposite, firing: Firing,
                    fire: Callable[[Firing], None]) -> None:
    """1. a parent needing one firing fires at once, keeping nothing;
    2. otherwise expire records older than `within`, record this one, and check readiness: compound needs
       `need` distinct children, sequence needs every child with firing times in declared order;
    3. when ready, consume exactly those records and fire with the child's triggering event."""
    def parent_firing(children: list[Firing]) -> Firing:
        return Firing(
            automation_id=parent.automation_id,
            trigger_path=parent.path,
            trigger=parent.trigger,
            triggered=firing.triggered,
            triggering_firings=children,
            triggering_event=firing.triggering_event,
        )

    if parent.need == 1:
        fire(parent_firing([firing]))
        return
    within = parent.trigger.within
    if within is not None:
        horizon = firing.triggered - within
        for child_path, record in list(store.child_records(parent.key).items()):
            if record.triggered < horizon:
                store.delete_child_firing(parent.key, child_path)
    store.put_child_firing(parent.key, firing)
    records = store.child_records(parent.key)
    order = [c.path for c in parent.children]
    if parent.is_sequence:
        if len(records) < len(order):
            return
        by_time = sorted(records.values(), key=lambda f: (f.triggered, order.index(f.trigger_path)))
        if [f.trigger_path for f in by_time] != order:
            return
        chosen = by_time
    else:
        if len(records) < parent.need:
            return
        chosen = sorted(records.values(), key=lambda f: (f.triggered, order.index(f.trigger_path)))
    for record in chosen:
        store.delete_child_firing(parent.key, record.trigger_path)
    fire(parent_firing(chosen))
