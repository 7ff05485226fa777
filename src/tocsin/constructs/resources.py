"""L1 constructs: one class per resource / data source of terraform-provider-tocsin (docs/CONTRACT.md).

Hand-written, like the bindings `cdktf get` would generate (no codegen, no registry): each class synthesizes
exactly the provider's schema and exposes attribute tokens (`.id`, `.name`, ...) for references.
"""

from __future__ import annotations

from typing import Any, Sequence

from ._cdk import (
    Construct,
    TerraformDataSource,
    TerraformProvider,
    TerraformProviderGeneratorMetadata,
    TerraformResource,
    TerraformVariable,
)
from ._util import ConstructError, is_token, json_attr, str_list
from .actions import Action
from .blocks import BlockConfig
from .triggers import Trigger

PROVIDER_SOURCE = "tocsin/tocsin"
PROVIDER_VERSION = "0.1.0"

_META = TerraformProviderGeneratorMetadata(provider_name="tocsin", provider_version=PROVIDER_VERSION,
                                           provider_version_constraint=PROVIDER_VERSION)

_SECRET_HINT = ("feed it from a TerraformVariable(sensitive=True) (set TF_VAR_<name> in CI), e.g. "
                "secret_variable(self, 'slack_url').string_value; never a literal or os.environ at synth time")


def _require_token(where: str, value: Any) -> None:
    """Secrets must be Terraform references: a literal would be written to cdktf.out and the source."""
    if value is None:
        return
    if not isinstance(value, str):
        raise ConstructError(where, "must be a string token from a sensitive TerraformVariable",
                             received=type(value).__name__, hint=_SECRET_HINT)
    if not is_token(value):
        raise ConstructError(where, "a literal secret value is not allowed", show_value=False,
                             hint=f"received a literal string of {len(value)} characters (not shown); {_SECRET_HINT}")


