"""Apprise: optional; without the package a clear permanent error, with it title/body/notify_type passed on."""

import sys
import types

import pytest

from tocsin.errors import DeliveryError
from tocsin.notifications.apprise import AppriseNotifier
from tocsin.schemas.blocks import validate_block


def test_missing_package_is_a_clear_permanent_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "apprise", None)
    block = validate_block("apprise", {"url": "mailto://user:pw@example.com"})
    with pytest.raises(DeliveryError, match=r"pip install 'tocsin\[apprise\]'") as info:
        AppriseNotifier().send(block, "s", "b", delivery_id="d")
    assert info.value.permanent


def fake_apprise(monkeypatch, ok=True):
    calls = []

    class Apprise:
        def add(self, url):
            calls.append(("add", url))
            return url.startswith("json://")

        def notify(self, **kwargs):
            calls.append(("notify", kwargs))
            return ok

    monkeypatch.setitem(sys.modules, "apprise", types.SimpleNamespace(Apprise=Apprise))
    return calls


def test_sends_through_apprise_with_a_named_secret(monkeypatch):
    calls = fake_apprise(monkeypatch)
    block = validate_block("apprise", {"url_secret": "ap", "notify_type": "failure"})
    AppriseNotifier(resolve_secret={"ap": "json://localhost/x"}.__getitem__).send(
        block, "S", "B", delivery_id="d"
    )
    assert calls == [
        ("add", "json://localhost/x"),
        ("notify", {"title": "S", "body": "B", "notify_type": "failure"}),
    ]


def test_unknown_url_is_permanent_and_failed_notify_is_retryable(monkeypatch):
    fake_apprise(monkeypatch, ok=False)
    with pytest.raises(DeliveryError) as info:
        AppriseNotifier().send(validate_block("apprise", {"url": "nope://x"}), "s", "b", delivery_id="d")
    assert info.value.permanent and "nope" not in str(info.value)
    with pytest.raises(DeliveryError) as info:
        AppriseNotifier().send(validate_block("apprise", {"url": "json://x"}), "s", "b", delivery_id="d")
    assert not info.value.permanent
