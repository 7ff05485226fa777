"""The tfplugin6 message classes, built at run time from the serialized descriptor in gen/.

`pb("PlanResourceChange.Response")` returns the message class for tfplugin6.PlanResourceChange.Response;
`METHODS` lists the Provider service's RPCs as (name, request class, response class).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from google.protobuf import descriptor_pool, message_factory
from google.protobuf import timestamp_pb2  # noqa: F401  (registers google/protobuf/timestamp.proto)

from tocsin.provider.gen.tfplugin6_descriptor import SERIALIZED

PACKAGE = "tfplugin6"
SERVICE = "tfplugin6.Provider"

_pool = descriptor_pool.Default()
try:
    _pool.FindFileByName("tfplugin6.proto")
except KeyError:
    _pool.AddSerializedFile(SERIALIZED)


@cache
def pb(name: str) -> Any:
    """Message class for `tfplugin6.<name>`."""
    return message_factory.GetMessageClass(_pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))


def methods() -> list[tuple[str, Any, Any, bool]]:
    """(rpc name, request class, response class, server_streaming) for every RPC of tfplugin6.Provider."""
    svc = _pool.FindServiceByName(SERVICE)
    return [
        (m.name, message_factory.GetMessageClass(m.input_type), message_factory.GetMessageClass(m.output_type),
         bool(getattr(m, "server_streaming", False)))
        for m in svc.methods
    ]
