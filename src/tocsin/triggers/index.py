"""Which event triggers can an event reach? Indexed by event name so unrelated automations cost nothing.

A pattern's gate only opens for names starting with its literal prefix (the text before the first `*`), so
patterns are filed by prefix and looked up once per prefix length in use; triggers with an empty `expect`
see every event. Candidates returned have passed the name gate; `expects`/`starts_after` decide the rest.
"""

from __future__ import annotations

from collections import defaultdict

from tocsin.schemas.events import EventNamePattern
from tocsin.triggers.compiled import CompiledEventTrigger


class TriggerIndex:
    def __init__(self) -> None:
        self._prefixed: dict[int, dict[str, list[tuple[EventNamePattern, CompiledEventTrigger]]]] = {}
        self._every: list[CompiledEventTrigger] = []
        self._cache: dict[str, list[CompiledEventTrigger]] = {}  # event names are few: remember each answer

    def add(self, trigger: CompiledEventTrigger) -> None:
        self._cache.clear()
        if not trigger.expect:
            self._every.append(trigger)
            return
        for pattern in trigger.name_patterns:
            by_prefix = self._prefixed.setdefault(len(pattern.prefix), defaultdict(list))
            by_prefix[pattern.prefix].append((pattern, trigger))

    def remove(self, triggers: list[CompiledEventTrigger]) -> None:
        self._cache.clear()
        doomed = {id(t) for t in triggers}
        self._every = [t for t in self._every if id(t) not in doomed]
        for length in list(self._prefixed):
            by_prefix = self._prefixed[length]
            for prefix in list(by_prefix):
                kept_p = [(p, t) for p, t in by_prefix[prefix] if id(t) not in doomed]
                if kept_p:
                    by_prefix[prefix] = kept_p
                else:
                    del by_prefix[prefix]
            if not by_prefix:
                del self._prefixed[length]

    def candidates(self, name: str) -> list[CompiledEventTrigger]:
        """Triggers whose names admit `name`, in load order, each once."""
        cached = self._cache.get(name)
        if cached is None:
            if len(self._cache) > 10_000:
                self._cache.clear()
            cached = self._cache[name] = self._lookup(name)
        return cached

    def _lookup(self, name: str) -> list[CompiledEventTrigger]:
        sources = 0
        found: dict[int, CompiledEventTrigger] = {}
        for length, by_prefix in self._prefixed.items():
            if length <= len(name):
                hits = by_prefix.get(name[:length])
                if hits:
                    sources += 1
                    for pattern, t in hits:
                        if id(t) not in found and pattern.opens_gate(name):
                            found[id(t)] = t
        if self._every:
            sources += 1
            for t in self._every:
                found[id(t)] = t
        if sources <= 1:  # one source is already in load order
            return list(found.values())
        return sorted(found.values(), key=lambda t: t.seq)
