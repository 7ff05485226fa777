"""What every notifier shares: the `Notifier` protocol, its result, and one HTTP helper for all HTTP channels.

A notifier turns (block, subject, body) into one delivery attempt. It either returns a `DeliveryResult` or
raises `tocsin.errors.DeliveryError`; the dispatcher decides about retries from `permanent` and `retry_after`
alone:

    outcome                                   permanent   retry_after
    2xx                                       (success)
    408, 429, 5xx                             False       from Retry-After (seconds or HTTP date), else None
    timeout, connection failure               False       None
    other 3xx/4xx, bad URL, bad configuration True        None

Error messages name the channel and the status, never the URL or a credential: every string that leaves a
notifier passes through a `Redactor` loaded with the block's secret values and the target URL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from tocsin.clock import Clock, SystemClock
from tocsin.errors import DeliveryError, NotFound
from tocsin.schemas.blocks import BlockModel
from tocsin.secrets import Redactor

if TYPE_CHECKING:  # httpx is imported on the first request that needs it: the dispatcher seldom does
    import httpx

SecretResolver = Callable[[str], str]

DELIVERY_ID_HEADER = "X-Tocsin-Delivery-Id"
USER_AGENT = "tocsin/0.1"
DEFAULT_TIMEOUT_SECONDS = (
    10.0  # Prefect's custom-webhook default; chat and paging APIs answer in well under 1 s
)
EXCERPT_CHARS = 1000  # Prefect keeps the first 1000 characters of a response body in action events
RETRYABLE_STATUS = frozenset({408, 425, 429})
SECRET_SEGMENT_CHARS = (
    16  # URL path segments and query values this long in a secret URL are treated as tokens
)


@dataclass(frozen=True)
class DeliveryResult:
    """A successful delivery: the final status code (None for non-HTTP channels) and a redacted excerpt."""

    status_code: int | None
    response_excerpt: str = ""


class Notifier(Protocol):
    def send(self, block: Any, subject: str, body: str, *, delivery_id: str) -> DeliveryResult: ...


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())


_REDACTORS: dict[tuple[Any, ...], tuple[BlockModel | None, Redactor]] = {}
_REDACTORS_MAX = 512


def redactor_for(block: BlockModel | None, resolved: Iterable[str | None] = ()) -> Redactor:
    """A redactor for one delivery: the block's inline secrets plus values resolved by name (URLs, tokens).

    A secret URL is also redacted piecewise (path, query, long path segments): a service that echoes the path
    of an unknown webhook back would otherwise leak the token inside it.

    Building one (compiling its pattern, splitting URLs) costs more than the rest of a webhook delivery, so it
    is kept per block object (the vault keeps loaded blocks a few seconds) and resolved values, and shared:
    do not mutate it; `Redactor.including` gives one that knows more values.
    """
    resolved = tuple(resolved)
    key = (id(block), *resolved)
    cached = _REDACTORS.get(key)
    if cached is not None and cached[0] is block:  # `is`: the cached entry keeps its block alive, so no id reuse
        return cached[1]
    redactor = _build_redactor(block, resolved)
    if len(_REDACTORS) >= _REDACTORS_MAX:
        _REDACTORS.clear()
    _REDACTORS[key] = (block, redactor)
    return redactor


def _build_redactor(block: BlockModel | None, resolved: Iterable[str | None]) -> Redactor:
    values = list(block.secret_values()) if block is not None else []
    values += [v for v in resolved if v]
    for value in list(values):
        if value.startswith(("http://", "https://")):
            values.extend(_url_parts(value))
    return Redactor(values)


def _url_parts(url: str) -> list[str]:
    """The pieces of a secret URL that are secrets on their own (the path with its query, long path segments,
    long query values, the password), raw and percent-decoded, since an error message may quote either."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # unparsable: the whole URL is redacted anyway
        return []
    raw_path = parts.path + ("?" + parts.query if parts.query else "")
    pieces = [raw_path] if len(raw_path) >= 8 else []
    for segment in parts.path.split("/"):
        pieces += [s for s in {segment, unquote(segment)} if len(s) >= SECRET_SEGMENT_CHARS]
    for _, value in parse_qsl(parts.query, keep_blank_values=True):
        if len(value) >= SECRET_SEGMENT_CHARS:
            pieces.append(value)
    if password:
        pieces += list({password, unquote(password)})
    return pieces


def require(value: str | None, what: str) -> str:
    if not value:
        raise DeliveryError(f"{what} is not configured", permanent=True)
    return value


def resolve(block: BlockModel, field: str, resolve_secret: SecretResolver | None) -> str | None:
    """A secret field's value; a missing or unresolvable named secret is a permanent failure (name only)."""
    try:
        return block.secret(field, resolve_secret)
    except Exception as exc:  # the resolver's message could quote the value: report the type only
        name = getattr(block, block.secret_ref_field(field), None)
        permanent = isinstance(exc, (NotFound, LookupError, ValueError))
        raise DeliveryError(
            f"secret {name!r} for {field} could not be resolved ({type(exc).__name__})", permanent=permanent
        ) from None


