"""Plan-time validation with the engine's own code, so `terraform plan` rejects what the API would reject.

Triggers go through tocsin.schemas.triggers; actions through tocsin.schemas.actions, block data through
tocsin.schemas.blocks and templates through tocsin.templating, each used when the module is importable (they are
optional at the provider's level so that a provider older or newer than the engine still plans). Every check
raises tocsin.errors.ValidationFailed whose paths start with the Terraform attribute name, e.g.
("trigger.within", "a Proactive trigger needs within >= 10 seconds, got 5").
"""

from __future__ import annotations

import importlib
import json
from typing import Any

from tocsin.errors import ValidationFailed

TEMPLATE_CHECKERS = ("validate_template", "check_template", "check_syntax")


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def parse_json(attribute: str, text: str, expect: type | None = None) -> Any:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValidationFailed([(attribute, f"is not valid JSON ({exc}); use jsonencode({{...}}) in HCL")]) from exc
    if expect is not None and not isinstance(value, expect):
        kind = "a list" if expect is list else "an object"
        raise ValidationFailed([(attribute, f"must be JSON of {kind}, got {type(value).__name__}")])
    return value


def check_trigger(text: str) -> None:
    from pydantic import ValidationError

    from tocsin.schemas.triggers import parse_trigger

    data = parse_json("trigger", text, dict)
    try:
        parse_trigger(data)
    except ValidationError as exc:
        raise ValidationFailed.from_pydantic(exc, prefix="trigger") from exc


def check_actions(attribute: str, text: str) -> None:
    data = parse_json(attribute, text, list)
    schema = _optional("tocsin.schemas.actions")
    if schema is not None and (hasattr(schema, "parse_actions") or hasattr(schema, "parse_action")):
        _with_paths(attribute, lambda: schema.parse_actions(data) if hasattr(schema, "parse_actions")
                    else [schema.parse_action(a) for a in data])
    _check_templates(attribute, data)


def check_block(block_type: str, data: dict[str, Any], attribute: str = "data") -> None:
    schema = _optional("tocsin.schemas.blocks")
    if schema is None:
        return
    for name in ("parse_block_data", "validate_block_data", "parse_block"):
        fn = getattr(schema, name, None)
        if fn is not None:
            _with_paths(attribute, lambda: fn(block_type, data))
            return


def _check_templates(attribute: str, actions: list[Any]) -> None:
    templating = _optional("tocsin.templating")
    checker = next((getattr(templating, n) for n in TEMPLATE_CHECKERS if hasattr(templating, n)), None)
    if checker is None:
        return
    problems: list[tuple[str, str]] = []
    for path, text in _template_strings(actions, attribute):
        try:
            checker(text)
        except ValidationFailed as exc:
            problems += [(path, reason) for _, reason in exc.problems]
        except Exception as exc:  # noqa: BLE001 - jinja's TemplateSyntaxError and friends
            problems.append((path, f"template error: {exc}"))
    if problems:
        raise ValidationFailed(problems)


def _template_strings(value: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(path, value)] if ("{{" in value or "{%" in value) else []
    if isinstance(value, list):
        return [x for i, v in enumerate(value) for x in _template_strings(v, f"{path}[{i}]")]
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in _template_strings(v, f"{path}.{k}")]
    return []


def _with_paths(attribute: str, fn: Any) -> None:
    from pydantic import ValidationError

    try:
        fn()
    except ValidationError as exc:
        raise ValidationFailed.from_pydantic(exc, prefix=attribute) from exc
    except ValidationFailed as exc:
        raise ValidationFailed([(f"{attribute}.{p}" if p else attribute, r) for p, r in exc.problems]) from exc
