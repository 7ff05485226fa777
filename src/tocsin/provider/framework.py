"""The small provider framework the Tocsin resources are written against: schemas, diagnostics, base classes.

A resource declares a `Schema` of `Attribute`s and implements create/read/update/delete/import_ over plain dicts
(attribute name -> Python value, `cty.Unknown` for unknown). The servicer (servicer.py) does the protocol work;
`Resource.plan_change` holds the planning rules every resource shares:
 1. write-only attributes are planned as null (they are never stored);
 2. an optional+computed attribute left out of the config takes its default, or stays unknown on create;
 3. a JSON attribute whose new text means the same as the prior text keeps the prior text (semantic equality,
    so reformatting or server-filled defaults never show as a diff);
 4. a change to a `force_new` attribute asks for replacement, and all computed-only attributes become unknown;
 5. any other change makes the `volatile` computed attributes (e.g. `updated`, `version`) unknown.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tocsin.errors import TocsinError, ValidationFailed
from tocsin.provider.cty import Unknown, as_number

State = dict[str, Any]

STRING: Any = "string"
NUMBER: Any = "number"
BOOL: Any = "bool"
LIST_OF_STRING: Any = ["list", "string"]


@dataclass(frozen=True)
class Attribute:
    name: str
    type: Any
    description: str
    required: bool = False
    optional: bool = False
    computed: bool = False
    sensitive: bool = False
    write_only: bool = False
    force_new: bool = False
    default: Any = None  # for optional+computed attributes: the value planned when the config leaves it out

    @property
    def computed_only(self) -> bool:
        return self.computed and not self.optional and not self.required


@dataclass(frozen=True)
class Schema:
    attributes: tuple[Attribute, ...]
    description: str = ""
    version: int = 0

    def __getitem__(self, name: str) -> Attribute:
        for attr in self.attributes:
            if attr.name == name:
                return attr
        raise KeyError(name)

    def complete(self, values: State | None, *, config: bool = False) -> State | None:
        """Every attribute present (missing ones null), numbers as int/float, and write-only attributes null
        unless `config` (only a configuration may carry write-only values)."""
        if values is None:
            return None
        out = {}
        for attr in self.attributes:
            value = None if attr.write_only and not config else values.get(attr.name)
            if attr.type == NUMBER and value is not None and value is not Unknown:
                value = as_number(value)
            out[attr.name] = value
        return out

    def to_proto(self, pb: Callable[[str], Any]) -> Any:
        attrs = [
            pb("Schema.Attribute")(
                name=a.name, type=json.dumps(a.type).encode(), description=a.description, required=a.required,
                optional=a.optional, computed=a.computed, sensitive=a.sensitive, write_only=a.write_only,
            )
            for a in self.attributes
        ]
        block = pb("Schema.Block")(attributes=attrs, description=self.description, version=self.version)
        return pb("Schema")(version=self.version, block=block)


@dataclass
class Diagnostic:
    error: bool
    summary: str
    detail: str = ""
    path: tuple[str, ...] = ()


@dataclass
class Diagnostics:
    items: list[Diagnostic] = field(default_factory=list)

    def error(self, summary: str, detail: str = "", path: tuple[str, ...] | str = ()) -> None:
        self.items.append(Diagnostic(True, summary, detail, (path,) if isinstance(path, str) else path))

    def warning(self, summary: str, detail: str = "", path: tuple[str, ...] | str = ()) -> None:
        self.items.append(Diagnostic(False, summary, detail, (path,) if isinstance(path, str) else path))

    def from_exception(self, exc: Exception, summary: str, attribute: str | None = None,
                       attributes: tuple[str, ...] = ()) -> None:
        """One diagnostic per problem of a ValidationFailed (pointing at `attribute`, or at the attribute the
        problem's path starts with when it is one of `attributes`); one for any other TocsinError."""
        if isinstance(exc, ValidationFailed):
            for where, reason in exc.problems or [("", str(exc))]:
                head = where.split(".", 1)[0].split("[", 1)[0]
                target = attribute or (head if head in attributes else None)
                if attribute and where and not where.startswith(attribute):
                    where = f"{attribute}.{where}"
                self.error(summary, f"{where}: {reason}" if where else reason, (target,) if target else ())
        else:
            self.error(summary, str(exc) if isinstance(exc, TocsinError) else f"{type(exc).__name__}: {exc}",
                       (attribute,) if attribute else ())

    @property
    def has_errors(self) -> bool:
        return any(d.error for d in self.items)


Canonicalizer = Callable[[str], str]


class Resource:
    """Base of tocsin_* managed resources. Subclasses set type_name/schema and implement the lifecycle."""

    type_name: ClassVar[str]
    schema: ClassVar[Schema]
    semantic_json: ClassVar[dict[str, Canonicalizer]] = {}  # attribute -> canonical form of its JSON text
    volatile: ClassVar[tuple[str, ...]] = ()  # computed attributes that change on every update

    def __init__(self, provider: Any) -> None:
        self.provider = provider

    @property
    def client(self) -> Any:
        return self.provider.client()

    # -- lifecycle, implemented per resource --------------------------------------------------------------------

    def validate(self, config: State, diags: Diagnostics) -> None:
        """Plan-time checks of the configuration (values may be Unknown)."""

    def create(self, planned: State, config: State, diags: Diagnostics) -> tuple[State | None, dict[str, Any]]:
        raise NotImplementedError

    def read(self, state: State, private: dict[str, Any], diags: Diagnostics) -> State | None:
        raise NotImplementedError

    def update(self, prior: State, planned: State, config: State, private: dict[str, Any],
               diags: Diagnostics) -> tuple[State | None, dict[str, Any]]:
        raise NotImplementedError

    def delete(self, state: State, diags: Diagnostics) -> None:
        raise NotImplementedError

    def import_(self, import_id: str, diags: Diagnostics) -> State | None:
        raise NotImplementedError

    # -- shared planning rules (see module docstring) ------------------------------------------------------------

    def plan_change(self, prior: State | None, proposed: State | None, config: State | None,
                    diags: Diagnostics) -> tuple[State | None, list[str]]:
        if proposed is None or config is None:
            return None, []
        planned = dict(proposed)
        for attr in self.schema.attributes:
            if attr.write_only:
                planned[attr.name] = None
            elif attr.computed and config.get(attr.name) is None:
                if attr.default is not None:
                    planned[attr.name] = copy.deepcopy(attr.default)
                elif prior is None:
                    planned[attr.name] = Unknown
        if prior is not None:
            for name, canonical in self.semantic_json.items():
                new, old = planned.get(name), prior.get(name)
                if isinstance(new, str) and isinstance(old, str) and new != old and same_json(new, old, canonical):
                    planned[name] = old
        replace: list[str] = []
        if prior is not None:
            replace = [a.name for a in self.schema.attributes
                       if a.force_new and not _same(prior.get(a.name), planned.get(a.name))]
            changed = any(not _same(prior.get(a.name), planned.get(a.name))
                          for a in self.schema.attributes if not a.write_only and not a.computed_only)
            if replace:
                for attr in self.schema.attributes:
                    if attr.computed_only:
                        planned[attr.name] = Unknown
            elif changed:
                for name in self.volatile:
                    planned[name] = Unknown
        self.customize_plan(prior, planned, config, diags)
        return planned, replace

    def customize_plan(self, prior: State | None, planned: State, config: State, diags: Diagnostics) -> None:
        """Hook for resource-specific planning after the shared rules."""

    def keep_if_same(self, name: str, prior_text: Any, server_text: str) -> str:
        """The prior text of JSON attribute `name` when it means what the server returned, else the server's."""
        if isinstance(prior_text, str) and same_json(prior_text, server_text, self.semantic_json[name]):
            return prior_text
        return server_text


class DataSource:
    type_name: ClassVar[str]
    schema: ClassVar[Schema]

    def __init__(self, provider: Any) -> None:
        self.provider = provider

    @property
    def client(self) -> Any:
        return self.provider.client()

    def validate(self, config: State, diags: Diagnostics) -> None:
        pass

    def read(self, config: State, diags: Diagnostics) -> State | None:
        raise NotImplementedError


def _same(a: Any, b: Any) -> bool:
    return a is not Unknown and b is not Unknown and a == b


def same_json(a: str, b: str, canonical: Canonicalizer) -> bool:
    try:
        return canonical(a) == canonical(b)
    except Exception:  # noqa: BLE001 - text that does not parse is only ever equal to itself
        return a == b
