"""LeanHttpSender.arequest, on an asyncio loop, keeps HttpSender's contract: bodies, basic auth, the delivery id,
retry decisions, keep-alive connections that the server closed, chunked answers, and the httpx fallback for what
it does not send itself."""

from __future__ import annotations

import asyncio
import json

import pytest
from werkzeug import Request, Response

from tocsin.delivery.http import LeanHttpSender
from tocsin.errors import DeliveryError
from tocsin.notifications.base import redactor_for
from tocsin.secrets import Redactor


def run(http: LeanHttpSender, *calls: tuple[tuple, dict]) -> list:
    """Each (args, kwargs) through `http.arequest`, one after the other on one loop (so connections are reused);
    an exception is returned in place of its result."""

    async def main() -> list:
        out = []
        for args, kwargs in calls:
            try:
                out.append(await http.arequest(*args, **kwargs))
            except Exception as exc:  # noqa: BLE001 - the test looks at it
                out.append(exc)
        http.close_idle()
        return out

    return asyncio.run(main())


def call(*args, **kwargs) -> tuple[tuple, dict]:
    return args, kwargs


def test_json_form_and_auth_bodies_carry_the_delivery_id(sink) -> None:
    got: list[Request] = []
    sink.expect_request("/x").respond_with_handler(lambda r: got.append(r) or Response("fine"))
    http = LeanHttpSender(timeout_seconds=2)
    result, *_ = run(
        http,
        call("POST", sink.url_for("/x"), json={"a": 1}, delivery_id="d1", channel="t", redactor=Redactor()),
        call("POST", sink.url_for("/x"), data={"To": "+1"}, auth=("AC1", "tok-0123456789"), delivery_id="d2",
             channel="t", redactor=Redactor()),
        call("PUT", sink.url_for("/x"), params={"q": "1"}, delivery_id="d3", channel="t", redactor=Redactor()),
    )
    assert (result.status_code, result.response_excerpt) == (200, "fine")
    assert json.loads(got[0].get_data()) == {"a": 1} and got[0].headers["X-Tocsin-Delivery-Id"] == "d1"
    assert got[1].form["To"] == "+1" and got[1].authorization.password == "tok-0123456789"
    assert got[2].args["q"] == "1" and got[2].headers["X-Tocsin-Delivery-Id"] == "d3"  # through httpx


def test_a_closed_keep_alive_connection_is_replaced(sink) -> None:
    sink.expect_request("/c").respond_with_handler(lambda r: Response("ok", headers={"Connection": "close"}))
    http = LeanHttpSender(timeout_seconds=2)
    results = run(http, *(call("POST", sink.url_for("/c"), content=b"x", delivery_id=str(i), channel="t",
                                redactor=Redactor()) for i in range(3)))
    assert [r.status_code for r in results] == [200, 200, 200]
    assert len(sink.log) == 3


def test_a_kept_alive_connection_is_reused_and_chunked_answers_are_read() -> None:
    """Against a minimal keep-alive server (werkzeug's closes every connection): three requests, one
    connection, answers chunked in two writes."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    connections: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            connections.append(1)
            with conn:
                data = b""
                while True:
                    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 1:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    if not data:
                        break
                    data = data.split(b"\r\n\r\n", 1)[1][1:]  # each request has a 1-byte body
                    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nchu\r\n")
                    conn.sendall(b"4\r\nnked\r\n0\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/k"
    http = LeanHttpSender(timeout_seconds=2)
    try:
        results = run(http, *(call("POST", url, content=b"x", delivery_id=str(i), channel="t", redactor=Redactor())
                              for i in range(3)))
    finally:
        listener.close()
    assert [(r.status_code, r.response_excerpt) for r in results] == [(200, "chunked")] * 3
    assert len(connections) == 1


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
    # the redactor a notifier builds: the URL and its long segments
    (error,) = run(http, call("POST", url, content=b"x", delivery_id="d", channel="hook",
                              redactor=redactor_for(None, [url])))
    assert isinstance(error, DeliveryError)
    assert (error.permanent, error.status_code, error.retry_after) == (permanent, status, retry_after)
    assert secret not in str(error) and f"HTTP {status}" in str(error)


def test_no_answer_within_the_timeout_is_retryable(sink) -> None:
    import time

    sink.expect_request("/slow").respond_with_handler(lambda r: time.sleep(0.6) or Response("late"))
    http = LeanHttpSender(timeout_seconds=0.2)
    (error,) = run(http, call("POST", sink.url_for("/slow"), content=b"x", delivery_id="d", channel="hook",
                              redactor=Redactor()))
    assert isinstance(error, DeliveryError) and not error.permanent and "timeout" in str(error)


def test_connection_refused_and_header_line_breaks() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once it is closed
    http = LeanHttpSender(timeout_seconds=1)
    refused, injected = run(
        http,
        call("POST", f"http://127.0.0.1:{port}/x", content=b"x", delivery_id="d", channel="hook",
             redactor=Redactor()),
        call("POST", f"http://127.0.0.1:{port}/x", headers={"X-A": "1\r\nX-B: 2"}, content=b"x", delivery_id="d",
             channel="hook", redactor=Redactor()),
    )
    assert isinstance(refused, DeliveryError) and not refused.permanent and "connection failed" in str(refused)
    assert isinstance(injected, DeliveryError) and injected.permanent
