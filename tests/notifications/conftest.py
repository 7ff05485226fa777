"""Loopback sinks for the HTTP channels, and the fault drill every HTTP channel must pass."""

import threading
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Response

from tocsin.errors import DeliveryError
from tocsin.notifications import HttpSender

TIMEOUT_SECONDS = 0.3


@pytest.fixture(scope="session")
def sink_server():
    # threaded, so a handler that hangs past the client's timeout does not hold up the next test
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def sink(sink_server):
    sink_server.clear()
    yield sink_server
    sink_server.clear()


@pytest.fixture
def http():
    sender = HttpSender(timeout_seconds=TIMEOUT_SECONDS)
    yield sender
    sender.close()


_HANG_DONE = threading.Event()


def _hang(_request):
    time.sleep(TIMEOUT_SECONDS * 2)
    _HANG_DONE.set()  # the server logs the request only now: the drill waits for it before clearing
    return Response("too late")


@pytest.fixture
def fault_drill(sink):
    """Run `send()` against 500, 429 + Retry-After, 400 and a hang at `path`; check the retry decision of each.

    `secret` must not appear in any error message, even when the service echoes it back.
    """

    def drill(path, send, secret=None):
        echo = f"error for {secret}" if secret else "error"
        cases = [
            (lambda h: h.respond_with_data(echo, status=500), False, 500, None),
            (lambda h: h.respond_with_data(echo, status=429, headers={"Retry-After": "7"}), False, 429, 7.0),
            (
                lambda h: h.respond_with_data(
                    echo, status=503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
                ),
                False,
                503,
                0.0,
            ),
            (lambda h: h.respond_with_data(echo, status=400), True, 400, None),
            (lambda h: h.respond_with_handler(_hang), False, None, None),
        ]
        _HANG_DONE.clear()
        for respond, permanent, status, retry_after in cases:
            sink.clear()
            respond(sink.expect_request(path))
            with pytest.raises(DeliveryError) as info:
                send()
            error = info.value
            assert (error.permanent, error.status_code, error.retry_after) == (
                permanent,
                status,
                retry_after,
            ), error
            if secret:
                assert secret not in str(error)
        # the hung request finishes after the client gave up; let it land before clearing, or it is logged
        # in the next test's sink
        assert _HANG_DONE.wait(5)
        deadline = time.monotonic() + 5
        while not sink.log and time.monotonic() < deadline:  # logged just after the handler returns
            time.sleep(0.01)
        sink.clear()

    return drill
