"""TocsinClient against a loopback HTTP server: bearer auth, routes, and the error mapping."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from tocsin.client import TocsinClient
from tocsin.errors import NotFound, TocsinError, ValidationFailed


@pytest.fixture
def client(httpserver: HTTPServer) -> TocsinClient:
    return TocsinClient(httpserver.url_for("/"), "tok")


def test_create_sends_the_bearer_token_and_returns_the_stored_automation(httpserver: HTTPServer,
                                                                        client: TocsinClient) -> None:
    httpserver.expect_request("/api/automations/", method="POST", headers={"Authorization": "Bearer tok"},
                              json={"name": "a"}).respond_with_json({"id": "1", "name": "a"}, status=201)
    assert client.create_automation({"name": "a"}) == {"id": "1", "name": "a"}


def test_404_raises_not_found(httpserver: HTTPServer, client: TocsinClient) -> None:
    httpserver.expect_request("/api/blocks/x").respond_with_json({"detail": "Not Found"}, status=404)
    with pytest.raises(NotFound):
        client.get_block("x")


def test_fastapi_422_becomes_field_paths(httpserver: HTTPServer, client: TocsinClient) -> None:
    httpserver.expect_request("/api/automations/1", method="PUT").respond_with_json(
        {"detail": [{"loc": ["body", "trigger", "within"], "msg": "too short", "type": "value_error"}]}, status=422)
    with pytest.raises(ValidationFailed) as err:
        client.update_automation("1", {})
    assert err.value.problems == [("trigger.within", "too short")]


def test_tocsin_style_422_becomes_field_paths(httpserver: HTTPServer, client: TocsinClient) -> None:
    httpserver.expect_request("/api/templates/validate", method="POST").respond_with_json(
        {"errors": [{"path": "template", "reason": "unexpected '}'"}]}, status=422)
    with pytest.raises(ValidationFailed) as err:
        client.validate_template("{{ x }")
    assert err.value.problems == [("template", "unexpected '}'")]


def test_patch_enabled_and_empty_bodies(httpserver: HTTPServer, client: TocsinClient) -> None:
    httpserver.expect_request("/api/automations/1", method="PATCH", json={"enabled": False}).respond_with_data(
        "", status=204)
    httpserver.expect_request("/api/secrets/2", method="DELETE").respond_with_data("", status=204)
    client.set_automation_enabled("1", False)
    client.delete_secret("2")


def test_find_by_name_pages_through_filter(httpserver: HTTPServer, client: TocsinClient) -> None:
    httpserver.expect_request("/api/secrets/filter", method="POST").respond_with_json(
        [{"id": "1", "name": "a"}, {"id": "2", "name": "b"}])
    assert client.find_secret("b")["id"] == "2"
    with pytest.raises(NotFound):
        client.find_secret("zzz")


def test_other_failures_and_unreachable_engines_are_tocsin_errors(httpserver: HTTPServer,
                                                                 client: TocsinClient) -> None:
    httpserver.expect_request("/api/health").respond_with_data("boom", status=500)
    with pytest.raises(TocsinError, match="HTTP 500: boom"):
        client.health()
    with pytest.raises(TocsinError, match="cannot reach"):
        TocsinClient("http://127.0.0.1:9", timeout_seconds=2).health()


def test_a_url_ending_in_api_is_accepted() -> None:
    assert TocsinClient("http://h:1/api/").url == "http://h:1"
