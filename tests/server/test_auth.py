"""Bearer tokens: 401 without a valid token on every route but /api/health, 403 with the wrong scope."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import httpx

from tests.conftest import start_thread_server
from tests.server.helpers import event

ROUTES = [
    ("POST", "/api/events"),
    ("POST", "/api/events/filter"),
    ("GET", "/api/events/filter/next"),
    ("POST", "/api/automations/"),
    ("POST", "/api/automations/filter"),
    ("POST", "/api/automations/count"),
    ("GET", "/api/automations/00000000-0000-0000-0000-000000000000"),
    ("PUT", "/api/automations/00000000-0000-0000-0000-000000000000"),
    ("PATCH", "/api/automations/00000000-0000-0000-0000-000000000000"),
    ("DELETE", "/api/automations/00000000-0000-0000-0000-000000000000"),
    ("GET", "/api/automations/00000000-0000-0000-0000-000000000000/state"),
    ("POST", "/api/templates/validate"),
    ("GET", "/metrics"),
    ("POST", "/api/blocks/"),
    ("POST", "/api/blocks/filter"),
    ("GET", "/api/blocks/00000000-0000-0000-0000-000000000000"),
    ("POST", "/api/secrets/"),
    ("POST", "/api/secrets/filter"),
    ("PUT", "/api/secrets/00000000-0000-0000-0000-000000000000"),
    ("GET", "/api/deliveries"),
    ("POST", "/api/deliveries/x/retry"),
    ("GET", "/api/openapi.json"),
]


def _ingest_token(live) -> str:
    from tocsin.clock import SystemClock
    from tocsin.store import tokens

    with live.app.state.ctx.store.engine.begin() as conn:
        return tokens.create(conn, "ingest", SystemClock().now())


def test_every_route_but_health_needs_a_token(live) -> None:
    with httpx.Client(base_url=live.base_url) as c:
        assert c.get("/api/health").status_code == 200
        for method, path in ROUTES:
            assert c.request(method, path, json=[]).status_code == 401, (method, path)
            bad = c.request(method, path, json=[], headers={"Authorization": "Bearer nope"})
            assert bad.status_code == 401, (method, path)


def test_ingest_token_may_send_events_but_nothing_else(live) -> None:
    token = _ingest_token(live)
    with httpx.Client(base_url=live.base_url, headers=live.headers(token)) as c:
        assert c.post("/api/events", json=[event()]).status_code == 204
        for method, path in ROUTES:
            if path in ("/api/events", "/api/openapi.json"):
                continue
            assert c.request(method, path, json={}).status_code == 403, (method, path)


def test_admin_token_is_generated_into_home_with_mode_600(tmp_path) -> None:
    from tocsin.server.auth import ensure_admin_token

    token = ensure_admin_token(tmp_path, None)
    path = tmp_path / "token"
    assert path.read_text().strip() == token
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert ensure_admin_token(tmp_path, None) == token  # read back, not regenerated


def test_token_create_command_mints_a_working_ingest_token(tmp_path) -> None:
    home = tmp_path / "home"
    out = subprocess.run(
        [sys.executable, "-c", "from tocsin.cli import main; raise SystemExit(main())", "token", "create",
         "--scope", "ingest"],
        env={**os.environ, "TOCSIN_HOME": str(home)}, capture_output=True, text=True, check=True)
    token = out.stdout.strip()
    server = start_thread_server(home)
    try:
        with httpx.Client(base_url=server.base_url, headers=server.headers(token)) as c:
            assert c.post("/api/events", json=[event()]).status_code == 204
            assert c.post("/api/automations/filter", json={}).status_code == 403
    finally:
        server.stop()


def test_openapi_document_is_served_to_any_valid_token(live) -> None:
    doc = httpx.get(live.base_url + "/api/openapi.json", headers=live.headers(_ingest_token(live))).json()
    assert "/api/events" in doc["paths"] and "/api/automations/{automation_id}/state" in doc["paths"]
