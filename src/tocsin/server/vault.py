"""Blocks and secrets behind the routes: secret values are encrypted at rest (tocsin.secrets.SecretBox) and
never leave through the API; block secret fields read back as {"secret": true}."""

from __future__ import annotations

import json
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tocsin.clock import Clock
from tocsin.delivery.references import check_block_unused
from tocsin.errors import Conflict, NotFound, ValidationFailed
from tocsin.schemas.blocks import SECRET_MARKER, BlockModel, secret_fields, validate_block
from tocsin.secrets import SecretBox
from tocsin.store import Store
from tocsin.store import blocks as block_rows
from tocsin.store import secrets as secret_rows


class BlockWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    type: str = Field(min_length=1)
    data: dict[str, Any] = Field(default_factory=dict)


class SecretWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)
    value: str


class SecretRotate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: str
    name: str | None = None


def _parse(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed.from_pydantic(exc) from None


class Vault:
    def __init__(self, store: Store, clock: Clock, box: SecretBox) -> None:
        self.store, self.clock, self.box = store, clock, box

    def holds_ciphertext(self) -> bool:
        """Whether anything stored is encrypted (every block and every secret is)."""
        with self.store.reader.connect() as conn:
            return block_rows.exists(conn) or secret_rows.exists(conn)

    # -- blocks ---------------------------------------------------------------------------------------------------
    def _split(self, model: BlockModel) -> tuple[dict[str, Any], str]:
        secret = model.secret_data()
        # only the fields the client set (defaults are re-applied on load), so a read gives back what was
        # written and Terraform sees no drift
        dumped = model.model_dump(mode="json", exclude_none=True, exclude_unset=True, by_alias=True)
        public = {k: v for k, v in dumped.items() if k not in secret}
        return public, self.box.encrypt(json.dumps(secret))

    def public(self, doc: dict[str, Any]) -> dict[str, Any]:
        secret_keys = json.loads(self.box.decrypt(doc["secret_data"])).keys()
        data = {**doc["data"], **{k: dict(SECRET_MARKER) for k in secret_keys}}
        return {"id": doc["id"], "name": doc["name"], "type": doc["type"], "data": data,
                "created": doc["created"], "updated": doc["updated"]}

    def create_block(self, data: Any) -> dict[str, Any]:
        body = _parse(BlockWrite, data)
        model = validate_block(body.type, body.data)
        public, secret = self._split(model)
        block_id = str(uuid.uuid4())
        with self.store.write() as conn:
            block_rows.create(conn, block_id, body.name, body.type, public, secret, self.clock.now())
            doc = block_rows.get(conn, block_id)
        assert doc is not None
        return self.public(doc)

    def replace_block(self, block_id: str, data: Any) -> dict[str, Any]:
        body = _parse(BlockWrite, data)
        with self.store.write() as conn:
            current = block_rows.get(conn, block_id)
            if current is None:
                raise NotFound(f"block {block_id} not found")
            if current["type"] != body.type:
                raise ValidationFailed([("type", f"a block's type cannot change (it is {current['type']!r}); "
                                                 "create a new block instead")])
            stored_secrets = json.loads(self.box.decrypt(current["secret_data"]))
            merged = {k: (stored_secrets.get(k) if v == SECRET_MARKER else v) for k, v in body.data.items()}
            model = validate_block(body.type, {k: v for k, v in merged.items() if v is not None})
            public, secret = self._split(model)
            block_rows.replace(conn, block_id, body.name, public, secret, self.clock.now())
            doc = block_rows.get(conn, block_id)
        assert doc is not None
        return self.public(doc)

    def get_block(self, block_id: str) -> dict[str, Any]:
        with self.store.reader.connect() as conn:
            doc = block_rows.get(conn, block_id)
        if doc is None:
            raise NotFound(f"block {block_id} not found")
        return self.public(doc)

    def load_block(self, block_id: str) -> tuple[str, BlockModel]:
        """The block's type and full model, secrets decrypted (for delivery only)."""
        with self.store.reader.connect() as conn:
            doc = block_rows.get(conn, block_id)
        if doc is None:
            raise NotFound(f"block {block_id} not found")
        data = {**doc["data"], **json.loads(self.box.decrypt(doc["secret_data"]))}
        return doc["type"], validate_block(doc["type"], data)

    def delete_block(self, block_id: str) -> None:
        """Delete a block no automation names; BlockInUse (409) names the automations that still do. The check
        and the delete share one write transaction, with the block row locked first (see delivery.references)."""
        with self.store.write() as conn:
            if not block_rows.lock(conn, block_id):
                raise NotFound(f"block {block_id} not found")
            check_block_unused(conn, block_id)
            block_rows.remove(conn, block_id)

    def list_blocks(self, limit: int | None, offset: int) -> list[dict[str, Any]]:
        with self.store.reader.connect() as conn:
            return [self.public(d) for d in block_rows.search(conn, limit, offset)]

    # -- secrets --------------------------------------------------------------------------------------------------
    def create_secret(self, data: Any) -> dict[str, Any]:
        body = _parse(SecretWrite, data)
        secret_id = str(uuid.uuid4())
        with self.store.write() as conn:
            if secret_rows.by_name(conn, body.name) is not None:
                raise Conflict([("name", f"a secret named {body.name!r} already exists; rotate it with PUT")])
            secret_rows.create(conn, secret_id, body.name, self.box.encrypt(body.value), self.clock.now())
            doc = secret_rows.get(conn, secret_id)
        assert doc is not None
        return doc

    def rotate_secret(self, secret_id: str, data: Any) -> dict[str, Any]:
        body = _parse(SecretRotate, data)
        with self.store.write() as conn:
            current = secret_rows.get(conn, secret_id)
            if current is None:
                raise NotFound(f"secret {secret_id} not found")
            if body.name is not None and body.name != current["name"]:
                raise ValidationFailed([("name", "a secret's name cannot change; create a new secret instead")])
            secret_rows.rotate(conn, secret_id, self.box.encrypt(body.value), self.clock.now())
            doc = secret_rows.get(conn, secret_id)
        assert doc is not None
        return doc

    def get_secret(self, secret_id: str) -> dict[str, Any]:
        with self.store.reader.connect() as conn:
            doc = secret_rows.get(conn, secret_id)
        if doc is None:
            raise NotFound(f"secret {secret_id} not found")
        return doc

    def delete_secret(self, secret_id: str) -> None:
        with self.store.write() as conn:
            if not secret_rows.remove(conn, secret_id):
                raise NotFound(f"secret {secret_id} not found")

    def list_secrets(self, limit: int | None, offset: int) -> list[dict[str, Any]]:
        with self.store.reader.connect() as conn:
            return secret_rows.search(conn, limit, offset)

    def resolve(self, name: str) -> str:
        """A secret's value by name (for delivery and templates only)."""
        with self.store.reader.connect() as conn:
            ciphertext = secret_rows.ciphertext_by_name(conn, name)
        if ciphertext is None:
            raise NotFound(f"no secret named {name!r}")
        return self.box.decrypt(ciphertext)


__all__ = ["Vault", "secret_fields"]
