"""Events: POST /api/events (a JSON array, 204 once committed), WS /api/events/in (one event per text frame),
POST /api/events/filter and GET /api/events/filter/next (Prefect's EventFilter, paged)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from tocsin.errors import ValidationFailed
from tocsin.schemas.events import MAX_EVENT_SIZE_BYTES, Event, ReceivedEvent, ResourceSpecification
from tocsin.server.auth import allows
from tocsin.server.context import AppContext
from tocsin.server.deps import admin, ingest
from tocsin.server.problems import rejected
from tocsin.store import events as event_rows

log = logging.getLogger("tocsin.server.events")
router = APIRouter()
_EVENTS = TypeAdapter(list[Event])
_EVENT = TypeAdapter(ReceivedEvent)
MAX_PAGE = 50  # Prefect's page size limit for /events/filter
WS_IN_FLIGHT = 2000  # websocket frames accepted ahead of their commit


def parse_rows(raw: bytes, now: datetime) -> list[tuple[Any, ...]]:
    """A POST body's event rows, received `now`; raises TooLarge (413) or ValidationFailed (422) with the
    offending path. A batch in the common shape is validated in one pass (`sent_json_rows`); anything else,
    valid or not, by the Event model, as before."""
    if len(raw) > MAX_EVENT_SIZE_BYTES:  # only then can a single event be too large
        _check_sizes(raw)
    rows = event_rows.sent_json_rows(raw, now)
    return event_rows.sent_event_rows(parse_events(raw), now) if rows is None else rows


def _check_sizes(raw: bytes) -> None:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed([("", f"request body is not valid JSON: {exc}")]) from None
    for i, item in enumerate(data if isinstance(data, list) else []):
        size = len(json.dumps(item, separators=(",", ":")).encode())
        if size > MAX_EVENT_SIZE_BYTES:
            raise TooLarge(str(i), size)


def parse_events(raw: bytes) -> list[Event]:
    """Validate a POST body with the Event model; raises ValidationFailed (422) with the offending path."""
    try:
        return _EVENTS.validate_json(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            if err["type"] == "json_invalid":
                problems.append(("", f"request body is not valid JSON: {err['msg']}"))
            elif err["type"] == "list_type" and not err["loc"]:
                problems.append(("", f"expected a JSON array of events, got {type(err['input']).__name__}"))
        if problems:
            raise ValidationFailed(problems) from None
        raise ValidationFailed.from_pydantic(exc) from None


class TooLarge(Exception):
    def __init__(self, path: str, size: int) -> None:
        super().__init__(path)
        self.path, self.size = path, size


def too_large(path: str, size: int) -> JSONResponse:
    msg = f"event is {size} bytes of JSON; at most {MAX_EVENT_SIZE_BYTES} bytes are accepted"
    return JSONResponse({"detail": [{"loc": ["body", *([int(path)] if path else [])], "field": path,
                                     "msg": msg, "type": "too_large"}]}, status_code=413)


async def ingest_scope(request: Request) -> AppContext:
    """The `ingest` scope check run on the event loop: a plain `def` dependency would cost every POST a hop
    to the thread pool and back. The check is in memory (the admin token, or a token cached for a few
    seconds; an uncached token costs one indexed read), as the websocket route already does it."""
    return ingest(request)


ingest_scope.scope = "ingest"  # type: ignore[attr-defined]  # read by scripts/gen_docs.py


@router.post("/events", status_code=204, tags=["events"], summary="Ingest a JSON array of events")
async def post_events(request: Request, context: AppContext = Depends(ingest_scope)) -> Response:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > context.settings.max_request_bytes:
        return too_large("", int(length))
    raw = await request.body()
    if len(raw) > context.settings.max_request_bytes:
        return too_large("", len(raw))
    try:
        rows = parse_rows(raw, context.clock.now())  # `received` is the engine's to stamp
    except ValidationFailed as exc:
        return rejected(exc)
    except TooLarge as exc:
        return too_large(exc.path, exc.size)
    if rows:
        await context.writer.submit(rows)
    return Response(status_code=204)


@router.websocket("/events/in")
async def events_in(websocket: WebSocket) -> None:
    """One event per text frame. Authenticate with an Authorization header, or with a first frame
    `{"type": "auth", "token": "..."}` (what Prefect clients send)."""
    context: AppContext = websocket.app.state.ctx
    scope = context.auth.scope_of(websocket.headers.get("authorization"))
    await websocket.accept()
    pending: set[asyncio.Future[None]] = set()
    try:
        if scope is None:
            first = await websocket.receive_text()
            try:
                msg = json.loads(first)
                token = msg.get("token") if isinstance(msg, dict) and msg.get("type") == "auth" else None
            except ValueError:
                token = None
            scope = context.auth.scope_of_token(token) if token else None
            if scope is None:
                await websocket.close(code=1008, reason="a valid token is required")
                return
        if not allows(scope, "ingest"):
            await websocket.close(code=1008, reason="this token may not send events")
            return
        while True:
            frame = await websocket.receive_text()
            try:
                data = json.loads(frame)
                if not isinstance(data, dict):
                    raise ValidationFailed([("", "each frame must be one JSON event object")])
                if len(frame.encode()) > MAX_EVENT_SIZE_BYTES:
                    raise ValidationFailed([("", f"event larger than {MAX_EVENT_SIZE_BYTES} bytes")])
                data["received"] = context.clock.now().isoformat()
                event = _EVENT.validate_python(data)
            except ValueError as exc:
                problems = (exc.problems if isinstance(exc, ValidationFailed) else
                            ValidationFailed.from_pydantic(exc).problems if isinstance(exc, ValidationError)
                            else [("", f"frame is not valid JSON: {exc}")])
                await websocket.send_text(json.dumps({"type": "error", "detail": [
                    {"field": p, "msg": m} for p, m in problems]}))
                continue
            fut = context.writer.submit([event_rows.event_row(event)])
            pending.add(fut)
            fut.add_done_callback(pending.discard)
            if len(pending) >= WS_IN_FLIGHT:
                await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    except WebSocketDisconnect:
        pass
    finally:
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


# --- filter ------------------------------------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OccurredFilter(_Strict):
    since: datetime | None = None
    until: datetime | None = None


class NameFilter(_Strict):
    prefix: list[str] | None = None
    exclude_prefix: list[str] | None = None
    name: list[str] | None = None
    exclude_name: list[str] | None = None


class ResourceFilter(_Strict):
    id: list[str] | None = None
    id_prefix: list[str] | None = None
    labels: dict[str, str | list[str]] | None = None
    distinct: bool = False


class RelatedFilter(_Strict):
    id: list[str] | None = None
    role: list[str] | None = None
    resources_in_roles: list[tuple[str, str]] | None = None
    labels: dict[str, str | list[str]] | None = None


class IdFilter(_Strict):
    id: list[str] | None = None


class TextFilter(_Strict):
    query: str = Field(max_length=200)


class EventFilter(_Strict):
    occurred: OccurredFilter = Field(default_factory=OccurredFilter)
    event: NameFilter | None = None
    any_resource: ResourceFilter | None = None
    resource: ResourceFilter | None = None
    related: RelatedFilter | None = None
    id: IdFilter | None = None
    text: TextFilter | None = None
    order: Literal["ASC", "DESC"] = "DESC"


class FilterRequest(_Strict):
    filter: EventFilter = Field(default_factory=EventFilter)
    limit: int = Field(default=MAX_PAGE, ge=1, le=MAX_PAGE)


def _labels_match(spec: dict[str, str | list[str]]) -> Any:
    return ResourceSpecification(spec)


def build_query(f: EventFilter, now: datetime) -> event_rows.EventQuery:
    from tocsin.store.timeutil import to_us

    start_of_day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    since = f.occurred.since or (start_of_day - timedelta(days=180))
    until = f.occurred.until or now
    q = event_rows.EventQuery(since_us=to_us(_aware(since)), until_us=to_us(_aware(until)),
                              descending=f.order == "DESC")
    checks: list[Any] = []
    if f.event:
        q.names, q.prefixes = f.event.name or [], f.event.prefix or []
        q.exclude_names, q.exclude_prefixes = f.event.exclude_name or [], f.event.exclude_prefix or []
    if f.resource:
        q.resource_ids, q.resource_id_prefixes = f.resource.id or [], f.resource.id_prefix or []
        if f.resource.labels:
            spec = _labels_match(f.resource.labels)
            checks.append(lambda e: spec.matches(e.resource))
    if f.id and f.id.id:
        q.ids = f.id.id
    if f.any_resource:
        ar = f.any_resource
        spec = _labels_match(ar.labels) if ar.labels else None

        def any_resource(e: ReceivedEvent, ar: ResourceFilter = ar, spec: Any = spec) -> bool:
            for r in [e.resource, *e.related]:
                rid = r.get("prefect.resource.id", "")
                if ar.id and rid not in ar.id:
                    continue
                if ar.id_prefix and not any(rid.startswith(p) for p in ar.id_prefix):
                    continue
                if spec is not None and not spec.matches(r):
                    continue
                return True
            return False

        checks.append(any_resource)
    if f.related:
        rel = f.related
        spec = _labels_match(rel.labels) if rel.labels else None

        def related(e: ReceivedEvent, rel: RelatedFilter = rel, spec: Any = spec) -> bool:
            for r in e.related:
                if rel.id and r.get("prefect.resource.id") not in rel.id:
                    continue
                if rel.role and r.get("prefect.resource.role") not in rel.role:
                    continue
                if rel.resources_in_roles and (r.get("prefect.resource.id"), r.get("prefect.resource.role")) \
                        not in {tuple(x) for x in rel.resources_in_roles}:
                    continue
                if spec is not None and not spec.matches(r):
                    continue
                return True
            return False

        checks.append(related)
    if f.text:
        needle = f.text.query.lower()
        checks.append(lambda e: needle in e.model_dump_json().lower())
    if checks:
        q.predicate = lambda e: all(c(e) for c in checks)
    return q


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _page(request: Request, context: AppContext, req: FilterRequest, offset: int, now: datetime) -> JSONResponse:
    with context.store.reader.connect() as conn:
        page, total = event_rows.search(conn, build_query(req.filter, now), offset, req.limit)
    next_page = None
    if offset + len(page) < total:
        token = base64.urlsafe_b64encode(json.dumps({
            "request": req.model_dump(mode="json"), "offset": offset + req.limit, "now": now.isoformat(),
        }).encode()).decode()
        next_page = str(request.url_for("events_filter_next")) + f"?page-token={token}"
    return JSONResponse({"events": [e.model_dump(mode="json") for e in page], "total": total,
                         "next_page": next_page})


@router.post("/events/filter", tags=["events"], summary="Query events (Prefect EventFilter)")
async def events_filter(request: Request, context: AppContext = Depends(admin)) -> Response:
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else {}
        req = FilterRequest.model_validate(data)
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            return rejected(ValidationFailed.from_pydantic(exc))
        return rejected(ValidationFailed([("", f"request body is not valid JSON: {exc}")]))
    now = context.clock.now()
    return await asyncio.to_thread(_page, request, context, req, 0, now)


@router.get("/events/filter/next", name="events_filter_next", tags=["events"], summary="Next page of a query")
async def events_filter_next(request: Request, context: AppContext = Depends(admin)) -> Response:
    token = request.query_params.get("page-token", "")
    try:
        state = json.loads(base64.urlsafe_b64decode(token.encode()))
        req = FilterRequest.model_validate(state["request"])
        offset = int(state["offset"])
        now = datetime.fromisoformat(state["now"])
    except (ValueError, KeyError, TypeError):
        return rejected(ValidationFailed([("page-token", "invalid or expired page token")]), root="query")
    return await asyncio.to_thread(_page, request, context, req, offset, now)
