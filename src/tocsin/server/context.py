"""Everything one app instance owns, reachable from a request as `request.app.state.ctx`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tocsin.clock import Clock
from tocsin.server.auth import Authenticator
from tocsin.server.ingest import IngestWriter
from tocsin.server.metrics import Metrics
from tocsin.server.scheduler import EvaluationWorker
from tocsin.server.settings import Settings
from tocsin.server.vault import Vault
from tocsin.store import Store

if TYPE_CHECKING:  # tocsin.delivery.dispatcher imports tocsin.server modules
    from tocsin.delivery.dispatcher import Dispatcher


@dataclass
class AppContext:
    settings: Settings
    store: Store
    clock: Clock
    metrics: Metrics
    auth: Authenticator
    writer: IngestWriter
    worker: EvaluationWorker | None  # None when the evaluator runs in a process of its own
    vault: Vault
    dispatcher: Dispatcher | None  # None when the dispatcher runs in a process of its own
    notify_evaluator: Callable[[], None]  # events or automations were committed
    notify_dispatcher: Callable[[], None]  # outbox rows became due
