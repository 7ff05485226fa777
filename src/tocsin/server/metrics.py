"""Prometheus metrics, in a registry owned by one app instance (no module-level collectors).

When the engine runs as several processes (tocsin.server.processes), `tocsin server` points
PROMETHEUS_MULTIPROC_DIR at a directory of its own before anything imports prometheus_client: every process then
writes its values there and `exposition()` in the API process sums them (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events_ingested = Counter("tocsin_events_ingested", "Events accepted and committed", registry=r)
        self.events_evaluated = Counter("tocsin_events_evaluated", "Events run through the evaluator", registry=r)
        self.firings = Counter("tocsin_firings", "Automation firings written", registry=r)
        self.firings_suppressed = Counter(
            "tocsin_firings_suppressed", "Firings dropped by loop protection", registry=r)
        # how a gauge of several processes is merged (ignored in one process)
        self.backlog = Gauge("tocsin_evaluation_backlog", "Committed events not yet evaluated", registry=r,
                             multiprocess_mode="mostrecent")
        self.ingest_queue = Gauge("tocsin_ingest_queue", "Event batches waiting for the ingest commit", registry=r,
                                  multiprocess_mode="livesum")
        self.outbox_pending = Gauge("tocsin_outbox_pending", "Actions waiting for delivery", registry=r,
                                    multiprocess_mode="mostrecent")
        self.leader = Gauge("tocsin_evaluation_leader", "1 when this process evaluates triggers", registry=r,
                            multiprocess_mode="livesum")
        self.process_restarts = Counter("tocsin_process_restarts",
                                        "Evaluator or dispatcher processes restarted after they exited", ["role"],
                                        registry=r)
        self.ingest_commit = Histogram("tocsin_ingest_commit_seconds", "Time to commit one ingest group",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.evaluation_step = Histogram("tocsin_evaluation_step_seconds", "Time of one evaluation transaction",
                                         buckets=LATENCY_BUCKETS, registry=r)
        self.event_to_firing = Histogram("tocsin_event_to_firing_seconds",
                                         "From an event's receipt to the commit of its firing",
                                         buckets=LATENCY_BUCKETS, registry=r)
        self.proactive_lateness = Histogram("tocsin_proactive_lateness_seconds",
                                            "How long after its deadline a proactive judgement ran",
                                            buckets=LATENCY_BUCKETS, registry=r)

    def exposition(self) -> bytes:
        """The text format: this process's registry, or every engine process's values in multiprocess mode."""
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not directory:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=directory)
        return generate_latest(merged)
