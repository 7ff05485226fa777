"""Prefect API actions against a loopback stand-in for the Prefect API (pytest-httpserver), named by a
`prefect-api` block: the request each action makes, target inference from the event, and refusals."""

from __future__ import annotations

import json
import uuid

from werkzeug import Request, Response

from tests.delivery.conftest import event, make_automation, make_block, outcomes, wait_for

FLOW_RUN = str(uuid.uuid4())
DEPLOYMENT = str(uuid.uuid4())


def _prefect(sink, path: str, method: str = "POST", answer: dict | None = None, status: int = 200) -> list:
    got: list[Request] = []

    def handler(request: Request) -> Response:
        got.append(request)
        return Response(json.dumps(answer or {}), status, content_type="application/json")

    sink.expect_request(f"/api{path}", method=method).respond_with_handler(handler)
    return got


def _flow_run_event(name: str) -> dict:
    return event(
        name,
        f"prefect.flow-run.{FLOW_RUN}",
        related=[
            {"prefect.resource.id": f"prefect.deployment.{DEPLOYMENT}", "prefect.resource.role": "deployment"}
        ],
    )


def test_cancel_flow_run_sets_cancelling_on_the_triggering_flow_run(engine, sink) -> None:
    got = _prefect(sink, f"/flow_runs/{FLOW_RUN}/set_state", answer={"status": "ACCEPT"}, status=201)
    with engine.client() as c:
        make_block(c, "prefect-api", {"api_url": sink.url_for("/api"), "api_key": "pnu_key0123456789"})
        auto = make_automation(c, "test.cancel", [{"type": "cancel-flow-run"}])
        c.post("/events", json=[_flow_run_event("test.cancel")])
        wait_for(lambda: outcomes(c, "tocsin.automation.action.executed"))
    body = json.loads(got[0].get_data())
    assert body["state"]["type"] == "CANCELLING" and body["force"] is False
    assert body["state"]["message"] == f"Cancelled by Automation {auto}"
    assert got[0].headers["Authorization"] == "Bearer pnu_key0123456789"
    assert got[0].headers["X-Tocsin-Delivery-Id"]


def test_change_flow_run_state_rejected_by_prefect_is_a_permanent_failure(engine, sink) -> None:
    got = _prefect(
        sink,
        f"/flow_runs/{FLOW_RUN}/set_state",
        answer={"status": "REJECT", "details": {"reason": "already terminal"}},
        status=201,
    )
    with engine.client() as c:
        make_block(c, "prefect-api", {"api_url": sink.url_for("/api")})
        make_automation(
            c, "test.state", [{"type": "change-flow-run-state", "state": "FAILED", "message": "stuck"}]
        )
        c.post("/events", json=[_flow_run_event("test.state")])
        failed = wait_for(lambda: outcomes(c, "tocsin.automation.action.failed"))
    assert len(got) == 1
    assert json.loads(got[0].get_data())["state"] == {"type": "FAILED", "name": "Failed", "message": "stuck"}
    assert "already terminal" in failed[0]["payload"]["reason"]


def test_pause_inferred_deployment_and_run_selected_deployment_with_templated_parameters(
    engine, sink
) -> None:
    paused = _prefect(sink, f"/deployments/{DEPLOYMENT}/pause_deployment")
    other = str(uuid.uuid4())
    runs = _prefect(
        sink, f"/deployments/{other}/create_flow_run", answer={"id": str(uuid.uuid4())}, status=201
    )
    with engine.client() as c:
        make_block(c, "prefect-api", {"api_url": sink.url_for("/api")})
        make_automation(
            c,
            "test.deploy",
            [
                {"type": "pause-deployment", "source": "inferred"},
                {
                    "type": "run-deployment",
                    "source": "selected",
                    "deployment_id": other,
                    "parameters": {"failed_run": "{{ event.resource.id }}", "n": 3},
                },
            ],
        )
        c.post("/events", json=[_flow_run_event("test.deploy")])
        wait_for(lambda: len(outcomes(c, "tocsin.automation.action.executed")) == 2)
    assert len(paused) == 1
    body = json.loads(runs[0].get_data())
    assert body["parameters"] == {"failed_run": f"prefect.flow-run.{FLOW_RUN}", "n": 3}
    assert body["state"]["type"] == "SCHEDULED"
    assert runs[0].headers["X-Tocsin-Delivery-Id"] in body["idempotency_key"]


def test_no_prefect_api_block_or_no_target_fails_with_a_reason(engine, sink) -> None:
    with engine.client() as c:
        make_automation(c, "test.noblock", [{"type": "resume-deployment", "source": "inferred"}])
        c.post("/events", json=[event("test.noblock")])
        failed = wait_for(lambda: outcomes(c, "tocsin.automation.action.failed"))
        assert "prefect-api block" in failed[0]["payload"]["reason"]
        make_block(c, "prefect-api", {"api_url": sink.url_for("/api")})
        c.post("/events", json=[event("test.noblock")])
        failed = wait_for(
            lambda: (
                len(outcomes(c, "tocsin.automation.action.failed")) == 2
                and outcomes(c, "tocsin.automation.action.failed")
            )
        )
        assert any("no prefect.deployment resource" in f["payload"]["reason"] for f in failed)