class HttpSender:
    """One pooled httpx client (two: verifying and not, each made on first use) with timeouts, shared by every HTTP
    notifier.

    Every request carries `X-Tocsin-Delivery-Id` so a receiver can drop duplicates of a retried delivery.
    Thread-safe; create one per process and pass it to `notifier_for`.
    """

    def __init__(
        self,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        max_connections: int = 100,
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.clock = clock or SystemClock()
        self._transport = transport
        self._max_connections = max_connections
        self._clients: dict[bool, httpx.Client] = {}  # by verify, made on first use
        self._lock = threading.Lock()

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    def _client_for(self, verify: bool) -> httpx.Client:
        client = self._clients.get(verify)
        if client is None:
            import httpx

            with self._lock:
                client = self._clients.get(verify)
                if client is None:
                    limits = httpx.Limits(max_connections=self._max_connections,
                                          max_keepalive_connections=self._max_connections)
                    client = httpx.Client(transport=self._transport, verify=verify, follow_redirects=False,
                                          timeout=httpx.Timeout(self.timeout_seconds), limits=limits,
                                          headers={"User-Agent": USER_AGENT})
                    self._clients[verify] = client
        return client

    def request(
        self,
        method: str,
        url: str,
        *,
        delivery_id: str,
        channel: str,
        redactor: Redactor,
        headers: Mapping[str, str] | None = None,
        verify: bool = True,
        timeout_seconds: float | None = None,
        **kwargs: Any,
    ) -> DeliveryResult:
        """Send one request; 2xx -> DeliveryResult, anything else -> DeliveryError (see the module table)."""
        import httpx

        redactor = redactor.including([url])
        all_headers = {**(headers or {}), DELIVERY_ID_HEADER: delivery_id}
        timeout = httpx.Timeout(timeout_seconds) if timeout_seconds else httpx.USE_CLIENT_DEFAULT
        try:
            response = self._client_for(verify).request(
                method, url, headers=all_headers, timeout=timeout, **kwargs
            )
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"{channel}: no answer within the timeout ({type(exc).__name__})") from None
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise DeliveryError(
                f"{channel}: invalid URL ({redactor.redact(str(exc))})", permanent=True
            ) from None
        except httpx.TransportError as exc:
            raise DeliveryError(
                f"{channel}: connection failed ({type(exc).__name__}: {redactor.redact(str(exc))})"
            ) from None
        excerpt = redactor.redact(response.text[:EXCERPT_CHARS])
        return self._outcome(response.status_code, excerpt, response.headers.get("Retry-After"), channel)

    async def arequest(self, method: str, url: str, **kwargs: Any) -> DeliveryResult:
        """What notifier coroutines await: here `request` itself, done before the await returns (so `run_sync`
        can drive them); the dispatcher's `LeanHttpSender` sends on its event loop instead."""
        return self.request(method, url, **kwargs)

    def _outcome(self, status: int, excerpt: str, retry_after_header: str | None, channel: str) -> DeliveryResult:
        """2xx -> DeliveryResult; 429/5xx -> retryable DeliveryError (honouring Retry-After); else permanent."""
        if 200 <= status < 300:
            return DeliveryResult(status, excerpt)
        retryable = status >= 500 or status in RETRYABLE_STATUS
        retry_after = parse_retry_after(retry_after_header, self.clock.now()) if retryable else None
        detail = f": {excerpt[:200]}" if excerpt else ""
        raise DeliveryError(
            f"{channel} answered HTTP {status}{detail}",
            permanent=not retryable,
            status_code=status,
            retry_after=retry_after,
        )


def run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a notifier coroutine whose awaits all complete at once (a blocking `HttpSender`'s `arequest`)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("the notifier awaited something that does not complete at once: use an event loop")


class HttpNotifier:
    """Base of the notifiers that talk HTTP: one shared sender, and how to resolve `*_secret` block fields.

    Each is written once, as the coroutine `asend` awaiting `http.arequest`: the dispatcher awaits it on its
    event loop (with `LeanHttpSender`), and `send` runs it with blocking requests (with `HttpSender`)."""

    channel = "HTTP"

    def __init__(self, *, http: HttpSender, resolve_secret: SecretResolver | None = None) -> None:
        self.http = http
        self.resolve_secret = resolve_secret

    def send(self, block: Any, subject: str, body: str, *, delivery_id: str, **extra: Any) -> DeliveryResult:
        return run_sync(self.asend(block, subject, body, delivery_id=delivery_id, **extra))  # type: ignore[no-any-return]

    async def asend(self, block: Any, subject: str, body: str, *, delivery_id: str,
                    **extra: Any) -> DeliveryResult:
        raise NotImplementedError