def _version(where: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConstructError(where, "must be a number (bump it to push a new write-only value)", received=value)
    return value


def secret_variable(scope: Construct, id: str, *, description: str | None = None,  # noqa: A002
                    ephemeral: bool = True) -> Any:
    """A `TerraformVariable(type="string", sensitive=True)` read from `TF_VAR_<id>` at plan time.

    With `ephemeral=True` (default) the variable is also marked `ephemeral = true` (Terraform >= 1.10; cdktf 0.21
    has no option for it, so it is set with add_override): Terraform then refuses it anywhere but a write-only
    attribute such as `TfSecret(value_wo=...)`, so the value can reach neither state nor plan files.
    """
    var = TerraformVariable(scope, id, type="string", sensitive=True, nullable=False, description=description)
    if ephemeral:
        var.add_override("ephemeral", True)
    return var


class TfProvider(TerraformProvider):
    """The `tocsin` provider. Default url/token - the provider reads TOCSIN_URL / TOCSIN_API_TOKEN.

    :param url: engine URL, e.g. "http://127.0.0.1:4300".
    :param token: API token; must be a token from a sensitive TerraformVariable, never a literal.
    :param alias: provider alias, for several engines in one stack.
    """

    TF_RESOURCE_TYPE = "tocsin"

    def __init__(self, scope: Construct, id: str, *, url: str | None = None,  # noqa: A002
                 token: str | None = None, alias: str | None = None) -> None:
        if url is not None and not is_token(url) and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
            raise ConstructError("TfProvider.url", "must be an http:// or https:// URL", received=url,
                                 hint='for example url="http://127.0.0.1:4300"')
        _require_token("TfProvider.token", token)
        super().__init__(scope, id, terraform_resource_type="tocsin", terraform_generator_metadata=_META,
                         terraform_provider_source=PROVIDER_SOURCE)
        self._url = url
        self._token = token
        self._alias = alias

    # cdktf reads `alias` back from the subclass (for `fqn`, i.e. `provider = tocsin.<alias>` in resources).
    @property  # type: ignore[override]
    def alias(self) -> str | None:
        return getattr(self, "_alias", None)

    @alias.setter
    def alias(self, value: str | None) -> None:
        self._alias = value

    def _synthesize_attributes(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self._url is not None:
            out["url"] = self._url
        if self._token is not None:
            out["token"] = self._token
        if self._alias is not None:
            out["alias"] = self._alias
        return out


TocsinProvider = TfProvider


def _actions(where: str, actions: Any) -> list[Action]:
    if actions is None:
        return []
    if isinstance(actions, Action):
        raise ConstructError(where, "must be a list of actions", received=actions, hint=f"write {where.split('.')[-1]}=[...]")
    if not isinstance(actions, (list, tuple)):
        raise ConstructError(where, "must be a list of typed actions", received=actions)
    for i, action in enumerate(actions):
        if not isinstance(action, Action):
            raise ConstructError(f"{where}[{i}]", "must be a typed action (SendNotification, CallWebhook, ...), "
                                 "not a raw dict", received=action)
    return list(actions)


class TfAutomation(TerraformResource):
    """`tocsin_automation`: a trigger and the actions it runs.

    :param name: automation name (unique names make the engine's UI and `tocsin preview` readable).
    :param trigger: a typed trigger (EventTrigger, CompoundTrigger, SequenceTrigger, MetricTrigger).
    :param actions: actions run when the trigger fires (and, for Prefect compatibility, when it resolves).
    :param actions_on_trigger: actions run only when the trigger fires; default - none.
    :param actions_on_resolve: actions run only when the trigger resolves; default - none.
    :param description: default "".
    :param enabled: default True.
    :param tags: default - no tags.
    """

    TF_RESOURCE_TYPE = "tocsin_automation"

    def __init__(self, scope: Construct, id: str, *, name: str, trigger: Trigger,  # noqa: A002
                 actions: Sequence[Action] = (), actions_on_trigger: Sequence[Action] = (),
                 actions_on_resolve: Sequence[Action] = (), description: str = "", enabled: bool = True,
                 tags: Sequence[str] = (), provider: TerraformProvider | None = None,
                 depends_on: Sequence[Any] | None = None) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ConstructError("TfAutomation.name", "must be a non-empty string", received=name)
        if not isinstance(trigger, Trigger):
            raise ConstructError("TfAutomation.trigger", "must be a typed trigger (EventTrigger, CompoundTrigger, "
                                 "SequenceTrigger or MetricTrigger), not a raw dict", received=trigger)
        acts = _actions("TfAutomation.actions", actions)
        on_trigger = _actions("TfAutomation.actions_on_trigger", actions_on_trigger)
        on_resolve = _actions("TfAutomation.actions_on_resolve", actions_on_resolve)
        if not (acts or on_trigger or on_resolve):
            raise ConstructError("TfAutomation.actions", "an automation with no actions does nothing",
                                 received=list(actions or ()),
                                 hint="add an action, e.g. SendNotification(block=...), or DoNothing() to only "
                                 "record firings")
        if not isinstance(description, str):
            raise ConstructError("TfAutomation.description", "must be a string", received=description)
        if not isinstance(enabled, bool):
            raise ConstructError("TfAutomation.enabled", "must be True or False", received=enabled)
        super().__init__(scope, id, terraform_resource_type="tocsin_automation", terraform_generator_metadata=_META,
                         provider=provider, depends_on=depends_on)
        self.trigger = trigger
        self.actions = acts
        self.actions_on_trigger = on_trigger
        self.actions_on_resolve = on_resolve
        self._attrs = {
            "name": name,
            "description": description,
            "enabled": enabled,
            "tags": str_list(tags, "TfAutomation.tags"),
        }

    def _synthesize_attributes(self) -> dict[str, Any]:
        return {
            **self._attrs,
            "trigger": json_attr(self.trigger.to_json()),
            "actions": json_attr([a.to_json() for a in self.actions]),
            "actions_on_trigger": json_attr([a.to_json() for a in self.actions_on_trigger]),
            "actions_on_resolve": json_attr([a.to_json() for a in self.actions_on_resolve]),
        }

    @property
    def id(self) -> str:
        return self.get_string_attribute("id")

    @property
    def name(self) -> str:
        return self.get_string_attribute("name")

    @property
    def created(self) -> str:
        return self.get_string_attribute("created")

    @property
    def updated(self) -> str:
        return self.get_string_attribute("updated")


class TfBlock(TerraformResource):
    """`tocsin_block`: a notification channel, referenced by actions through `.id`.

    :param name: block name.
    :param block: a typed config (SlackWebhook, PagerDuty, Email, ...); its type slug becomes `type`.
    :param data_wo_version: when given, the data is sent write-only (`data_wo`, Terraform >= 1.11): it never
        reaches state; bump the number to push a changed value. Default - `data` (a sensitive attribute, kept in
        state so that drift shows).
    """

    TF_RESOURCE_TYPE = "tocsin_block"

    def __init__(self, scope: Construct, id: str, *, name: str, block: BlockConfig,  # noqa: A002
                 data_wo_version: int | None = None, provider: TerraformProvider | None = None,
                 depends_on: Sequence[Any] | None = None) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ConstructError("TfBlock.name", "must be a non-empty string", received=name)
        if not isinstance(block, BlockConfig):
            raise ConstructError("TfBlock.block", "must be a typed block config (SlackWebhook, PagerDuty, Email, "
                                 "...), not a raw dict", received=type(block).__name__)
        super().__init__(scope, id, terraform_resource_type="tocsin_block", terraform_generator_metadata=_META,
                         provider=provider, depends_on=depends_on)
        self.block = block
        self._block_name = name
        self._data_wo_version = _version("TfBlock.data_wo_version", data_wo_version)

    def _synthesize_attributes(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self._block_name, "type": self.block.block_type}
        data = json_attr(self.block.to_data())
        if self._data_wo_version is None:
            out["data"] = data
        else:
            out["data_wo"] = data
            out["data_wo_version"] = self._data_wo_version
        return out

    @property
    def id(self) -> str:
        return self.get_string_attribute("id")

    @property
    def name(self) -> str:
        return self.get_string_attribute("name")


class TfSecret(TerraformResource):
    """`tocsin_secret`: a named secret in the engine, referenced from block fields by name
    (``SlackWebhook(webhook_url_secret=secret.name)``).

    Give `value_wo` + `value_wo_version` (write-only, Terraform >= 1.11: the value never reaches state or plan
    files; bump the version to rotate) or `value` (sensitive, but stored in state). Either must come from a
    sensitive TerraformVariable (see `secret_variable`), never a literal.
    """

    TF_RESOURCE_TYPE = "tocsin_secret"

    def __init__(self, scope: Construct, id: str, *, name: str, value: str | None = None,  # noqa: A002
                 value_wo: str | None = None, value_wo_version: int | None = None,
                 provider: TerraformProvider | None = None, depends_on: Sequence[Any] | None = None) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ConstructError("TfSecret.name", "must be a non-empty string", received=name)
        if (value is None) == (value_wo is None):
            raise ConstructError("TfSecret", "give exactly one of value_wo (recommended) or value", show_value=False,
                                 hint="value_wo=secret_variable(self, 'x').string_value, value_wo_version=1")
        _require_token("TfSecret.value", value)
        _require_token("TfSecret.value_wo", value_wo)
        if value_wo is not None and value_wo_version is None:
            raise ConstructError("TfSecret.value_wo_version", "is required with value_wo", received=None,
                                 hint="start at 1 and bump it each time the secret changes")
        if value is not None and value_wo_version is not None:
            raise ConstructError("TfSecret.value_wo_version", "only applies to value_wo", received=value_wo_version)
        super().__init__(scope, id, terraform_resource_type="tocsin_secret", terraform_generator_metadata=_META,
                         provider=provider, depends_on=depends_on)
        self._secret_name = name
        self._value = value
        self._value_wo = value_wo
        self._value_wo_version = _version("TfSecret.value_wo_version", value_wo_version)

    def _synthesize_attributes(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self._secret_name}
        if self._value is not None:
            out["value"] = self._value
        if self._value_wo is not None:
            out["value_wo"] = self._value_wo
            out["value_wo_version"] = self._value_wo_version
        return out

    @property
    def id(self) -> str:
        return self.get_string_attribute("id")

    @property
    def name(self) -> str:
        return self.get_string_attribute("name")

    @property
    def version(self) -> float:
        return self.get_number_attribute("version")

    @property
    def updated(self) -> str:
        return self.get_string_attribute("updated")


def _lookup(cls: str, id_: Any, name: Any) -> dict[str, str]:
    if (id_ is None) == (name is None):
        raise ConstructError(cls, "give exactly one of id_ or name", received={"id_": id_, "name": name})
    key, value = ("id", id_) if id_ is not None else ("name", name)
    if not isinstance(value, str) or not value:
        raise ConstructError(f"{cls}.{key if key == 'name' else 'id_'}", "must be a non-empty string", received=value)
    return {key: value}


class _TocsinLookup(TerraformDataSource):
    """Base of the data sources: one existing object, looked up by exactly one of `id_` or `name`, of the
    subclass's `TF_RESOURCE_TYPE`; `.id` and `.name` are its attribute tokens."""

    TF_RESOURCE_TYPE: str

    def __init__(self, scope: Construct, id: str, *, id_: str | None = None, name: str | None = None,  # noqa: A002
                 provider: TerraformProvider | None = None) -> None:
        lookup = _lookup(type(self).__name__, id_, name)
        super().__init__(scope, id, terraform_resource_type=type(self).TF_RESOURCE_TYPE,
                         terraform_generator_metadata=_META, provider=provider)
        self._lookup = lookup

    def _synthesize_attributes(self) -> dict[str, Any]:
        return dict(self._lookup)

    @property
    def id(self) -> str:
        return self.get_string_attribute("id")

    @property
    def name(self) -> str:
        return self.get_string_attribute("name")


class DataTocsinAutomation(_TocsinLookup):
    """`data.tocsin_automation`: an existing automation, looked up by `id_` or `name`."""

    TF_RESOURCE_TYPE = "tocsin_automation"
    __init__ = _TocsinLookup.__init__  # its own entry, so docs/constructs.md lists the signature

    @property
    def trigger(self) -> str:
        return self.get_string_attribute("trigger")

    @property
    def actions(self) -> str:
        return self.get_string_attribute("actions")

    @property
    def enabled(self) -> Any:
        return self.get_boolean_attribute("enabled")


class DataTocsinBlock(_TocsinLookup):
    """`data.tocsin_block`: an existing block, looked up by `id_` or `name`; usable wherever a block is."""

    TF_RESOURCE_TYPE = "tocsin_block"
    __init__ = _TocsinLookup.__init__  # its own entry, so docs/constructs.md lists the signature

    @property
    def type(self) -> str:
        return self.get_string_attribute("type")
