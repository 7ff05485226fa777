"""LeanHttpSender keeps HttpSender's contract: bodies, basic auth, the delivery id, retry decisions, keep-alive
connections that the server closed, and the httpx fallback for what it does not send itself."""

from __future__ import annotations

import json

import pytest
from werkzeug import Request, Response

from tocsin.delivery.http import LeanHttpSender
from tocsin.errors import DeliveryError
from tocsin.notifications.base import redactor_for
from tocsin.secrets import Redactor


def test_json_form_and_auth_bodies_carry_the_delivery_id(sink) -> None:
    got: list[Request] = []
    sink.expect_request("/x").respond_with_handler(lambda r: got.append(r) or Response("fine"))
    http = LeanHttpSender(timeout_seconds=2)
    result = http.request(
        "POST", sink.url_for("/x"), json={"a": 1}, delivery_id="d1", channel="t", redactor=Redactor()
    )
    http.request(
        "POST",
        sink.url_for("/x"),
        data={"To": "+1"},
        auth=("AC1", "tok-0123456789"),
        delivery_id="d2",
        channel="t",
        redactor=Redactor(),
    )
    http.request(
        "PUT", sink.url_for("/x"), params={"q": "1"}, delivery_id="d3", channel="t", redactor=Redactor()
    )
    assert (result.status_code, result.response_excerpt) == (200, "fine")
    assert json.loads(got[0].get_data()) == {"a": 1} and got[0].headers["X-Tocsin-Delivery-Id"] == "d1"
    assert got[1].form["To"] == "+1" and got[1].authorization.password == "tok-0123456789"
    assert got[2].args["q"] == "1" and got[2].headers["X-Tocsin-Delivery-Id"] == "d3"  # through httpx


def test_a_closed_keep_alive_connection_is_replaced(sink) -> None:
    sink.expect_request("/c").respond_with_handler(lambda r: Response("ok", headers={"Connection": "close"}))
    http = LeanHttpSender(timeout_seconds=2)
    for i in range(3):
        assert (
            http.request(
                "POST", sink.url_for("/c"), content=b"x", delivery_id=str(i), channel="t", redactor=Redactor()
            ).status_code
            == 200
        )


@pytest.mark.parametrize(
    ("status", "headers", "permanent", "retry_after"),
    [
        (503, {}, False, None),
        (429, {"Retry-After": "3"}, False, 3.0),
        (400, {}, True, None),
        (302, {}, True, None),
    ],
)
def test_statuses_map_to_the_same_retry_decisions(sink, status, headers, permanent, retry_after) -> None:
    secret = "https-token-0123456789"
    sink.expect_request(f"/s/{secret}").respond_with_data(f"echo {secret}", status=status, headers=headers)
    http = LeanHttpSender(timeout_seconds=2)
    url = sink.url_for(f"/s/{secret}")
    with pytest.raises(
        DeliveryError
    ) as info:  # the redactor a notifier builds: the URL and its long segments
        http.request(
            "POST", url, content=b"x", delivery_id="d", channel="hook", redactor=redactor_for(None, [url])
        )
    error = info.value
    assert (error.permanent, error.status_code, error.retry_after) == (permanent, status, retry_after)
    assert secret not in str(error) and f"HTTP {status}" in str(error)


def test_no_answer_within_the_timeout_is_retryable(sink) -> None:
    import time

    sink.expect_request("/slow").respond_with_handler(lambda r: time.sleep(0.6) or Response("late"))
    http = LeanHttpSender(timeout_seconds=0.2)
    with pytest.raises(DeliveryError) as info:
        http.request(
            "POST", sink.url_for("/slow"), content=b"x", delivery_id="d", channel="hook", redactor=Redactor()
        )
    assert not info.value.permanent and "timeout" in str(info.value)
