"""STOPGAP: an in-memory stand-in for the engine's REST API, used only while `tocsin.server.create_app` does not
exist. It implements the routes the provider uses (docs/CONTRACT.md) with the shapes the contract promises:
defaults and fresh trigger ids filled in by the engine's own trigger parser, secret block fields masked as
{"secret": true}, secret values never returned. Delete it once the real server lands (conftest picks the real one).
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import ValidationError

from tocsin.errors import ValidationFailed
from tocsin.schemas.triggers import parse_trigger, trigger_to_json

SECRET_FIELDS = {"url", "webhook_url", "token", "password", "api_key", "routing_key", "integration_key"}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class FakeEngine:
    def __init__(self, token: str = "test-token") -> None:
        self.token = token
        self.automations: dict[str, dict[str, Any]] = {}
        self.blocks: dict[str, dict[str, Any]] = {}
        self.secrets: dict[str, dict[str, Any]] = {}
        self.secret_values: dict[str, str] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> str:
        engine = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                if self.path != "/api/health" and self.headers.get("Authorization") != f"Bearer {engine.token}":
                    return self._send(401, {"detail": "bad token"})
                with engine.lock:
                    engine.requests.append((self.command, self.path, body))
                    try:
                        status, out = engine.route(self.command, self.path, body)
                    except ValidationFailed as exc:
                        status, out = 422, {"detail": [{"loc": ["body", *p.split(".")], "msg": r}
                                                       for p, r in exc.problems]}
                self._send(status, out)

            def _send(self, status: int, out: Any) -> None:
                data = b"" if out is None else json.dumps(out).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    # -- routes ----------------------------------------------------------------------------------------------

    def route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = path.strip("/").split("/")[1:]  # drop "api"
        if parts == ["health"]:
            return 200, {"status": "ok"}
        kind = parts[0]
        store = {"automations": self.automations, "blocks": self.blocks, "secrets": self.secrets}.get(kind)
        if store is None:
            return 404, {"detail": "no route"}
        if len(parts) == 1 or parts[1] == "":
            return 201, self._create(kind, store, body)
        if parts[1] == "filter":
            return 200, [self._out(kind, v) for v in store.values()]
        item = store.get(parts[1])
        if item is None:
            return 404, {"detail": "not found"}
        if method == "GET":
            return 200, self._out(kind, item)
        if method == "DELETE":
            del store[parts[1]]
            return 204, None
        if method == "PATCH":
            item.update(enabled=bool(body["enabled"]), updated=_now())
            return 204, None
        return 200, self._update(kind, item, body)

    def _create(self, kind: str, store: dict[str, Any], body: Any) -> Any:
        item = {"id": str(uuid.uuid4()), "created": _now(), "updated": _now()}
        if kind == "secrets":
            item.update(name=body["name"], version=1)
            self.secret_values[item["id"]] = body["value"]
        else:
            item.update(self._clean(kind, body))
        store[item["id"]] = item
        return self._out(kind, item)

    def _update(self, kind: str, item: dict[str, Any], body: Any) -> Any:
        if kind == "secrets":
            self.secret_values[item["id"]] = body["value"]
            item["version"] += 1
        else:
            item.update(self._clean(kind, body))
        item["updated"] = _now()
        return self._out(kind, item)

    def _clean(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        if kind == "blocks":
            return {"name": body["name"], "type": body["type"], "data": dict(body.get("data") or {})}
        try:
            trigger = trigger_to_json(parse_trigger(body["trigger"]))
        except ValidationError as exc:
            raise ValidationFailed.from_pydantic(exc, prefix="trigger") from exc
        return {
            "name": body["name"], "description": body.get("description", ""), "enabled": body.get("enabled", True),
            "tags": body.get("tags", []), "trigger": trigger,
            **{k: body.get(k, []) for k in ("actions", "actions_on_trigger", "actions_on_resolve")},
        }

    def _out(self, kind: str, item: dict[str, Any]) -> dict[str, Any]:
        out = json.loads(json.dumps(item))
        if kind == "blocks":
            out["data"] = {k: ({"secret": True} if k in SECRET_FIELDS else v) for k, v in out["data"].items()}
        return out
