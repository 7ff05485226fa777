"""TocsinClient: the small synchronous REST client the IaC side (provider, CLI) uses to reach the engine.

One method per route of the engine API under /api (automations, blocks, secrets, template validation, health).
Errors map onto the tree in tocsin.errors: 404 -> NotFound, 422 -> ValidationFailed with (field path, reason)
pairs (FastAPI's {"detail": [{"loc", "msg"}]} and Tocsin's {"errors": [{"path", "reason"}]} are both understood),
anything else that is not 2xx -> TocsinError with the method, path, status and the start of the body.
"""

from __future__ import annotations

import threading
from typing import Any

import requests

from tocsin.errors import NotFound, TocsinError, ValidationFailed

DEFAULT_TIMEOUT_SECONDS = 30.0
FILTER_PAGE_SIZE = 200  # rows per POST .../filter page when looking a name up

JSON = dict[str, Any]


class TocsinClient:
    """`TocsinClient("http://127.0.0.1:4200", token)`; every call is one HTTP request (thread-safe)."""

    def __init__(self, url: str, token: str | None = None, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
                 session: requests.Session | None = None) -> None:
        base = url.rstrip("/")
        if base.endswith("/api"):
            base = base[: -len("/api")]
        self.url = base
        self.token = token
        self.timeout_seconds = timeout_seconds
        self._shared_session = session
        self._local = threading.local()

    # -- plumbing ------------------------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        if self._shared_session is not None:
            return self._shared_session
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request to `/api{path}`; return the decoded JSON body (None for an empty body)."""
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        url = f"{self.url}/api{path}"
        try:
            resp = self._session().request(method, url, json=body, headers=headers, timeout=self.timeout_seconds)
        except requests.RequestException as exc:
            raise TocsinError(f"cannot reach the Tocsin engine at {self.url}: {exc}") from exc
        if resp.status_code == 404:
            raise NotFound(f"{method} /api{path}: not found")
        if resp.status_code == 422:
            raise ValidationFailed(_problems(_json_or_text(resp)))
        if not 200 <= resp.status_code < 300:
            raise TocsinError(f"{method} /api{path}: HTTP {resp.status_code}: {resp.text[:500]}")
        if not resp.content:
            return None
        return _json_or_text(resp)

    def _filter_all(self, path: str) -> list[JSON]:
        rows: list[JSON] = []
        offset = 0
        while True:
            page = self.request("POST", path, {"limit": FILTER_PAGE_SIZE, "offset": offset})
            items = page.get("items", page.get("results", [])) if isinstance(page, dict) else (page or [])
            rows += items
            if len(items) < FILTER_PAGE_SIZE:
                return rows
            offset += len(items)

    def _find_by_name(self, path: str, kind: str, name: str) -> JSON:
        matches = [row for row in self._filter_all(path) if row.get("name") == name]
        if not matches:
            raise NotFound(f"no {kind} named {name!r}")
        if len(matches) > 1:
            ids = ", ".join(str(m.get("id")) for m in matches)
            raise TocsinError(f"{len(matches)} {kind}s are named {name!r} ({ids}); use the id instead")
        return matches[0]

    # -- health and templates ------------------------------------------------------------------------------

    def health(self) -> Any:
        return self.request("GET", "/health")

    def validate_template(self, template: Any) -> Any:
        """POST /api/templates/validate; raises ValidationFailed when the engine rejects the template."""
        body = template if isinstance(template, dict) else {"template": template}
        return self.request("POST", "/templates/validate", body)

    # -- automations ---------------------------------------------------------------------------------------

    def create_automation(self, body: JSON) -> JSON:
        return self.request("POST", "/automations/", body)  # type: ignore[no-any-return]

    def get_automation(self, automation_id: str) -> JSON:
        return self.request("GET", f"/automations/{automation_id}")  # type: ignore[no-any-return]

    def update_automation(self, automation_id: str, body: JSON) -> JSON:
        out = self.request("PUT", f"/automations/{automation_id}", body)
        return out if isinstance(out, dict) else self.get_automation(automation_id)

    def set_automation_enabled(self, automation_id: str, enabled: bool) -> None:
        self.request("PATCH", f"/automations/{automation_id}", {"enabled": enabled})

    def delete_automation(self, automation_id: str) -> None:
        self.request("DELETE", f"/automations/{automation_id}")

    def filter_automations(self) -> list[JSON]:
        return self._filter_all("/automations/filter")

    def find_automation(self, name: str) -> JSON:
        return self._find_by_name("/automations/filter", "automation", name)

    # -- blocks --------------------------------------------------------------------------------------------

    def create_block(self, body: JSON) -> JSON:
        return self.request("POST", "/blocks/", body)  # type: ignore[no-any-return]

    def get_block(self, block_id: str) -> JSON:
        return self.request("GET", f"/blocks/{block_id}")  # type: ignore[no-any-return]

    def update_block(self, block_id: str, body: JSON) -> JSON:
        out = self.request("PUT", f"/blocks/{block_id}", body)
        return out if isinstance(out, dict) else self.get_block(block_id)

    def delete_block(self, block_id: str) -> None:
        self.request("DELETE", f"/blocks/{block_id}")

    def filter_blocks(self) -> list[JSON]:
        return self._filter_all("/blocks/filter")

    def find_block(self, name: str) -> JSON:
        return self._find_by_name("/blocks/filter", "block", name)

    # -- secrets -------------------------------------------------------------------------------------------

    def create_secret(self, name: str, value: str) -> JSON:
        return self.request("POST", "/secrets/", {"name": name, "value": value})  # type: ignore[no-any-return]

    def get_secret(self, secret_id: str) -> JSON:
        return self.request("GET", f"/secrets/{secret_id}")  # type: ignore[no-any-return]

    def update_secret(self, secret_id: str, value: str) -> JSON:
        out = self.request("PUT", f"/secrets/{secret_id}", {"value": value})
        return out if isinstance(out, dict) else self.get_secret(secret_id)

    def delete_secret(self, secret_id: str) -> None:
        self.request("DELETE", f"/secrets/{secret_id}")

    def filter_secrets(self) -> list[JSON]:
        return self._filter_all("/secrets/filter")

    def find_secret(self, name: str) -> JSON:
        return self._find_by_name("/secrets/filter", "secret", name)


def _json_or_text(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return resp.text


def _problems(body: Any) -> list[tuple[str, str]]:
    """(path, reason) pairs from a 422 body, FastAPI-style or Tocsin-style."""
    if isinstance(body, dict):
        if isinstance(body.get("errors"), list):
            return [(str(e.get("path") or ""), str(e.get("reason") or e.get("msg") or e))
                    for e in body["errors"] if isinstance(e, dict)] or [("", str(body))]
        detail = body.get("detail")
        if isinstance(detail, list):
            out = []
            for e in detail:
                if not isinstance(e, dict):
                    out.append(("", str(e)))
                    continue
                loc = [str(p) for p in e.get("loc", [])]
                if loc and loc[0] in ("body", "query", "path"):
                    loc = loc[1:]
                out.append((".".join(loc), str(e.get("msg", e))))
            return out or [("", str(body))]
        if isinstance(detail, str):
            return [("", detail)]
    return [("", str(body)[:500])]
