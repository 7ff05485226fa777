"""Prefect API actions (semantics §10): cancel, suspend, resume, delete or change the state of a flow run,
pause or resume a deployment, work queue or work pool, and run a deployment, against the Prefect API named by
a `prefect-api` block.

Prefect's action JSON has no field naming an API, so the engine uses its `prefect-api` block: the only one, or
the one named `default` when there are several. Targets are resolved as Prefect does:
1. `source: "selected"`: the id in the action;
2. `source: "inferred"`: the first resource of that kind (`prefect.deployment.<uuid>`, ...) among the triggering
   event's resource and related resources;
3. flow-run actions: the firing's `prefect.resource.id` label when it names a flow run, else the first flow run
   of the triggering event.
No target, no block, or an answer Prefect gives for a bad request (4xx, or a REJECT/ABORT orchestration result)
is a permanent failure; 408/429/5xx, timeouts and WAIT results are retried by the dispatcher. Every request
carries the delivery id (`X-Tocsin-Delivery-Id`), and run-deployment also uses Prefect's idempotency key, so a
retried attempt creates one flow run.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx

from tocsin.errors import DeliveryError
from tocsin.notifications.base import DELIVERY_ID_HEADER, RETRYABLE_STATUS, USER_AGENT, parse_retry_after
from tocsin.schemas.actions import ActionBase
from tocsin.schemas.blocks import PrefectApi
from tocsin.secrets import Redactor

PREFECT_API_BLOCK_TYPE = "prefect-api"
DEFAULT_BLOCK_NAME = "default"  # picked when several prefect-api blocks exist
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_KIND_PREFIX = {
    "deployment_id": "prefect.deployment.",
    "work_queue_id": "prefect.work-queue.",
    "work_pool_id": "prefect.work-pool.",
    "automation_id": "prefect.automation.",
}

PREFECT_ACTION_TYPES = frozenset(
    {
        "cancel-flow-run",
        "suspend-flow-run",
        "resume-flow-run",
        "delete-flow-run",
        "change-flow-run-state",
        "pause-deployment",
        "resume-deployment",
        "run-deployment",
        "pause-work-queue",
        "resume-work-queue",
        "pause-work-pool",
        "resume-work-pool",
    }
)


class BlockSource(Protocol):
    """What the executor needs from the engine's block store (tocsin.server.vault.Vault has it)."""

    def list_blocks(self, limit: int | None, offset: int) -> list[dict[str, Any]]: ...

    def load_block(self, block_id: str) -> tuple[str, Any]: ...

    def resolve(self, name: str) -> str: ...


def _resources(event: dict[str, Any] | None) -> list[dict[str, str]]:
    if not event:
        return []
    return [event.get("resource") or {}, *(event.get("related") or [])]


def _uuid_suffix(resource_id: str, prefix: str) -> str | None:
    if resource_id.startswith(prefix):
        tail = resource_id[len(prefix) :]
        if _UUID.match(tail):
            return tail
    return None


def target_id(action: ActionBase, item: dict[str, Any]) -> str:
    """The id an action acts on (see the module docstring, cases 1-3)."""
    field = getattr(action, "target_field", None)
    if field is not None:
        if getattr(action, "source", "selected") == "selected":
            return str(getattr(action, field))
        prefix = _KIND_PREFIX[field]
        for resource in _resources(item.get("event")):
            found = _uuid_suffix(resource.get("prefect.resource.id", ""), prefix)
            if found:
                return found
        raise DeliveryError(
            f"{action.type}: no {prefix[:-1]} resource in the triggering event to act on", permanent=True
        )
    labels = (item.get("firing") or {}).get("triggering_labels") or {}
    found = _uuid_suffix(labels.get("prefect.resource.id", ""), "prefect.flow-run.")
    if found:
        return found
    for resource in _resources(item.get("event")):
        found = _uuid_suffix(resource.get("prefect.resource.id", ""), "prefect.flow-run.")
        if found:
            return found
    raise DeliveryError(
        f"{action.type}: no flow run in the triggering event or labels to act on", permanent=True
    )


