"""What the delivery vault keeps between deliveries (`RedactingVault`, two instances on one SQLite database as
two server processes would have): a write through this vault is seen at once, another process's within
BLOCK_CACHE_SECONDS; an unchanged block keeps its model object (so its cached redactor) past that time."""

from __future__ import annotations

import time

import pytest

from tocsin.clock import SystemClock
from tocsin.delivery.redaction import BLOCK_CACHE_SECONDS, RedactingVault
from tocsin.errors import NotFound
from tocsin.secrets import SecretBox
from tocsin.store import Store


@pytest.fixture
def vaults(tmp_path):
    store = Store.open(f"sqlite:///{tmp_path}/t.db")
    box = SecretBox.from_environment({"TOCSIN_SECRET_KEY": SecretBox.generate_key()})
    yield RedactingVault(store, SystemClock(), box), RedactingVault(store, SystemClock(), box)
    store.close()


def test_secret_values_and_blocks_between_deliveries(vaults) -> None:
    mine, other = vaults
    secret = mine.create_secret({"name": "hook", "value": "https://hooks.example/v1-0123456789"})
    block = mine.create_block({"name": "b", "type": "webhook", "data": {"url": "https://hooks.example/b"}})["id"]
    assert mine.resolve("hook").endswith("v1-0123456789")
    mine.rotate_secret(secret["id"], {"value": "https://hooks.example/v2-0123456789"})
    assert mine.resolve("hook").endswith("v2-0123456789")  # this process's write: at once
    _, model = mine.load_block(block)

    other.rotate_secret(secret["id"], {"value": "https://hooks.example/v3-0123456789"})
    assert mine.resolve("hook").endswith("v2-0123456789")  # another process's: within the cache time
    time.sleep(BLOCK_CACHE_SECONDS + 0.1)
    assert mine.resolve("hook").endswith("v3-0123456789")
    assert mine.load_block(block)[1] is model  # unchanged row: the same object
    assert "v3-0123456789" not in mine.redactor.redact("https://hooks.example/v3-0123456789")

    other.replace_block(block, {"name": "b", "type": "webhook", "data": {"url": "https://hooks.example/c"}})
    time.sleep(BLOCK_CACHE_SECONDS + 0.1)
    assert str(mine.load_block(block)[1].url).endswith("/c")
    mine.delete_secret(secret["id"])
    with pytest.raises(NotFound):
        mine.resolve("hook")
