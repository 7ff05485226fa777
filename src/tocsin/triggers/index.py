"""Which event triggers can an event reach? Indexed by event name so unrelated automations cost nothing.

Literal `expect`/`after` names go in a dict; patterns with `*` are keyed by their literal prefix, looked up
for each prefix length in use; triggers with an empty `expect` see every event.
"""

from __future__ import annotations

from collections import defaultdict

from tocsin.schemas.events import EventNamePattern
from tocsin.triggers.compiled import CompiledEventTrigger


class TriggerIndex:
    def __init__(self) -> None:
        self._exact: dict[str, list[CompiledEventTrigger]] = defaultdict(list)
        self._prefixed: dict[int, dict[str, list[tuple[EventNamePattern, CompiledEventTrigger]]]] = {}
        self._every: list[CompiledEventTrigger] = []

    def add(self, trigger: CompiledEventTrigger) -> None:
        if not trigger.expect:
            self._every.append(trigger)
            return
        for pattern in trigger.name_patterns:
            if pattern.regex is None:
                self._exact[pattern.pattern].append(trigger)
            else:
                by_prefix = self._prefixed.setdefault(len(pattern.prefix), defaultdict(list))
                by_prefix[pattern.prefix].append((pattern, trigger))

    def remove(self, triggers: list[CompiledEventTrigger]) -> None:
        doomed = {id(t) for t in triggers}
        self._every = [t for t in self._every if id(t) not in doomed]
        for name in list(self._exact):
            kept = [t for t in self._exact[name] if id(t) not in doomed]
            if kept:
                self._exact[name] = kept
            else:
                del self._exact[name]
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
        exact = self._exact.get(name)
        sources = 1 if exact else 0
        found: dict[int, CompiledEventTrigger] = {id(t): t for t in exact} if exact else {}
        for length, by_prefix in self._prefixed.items():
            if length <= len(name):
                hits = by_prefix.get(name[:length])
                if hits:
                    sources += 1
                    for pattern, t in hits:
                        if id(t) not in found and pattern.matches(name):
                            found[id(t)] = t
        if self._every:
            sources += 1
            for t in self._every:
                found[id(t)] = t
        if sources <= 1:  # one source is already in load order
            return list(found.values())
        return sorted(found.values(), key=lambda t: t.seq)