class PrefectActions:
    """Runs Prefect API actions; one per dispatcher (it holds a pooled HTTP client)."""

    def __init__(self, blocks: BlockSource, *, transport: httpx.BaseTransport | None = None) -> None:
        self.blocks = blocks
        self._client = httpx.Client(
            transport=transport, follow_redirects=False, headers={"User-Agent": USER_AGENT}
        )

    def close(self) -> None:
        self._client.close()

    # -- the block --------------------------------------------------------------------------------------------
    def api_block(self) -> PrefectApi:
        candidates = [b for b in self.blocks.list_blocks(None, 0) if b["type"] == PREFECT_API_BLOCK_TYPE]
        if len(candidates) > 1:
            candidates = [b for b in candidates if b["name"] == DEFAULT_BLOCK_NAME]
            if not candidates:
                raise DeliveryError(
                    f"several {PREFECT_API_BLOCK_TYPE} blocks exist and none is named "
                    f"{DEFAULT_BLOCK_NAME!r}: name the one Prefect actions use "
                    f"{DEFAULT_BLOCK_NAME!r}",
                    permanent=True,
                )
        if not candidates:
            raise DeliveryError(
                f"Prefect actions need a {PREFECT_API_BLOCK_TYPE} block (api_url of the Prefect "
                "API); create one with POST /api/blocks/",
                permanent=True,
            )
        _, block = self.blocks.load_block(candidates[0]["id"])
        assert isinstance(block, PrefectApi)
        return block

    # -- one action -------------------------------------------------------------------------------------------
    def run(
        self,
        action: ActionBase,
        item: dict[str, Any],
        delivery_id: str,
        now: datetime,
        rendered: dict[str, Any] | None = None,
    ) -> int | None:
        """Perform one Prefect action; return the final HTTP status (raise DeliveryError otherwise)."""
        kind = action.type
        block = self.api_block()
        target = target_id(action, item)
        automation_id = (item.get("automation") or {}).get("id")
        if kind in ("cancel-flow-run", "change-flow-run-state", "suspend-flow-run"):
            if kind == "cancel-flow-run":
                state = {
                    "type": "CANCELLING",
                    "name": "Cancelling",
                    "message": f"Cancelled by Automation {automation_id}",
                }
                force = False
            elif kind == "suspend-flow-run":
                state = {
                    "type": "PAUSED",
                    "name": "Suspended",
                    "message": f"Suspended by Automation {automation_id}",
                    "state_details": {
                        "pause_timeout": _iso(now + timedelta(hours=1)),
                        "pause_reschedule": True,
                    },
                }
                force = False
            else:
                state = {
                    "type": action.state.value,  # type: ignore[attr-defined]
                    "name": getattr(action, "name", None) or action.state.value.title(),  # type: ignore[attr-defined]
                    "message": getattr(action, "message", None)
                    or f"State changed by Automation {automation_id}",
                }
                force = bool(getattr(action, "force", False))
            return self._set_state(block, target, state, force, delivery_id)
        if kind == "resume-flow-run":
            return self._call(block, "POST", f"/flow_runs/{target}/resume", delivery_id, json={})[0]
        if kind == "delete-flow-run":
            return self._call(block, "DELETE", f"/flow_runs/{target}", delivery_id, missing_ok=True)[0]
        if kind in ("pause-deployment", "resume-deployment"):
            verb = kind.split("-")[0]
            return self._call(block, "POST", f"/deployments/{target}/{verb}_deployment", delivery_id)[0]
        if kind == "run-deployment":
            parameters = (rendered or {}).get("parameters")
            scheduled = now + getattr(action, "schedule_after", timedelta(0))
            body: dict[str, Any] = {
                "state": {
                    "type": "SCHEDULED",
                    "name": "Scheduled",
                    "state_details": {"scheduled_time": _iso(scheduled)},
                },
                "idempotency_key": f"automation {automation_id}, invocation {delivery_id}",
                "tags": [],
            }
            if parameters:
                body["parameters"] = parameters
            if getattr(action, "job_variables", None):
                body["job_variables"] = action.job_variables  # type: ignore[attr-defined]
            return self._call(
                block, "POST", f"/deployments/{target}/create_flow_run", delivery_id, json=body
            )[0]
        if kind in ("pause-work-queue", "resume-work-queue"):
            return self._call(
                block,
                "PATCH",
                f"/work_queues/{target}",
                delivery_id,
                json={"is_paused": kind.startswith("pause")},
            )[0]
        if kind in ("pause-work-pool", "resume-work-pool"):
            _, found = self._call(
                block,
                "POST",
                "/work_pools/filter",
                delivery_id,
                json={"work_pools": {"id": {"any_": [target]}}},
            )
            if not isinstance(found, list) or not found:
                raise DeliveryError(f"{kind}: work pool {target} not found", permanent=True)
            return self._call(
                block,
                "PATCH",
                f"/work_pools/{found[0]['name']}",
                delivery_id,
                json={"is_paused": kind.startswith("pause")},
            )[0]
        raise DeliveryError(f"action type {kind!r} is not a Prefect API action", permanent=True)

    def _set_state(
        self, block: PrefectApi, flow_run_id: str, state: dict[str, Any], force: bool, delivery_id: str
    ) -> int:
        status, result = self._call(
            block,
            "POST",
            f"/flow_runs/{flow_run_id}/set_state",
            delivery_id,
            json={"state": state, "force": force},
        )
        outcome = (result or {}).get("status") if isinstance(result, dict) else None
        reason = ((result or {}).get("details") or {}).get("reason") if isinstance(result, dict) else None
        if outcome in ("REJECT", "ABORT"):
            raise DeliveryError(
                f"prefect-api rejected the state change ({outcome}): {reason or 'no reason given'}",
                permanent=True,
                status_code=status,
            )
        if outcome == "WAIT":
            delay = ((result or {}).get("details") or {}).get("delay_seconds")
            raise DeliveryError(
                "prefect-api asked to wait before changing the state",
                status_code=status,
                retry_after=float(delay) if isinstance(delay, (int, float)) else None,
            )
        return status

    def _call(
        self,
        block: PrefectApi,
        method: str,
        path: str,
        delivery_id: str,
        *,
        json: Any = None,
        missing_ok: bool = False,
    ) -> tuple[int, Any]:
        headers = {DELIVERY_ID_HEADER: delivery_id, "Accept": "application/json"}
        redactor = Redactor()
        api_key = block.secret("api_key", self.blocks.resolve)
        auth = block.secret("auth_string", self.blocks.resolve)
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
            redactor.add(api_key)
        elif auth:
            headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
            redactor.update([auth, headers["Authorization"]])
        url = block.api_url.rstrip("/") + path
        try:
            response = self._client.request(
                method, url, headers=headers, json=json, timeout=block.timeout_seconds
            )
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"prefect-api: no answer within the timeout ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise DeliveryError(
                f"prefect-api: connection failed ({type(exc).__name__}: {redactor.redact(str(exc))})"
            ) from None
        status = response.status_code
        if 200 <= status < 300 or (missing_ok and status == 404):
            try:
                return status, response.json() if response.content else None
            except ValueError:
                return status, None
        excerpt = redactor.redact(response.text[:200])
        retryable = status >= 500 or status in RETRYABLE_STATUS
        retry_after = parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
        what = {404: "not found", 409: "conflict", 422: "validation error"}.get(status, "unexpected status")
        raise DeliveryError(
            f"prefect-api {method} {path}: {what} (HTTP {status}): {excerpt}",
            permanent=not retryable,
            status_code=status,
            retry_after=retry_after if retryable else None,
        )


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


__all__ = ["PREFECT_ACTION_TYPES", "PrefectActions", "target_id"]
