"""create_app(settings, store, clock): builds one engine instance with no module-level state.

The app owns: the ingest writer (group commits), the evaluation worker (pure evaluator + durable state), the
metrics registry and the authenticator. Startup applies migrations; shutdown stops taking events, commits
what was accepted, lets the evaluator work through it (bounded) and releases the evaluation lease.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from tocsin.clock import Clock, SystemClock
from tocsin.delivery.dispatcher import Dispatcher
from tocsin.delivery.planner import plan
from tocsin.errors import ValidationFailed
from tocsin.secrets import SecretBox
from tocsin.server import deps
from tocsin.server.auth import Authenticator, ensure_admin_token
from tocsin.server.context import AppContext
from tocsin.server.ingest import IngestWriter
from tocsin.server.metrics import Metrics
from tocsin.server.problems import rejected
from tocsin.server.processes import Children
from tocsin.server.routes import automations, blocks, deliveries, events, misc
from tocsin.server.scheduler import EvaluationWorker
from tocsin.server.settings import Settings
from tocsin.store import Store

log = logging.getLogger("tocsin.server")


def create_app(settings: Settings, store: Store | None = None, clock: Clock | None = None, *,
               children: Children | None = None) -> FastAPI:
    """One engine. With `children` (started role processes, see tocsin.server.processes; what `tocsin server`
    does), the evaluator and the dispatcher run there; without, everything runs in this process (tests,
    embedding, `--single-process`)."""
    from tocsin.delivery.redaction import RedactingVault, install_log_redaction

    store = store or Store.open(settings.database_url, synchronous=settings.sqlite_synchronous)
    clock = clock or SystemClock()
    metrics = Metrics()
    auth = Authenticator(store, ensure_admin_token(settings.home, settings.api_token))
    box = SecretBox.from_environment(settings.secret_environment())
    vault = RedactingVault(store, clock, box)
    worker: EvaluationWorker | None = None
    dispatcher: Dispatcher | None = None  # in this process, when there are no child processes
    if children is not None:
        children.metrics, children.store = metrics, store
        notify_evaluator = children.wakeups.ringer("evaluator")
        notify_dispatcher = children.wakeups.ringer("dispatcher")
        if vault.holds_ciphertext():  # the dispatcher process decrypts it all at start: share the cipher's code
            children.preload.append(SecretBox.CIPHER_MODULE)
    else:
        worker = EvaluationWorker(store, clock, settings, metrics, action_planner=plan)
        dispatcher = Dispatcher(store, clock, settings, metrics, vault, on_events=worker.notify)
        worker.on_outbox = dispatcher.notify
        notify_evaluator, notify_dispatcher = worker.notify, dispatcher.notify
    writer = IngestWriter(store, metrics, on_commit=notify_evaluator)
    context = AppContext(settings, store, clock, metrics, auth, writer, worker, vault, dispatcher,
                         notify_evaluator, notify_dispatcher)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        vault.load_everything()  # secret values the log filter must hide
        install_log_redaction(vault.redactor)
        writer.start()
        supervisor = None
        if children is not None:
            # after the schema is migrated (Store.open above) and on the main thread (see Children.start);
            # `tocsin server` has already forked them before uvicorn started (then this does nothing)
            children.start()
            supervisor = asyncio.get_running_loop().create_task(children.supervise())
        if worker is not None and dispatcher is not None:
            worker.start()
            dispatcher.start()
        log.info("tocsin server started", extra={"database": store.engine.url.render_as_string(),
                                                 "instance": settings.instance_id,
                                                 "processes": children.pids() if children else None})
        try:
            yield
        finally:
            log.info("shutting down: committing accepted events and finishing evaluation")
            writer.stop()
            if children is not None:
                await asyncio.to_thread(children.stop)
                if supervisor is not None:
                    supervisor.cancel()
            if worker is not None and dispatcher is not None:
                worker.stop()
                dispatcher.stop()
            store.close()
            log.info("tocsin server stopped")

    app = FastAPI(title="Tocsin", version="0.1.0", lifespan=lifespan, openapi_url=None, docs_url=None,
                  redoc_url=None)
    app.state.ctx = context
    app.include_router(events.router, prefix="/api")
    app.include_router(automations.router, prefix="/api")
    app.include_router(misc.router, prefix="/api")
    app.include_router(blocks.router, prefix="/api")
    app.include_router(deliveries.router, prefix="/api")
    app.include_router(misc.metrics_router)

    @app.get("/api/openapi.json", include_in_schema=False)
    def _openapi(_: AppContext = Depends(deps.ingest)) -> JSONResponse:
        """The API description, for any valid token: every route but /api/health needs one."""
        return JSONResponse(app.openapi())

    @app.exception_handler(ValidationFailed)
    async def _validation_failed(_: Request, exc: ValidationFailed) -> JSONResponse:
        return rejected(exc)

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": [
            {"loc": list(e["loc"]), "field": ".".join(str(p) for p in e["loc"][1:]), "msg": e["msg"],
             "type": e["type"]} for e in exc.errors()]}, status_code=422)

    return app

