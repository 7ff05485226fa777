"""tfplugin6.Provider over gRPC: decodes requests, calls the resources, encodes responses and diagnostics.

Every RPC answers with diagnostics rather than a gRPC error, so Terraform always shows the resource address and
a readable message. Write-only attributes are forced to null in every state or plan that leaves this process.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from typing import Any

import grpc

from tocsin.errors import NotFound, TocsinError
from tocsin.provider import cty
from tocsin.provider.framework import DataSource, Diagnostics, Resource, Schema, State
from tocsin.provider.proto import SERVICE, methods, pb


def _dv(value: Any) -> Any:
    return pb("DynamicValue")(msgpack=cty.pack(value))


def _undv(dv: Any) -> Any:
    if dv is None:
        return None
    if dv.msgpack:
        return cty.unpack(dv.msgpack)
    if dv.json:
        return json.loads(dv.json)
    return None


def _diags_pb(diags: Diagnostics) -> list[Any]:
    out = []
    for d in diags.items:
        path = pb("AttributePath")(steps=[pb("AttributePath.Step")(attribute_name=p) for p in d.path])
        out.append(pb("Diagnostic")(severity=1 if d.error else 2, summary=d.summary, detail=d.detail,
                                    attribute=path if d.path else None))
    return out


def _private_in(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _private_out(data: dict[str, Any] | None) -> bytes:
    return json.dumps(data, sort_keys=True).encode() if data else b""


class ProviderServicer:
    """Implements the RPCs by name; see `handler()` for the gRPC wiring."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self.resources: dict[str, Resource] = {cls.type_name: cls(provider) for cls in provider.resources}
        self.data_sources: dict[str, DataSource] = {cls.type_name: cls(provider) for cls in provider.data_sources}

    # -- schema and configuration --------------------------------------------------------------------------

    def GetMetadata(self, request: Any, context: Any) -> Any:
        return pb("GetMetadata.Response")(
            server_capabilities=pb("ServerCapabilities")(get_provider_schema_optional=False),
            resources=[pb("GetMetadata.ResourceMetadata")(type_name=t) for t in self.resources],
            data_sources=[pb("GetMetadata.DataSourceMetadata")(type_name=t) for t in self.data_sources],
        )

    def GetProviderSchema(self, request: Any, context: Any) -> Any:
        resp = pb("GetProviderSchema.Response")(
            provider=self.provider.schema.to_proto(pb),
            server_capabilities=pb("ServerCapabilities")(),
        )
        for name, res in self.resources.items():
            resp.resource_schemas[name].CopyFrom(res.schema.to_proto(pb))
        for name, ds in self.data_sources.items():
            resp.data_source_schemas[name].CopyFrom(ds.schema.to_proto(pb))
        return resp

    def ValidateProviderConfig(self, request: Any, context: Any) -> Any:
        diags = Diagnostics()
        return pb("ValidateProviderConfig.Response")(diagnostics=_diags_pb(diags))

    def ConfigureProvider(self, request: Any, context: Any) -> Any:
        diags = Diagnostics()
        self._guard(diags, "configure the provider", lambda: self.provider.configure(_undv(request.config), diags))
        return pb("ConfigureProvider.Response")(diagnostics=_diags_pb(diags))

    def ValidateResourceConfig(self, request: Any, context: Any) -> Any:
        diags = Diagnostics()
        res = self._resource(request.type_name, diags)
        if res is not None:
            config = res.schema.complete(_undv(request.config), config=True) or {}
            self._guard(diags, "validate", lambda: res.validate(config, diags))
        return pb("ValidateResourceConfig.Response")(diagnostics=_diags_pb(diags))

    def ValidateDataResourceConfig(self, request: Any, context: Any) -> Any:
        diags = Diagnostics()
        ds = self.data_sources.get(request.type_name)
        if ds is None:
            diags.error("Unknown data source", f"terraform-provider-tocsin has no data source {request.type_name}")
        else:
            config = ds.schema.complete(_undv(request.config)) or {}
            self._guard(diags, "validate", lambda: ds.validate(config, diags))
        return pb("ValidateDataResourceConfig.Response")(diagnostics=_diags_pb(diags))

    def UpgradeResourceState(self, request: Any, context: Any) -> Any:
        diags = Diagnostics()
        res = self._resource(request.type_name, diags)
        state = None
        if res is not None:
            if request.raw_state.json:
                state = res.schema.complete(json.loads(request.raw_state.json))
            elif request.raw_state.flatmap:
                diags.error("Unsupported state format", "tocsin resources never had flatmap (Terraform 0.11) state")
        return pb("UpgradeResourceState.Response")(upgraded_state=_dv(state), diagnostics=_diags_pb(diags))

    # -- managed resources -----------------------------------------------------------------------------------

    def ReadResource(self, request: Any, context: Any) -> Any:
        diags = Diagnostics()
        res = self._resource(request.type_name, diags)
        new_state: State | None = None
        private = _private_in(request.private)
        if res is not None:
            state = res.schema.complete(_undv(request.current_state))
            new_state = state
            if state is not None:
                new_state = self._guard(diags, "read", lambda: res.schema.complete(res.read(state, private, diags)),
                                        default=state)
        return pb("ReadResource.Response")(new_state=_dv(new_state), private=_private_out(private),
                                           diagnostics=_diags_pb(diags))

    def PlanResourceChange(self, request: Any, context: Any) -> Any:
        diags = Diagnostics()
        res = self._resource(request.type_name, diags)
        planned: State | None = None
        replace: list[str] = []
        legacy = False
        if res is not None:
            schema = res.schema
            prior = schema.complete(_undv(request.prior_state))
            proposed = schema.complete(_undv(request.proposed_new_state))
            config = _undv(request.config)
            config = schema.complete(config, config=True)
            result = self._guard(diags, "plan", lambda: res.plan_change(prior, proposed, config, diags),
                                 default=(proposed, []))
            planned, replace = result
            planned = schema.complete(planned)
            legacy = _differs_from_config(schema, planned, config)
        return pb("PlanResourceChange.Response")(
            planned_state=_dv(planned),
            requires_replace=[pb("AttributePath")(steps=[pb("AttributePath.Step")(attribute_name=n)]) for n in replace],
            planned_private=request.prior_private,
            diagnostics=_diags_pb(diags),
            legacy_type_system=legacy,
        )

    def ApplyResourceChange(self, request: Any, context: Any) -> Any:
        diags = Diagnostics()
        res = self._resource(request.type_name, diags)
        new_state: State | None = None
        private = _private_in(request.planned_private)
        legacy = False
        if res is not None:
            schema = res.schema
            prior = schema.complete(_undv(request.prior_state))
            planned = schema.complete(_undv(request.planned_state))
            config = schema.complete(_undv(request.config), config=True) or {}  # write-only values live here
            if planned is None:
                new_state = prior
                if self._guard(diags, "delete", lambda: self._delete(res, prior, diags), default=False):
                    new_state = None
            elif prior is None:
                out = self._guard(diags, "create", lambda: res.create(planned, config, diags), default=(None, {}))
                new_state, private = out[0], out[1] or {}
            else:
                out = self._guard(diags, "update", lambda: res.update(prior, planned, config, private, diags),
                                  default=(prior, private))
                new_state, private = out[0], out[1] or {}
            new_state = schema.complete(new_state)
            if new_state is not None:
                unknown = [k for k, v in new_state.items() if not cty.is_known(v)]
                if unknown:
                    diags.error("Provider left values unknown after apply",
                                f"{request.type_name}: {', '.join(unknown)}; this is a bug in terraform-provider-tocsin")
                    new_state = {k: (None if not cty.is_known(v) else v) for k, v in new_state.items()}
                legacy = planned is not None and _differs_from_config(schema, new_state, planned)
        return pb("ApplyResourceChange.Response")(new_state=_dv(new_state), private=_private_out(private),
                                                  diagnostics=_diags_pb(diags), legacy_type_system=legacy)

    def _delete(self, res: Resource, prior: State | None, diags: Diagnostics) -> bool:
        if prior is not None:
            try:
                res.delete(prior, diags)
            except NotFound:
                pass  # already gone: that is what destroy wanted
        return not diags.has_errors

    def ImportResourceState(self, request: Any, context: Any) -> Any:
        diags = Diagnostics()
        res = self._resource(request.type_name, diags)
        imported = []
        if res is not None:
            state = self._guard(diags, "import", lambda: res.import_(request.id, diags), default=None)
            if state is not None:
                imported.append(pb("ImportResourceState.ImportedResource")(
                    type_name=request.type_name, state=_dv(res.schema.complete(state))))
            elif not diags.has_errors:
                diags.error("Cannot import", f"{request.type_name} {request.id!r} was not found in the engine")
        return pb("ImportResourceState.Response")(imported_resources=imported, diagnostics=_diags_pb(diags))

    def MoveResourceState(self, request: Any, context: Any) -> Any:
        diags = Diagnostics()
        diags.error("Move not supported", "tocsin resources cannot be moved from another resource type")
        return pb("MoveResourceState.Response")(diagnostics=_diags_pb(diags))

    # -- data sources, functions, misc ---------------------------------------------------------------------

    def ReadDataSource(self, request: Any, context: Any) -> Any:
        diags = Diagnostics()
        ds = self.data_sources.get(request.type_name)
        state = None
        if ds is None:
            diags.error("Unknown data source", f"terraform-provider-tocsin has no data source {request.type_name}")
        else:
            config = ds.schema.complete(_undv(request.config)) or {}
            state = self._guard(diags, "read", lambda: ds.schema.complete(ds.read(config, diags)), default=None)
        return pb("ReadDataSource.Response")(state=_dv(state), diagnostics=_diags_pb(diags))

    def GetFunctions(self, request: Any, context: Any) -> Any:
        return pb("GetFunctions.Response")()

    def CallFunction(self, request: Any, context: Any) -> Any:
        return pb("CallFunction.Response")(error=pb("FunctionError")(text="terraform-provider-tocsin has no functions"))

    def StopProvider(self, request: Any, context: Any) -> Any:
        return pb("StopProvider.Response")()

    def ValidateEphemeralResourceConfig(self, request: Any, context: Any) -> Any:
        diags = Diagnostics()
        diags.error("Unknown ephemeral resource", f"terraform-provider-tocsin has no {request.type_name}")
        return pb("ValidateEphemeralResourceConfig.Response")(diagnostics=_diags_pb(diags))

    # -- helpers -------------------------------------------------------------------------------------------

    def _resource(self, type_name: str, diags: Diagnostics) -> Resource | None:
        res = self.resources.get(type_name)
        if res is None:
            diags.error("Unknown resource type", f"terraform-provider-tocsin has no resource type {type_name}")
        return res

    def _guard(self, diags: Diagnostics, what: str, fn: Callable[[], Any], default: Any = None) -> Any:
        """Run fn; turn Tocsin errors and crashes into diagnostics instead of a gRPC failure."""
        try:
            return fn()
        except TocsinError as exc:
            diags.from_exception(exc, f"Tocsin engine refused to {what}")
        except Exception as exc:  # noqa: BLE001 - report, never crash Terraform's RPC
            diags.error(f"Internal error in terraform-provider-tocsin during {what}",
                        "".join(traceback.format_exception(exc))[-3000:])
        return default


def _differs_from_config(schema: Schema, planned: State | None, config: State | None) -> bool:
    """True when a configured value is planned differently (semantic equality): Terraform then needs
    legacy_type_system to accept the plan, as it does for the SDKv2's DiffSuppressFunc."""
    if planned is None or config is None:
        return False
    for attr in schema.attributes:
        want = config.get(attr.name)
        if attr.write_only or want is None or want is cty.Unknown:
            continue
        if planned.get(attr.name) != want:
            return True
    return False


def handler(servicer: ProviderServicer) -> grpc.GenericRpcHandler:
    table = {}
    for name, req_cls, resp_cls, streaming in methods():
        fn: Callable[..., Any] | None = getattr(servicer, name, None)
        if fn is None or streaming:
            continue
        table[name] = grpc.unary_unary_rpc_method_handler(
            fn, request_deserializer=req_cls.FromString, response_serializer=resp_cls.SerializeToString)
    return grpc.method_handlers_generic_handler(SERVICE, table)
