"""Events per second through the pure evaluator, with 10..10,000 automations of which 1% match.

Usage: python bench/evaluator.py [--events N]. Prints a Markdown table. One core, no I/O: the figures
measure trigger indexing, matching and window bookkeeping only. Rates are per second of this process's CPU
time (time.process_time), so other work on the machine skews them less than wall-clock rates would.

"1% match" means 1% of the automations expect the event's name (so each is a candidate and its resource filters
are checked); their `match_related` tag filters then admit about one in seven of them, so ~0.14% of the
automations count the event in a window. The second table has no candidate at all: the cost of automations
that cannot match.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timedelta, timezone
from uuid import uuid4

from tocsin.clock import FakeClock
from tocsin.schemas.events import Event
from tocsin.schemas.triggers import parse_trigger
from tocsin.triggers import Evaluator

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def build(n_automations: int, matching_share: float) -> Evaluator:
    clock = FakeClock(T0)
    ev = Evaluator(clock=clock)
    n_match = int(n_automations * matching_share)
    for i in range(n_automations):
        if i < n_match:
            trigger = {"expect": ["prefect.flow-run.Failed", "prefect.flow-run.Crashed"],
                       "match": {"prefect.resource.id": "prefect.flow-run.*"},
                       "match_related": {"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.team-{i % 7}"},
                       "for_each": ["prefect.resource.id"], "posture": "Reactive", "threshold": 3, "within": 3600}
        elif i % 2:
            trigger = {"expect": [f"app.service-{i}.error"], "posture": "Reactive", "threshold": 1}
        else:
            trigger = {"expect": [f"app.service-{i}.*"], "match": {"prefect.resource.id": f"svc-{i}"},
                       "posture": "Reactive", "threshold": 2, "within": 60}
        ev.load(uuid4(), parse_trigger(trigger))
    return ev


def events(count: int) -> list:
    out = []
    for i in range(count):
        when = T0 + timedelta(milliseconds=i)
        out.append(Event(
            occurred=when, event="prefect.flow-run.Failed",
            resource={"prefect.resource.id": f"prefect.flow-run.{i % 500}"},
            related=[{"prefect.resource.id": f"prefect.tag.team-{i % 7}", "prefect.resource.role": "tag"},
                     {"prefect.resource.id": "prefect.flow.etl", "prefect.resource.role": "flow"}],
        ).receive(when))
    return out


def measure(n_automations: int, matching_share: float, n_events: int) -> tuple[float, int]:
    ev = build(n_automations, matching_share)
    batch = events(n_events)
    clock = ev.clock
    fired = 0
    start = time.process_time()
    for event in batch:
        clock.set(event.received)  # type: ignore[attr-defined]
        fired += len(ev.on_event(event))
    elapsed = time.process_time() - start
    return n_events / elapsed, fired


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    print("| automations | matching | events/s | µs/event | firings |")
    print("|---:|---:|---:|---:|---:|")
    for n in (10, 100, 1_000, 10_000):
        rate, fired = measure(n, 0.01, args.events)
        print(f"| {n:,} | 1% ({int(n * 0.01)}) | {rate:,.0f} | {1e6 / rate:.1f} | {fired} |")
    print()
    print("Cost of automations that cannot match (none match):")
    print("| automations | events/s | µs/event |")
    print("|---:|---:|---:|")
    for n in (10, 100, 1_000, 10_000):
        rate, _ = measure(n, 0.0, args.events)
        print(f"| {n:,} | {rate:,.0f} | {1e6 / rate:.2f} |")


if __name__ == "__main__":
    main()
