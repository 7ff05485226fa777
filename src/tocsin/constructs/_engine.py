"""Optional validation with the engine's own schemas and template checker, imported lazily.

`tocsin.schemas.actions`, `tocsin.schemas.blocks` and `tocsin.templating` belong to the engine. When a module is
there, its validator runs at construction; when it is not (an older or partial install), the constructs fall back
to their own checks, and the provider validates again at plan time.
"""

from __future__ import annotations

import importlib
import re
from typing import Any, Callable

from ._util import ConstructError

PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000000"
_TOKEN_RE = re.compile(r"\$\{TfToken\[[^\]]*\]\}")


def _find(module: str, names: tuple[str, ...]) -> Callable[..., Any] | None:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    for name in names:
        fn = getattr(mod, name, None)
        if callable(fn):
            return fn
    return None


def without_tokens(value: Any, key: str = "") -> Any:
    """Replace CDK tokens by plausible placeholders so the engine can check the rest of the value."""
    if isinstance(value, str):
        if not _TOKEN_RE.search(value):
            return value
        if _TOKEN_RE.fullmatch(value):
            if key.endswith("_id"):
                return PLACEHOLDER_ID
            if key.endswith("url"):
                return "https://placeholder.invalid/"
            if "email" in key:
                return "placeholder@example.invalid"
        if key.endswith("url") and _TOKEN_RE.match(value):  # "${var.sink}/slack": a URL built on a token
            value = _TOKEN_RE.sub("https://placeholder.invalid", value, count=1)
        return _TOKEN_RE.sub("placeholder", value)
    if isinstance(value, dict):
        return {k: without_tokens(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [without_tokens(v, key) for v in value]
    return value


def _raise(where: str, exc: Exception, data: Any, *, show_value: bool = True, strip: str = "") -> None:
    problems = getattr(exc, "problems", None)
    if problems is None and hasattr(exc, "errors"):
        from tocsin.errors import ValidationFailed

        problems = ValidationFailed.from_pydantic(exc).problems
    path, reason = problems[0] if problems else ("", str(exc))
    if strip and path.startswith(strip):
        path = path[len(strip):]
    received = data.get(path.split(".")[0], data) if isinstance(data, dict) and path else data
    raise ConstructError(f"{where}.{path}" if path else where, reason, received=received, show_value=show_value,
                         hint="fix this prop: the engine would reject it") from None


def _expected_errors() -> tuple[type[BaseException], ...]:
    from pydantic import ValidationError

    from tocsin.errors import TocsinError

    return (ValidationError, TocsinError, ValueError)


def check_action(where: str, data: dict[str, Any]) -> None:
    fn = _find("tocsin.schemas.actions", ("parse_action", "validate_action"))
    if fn is None:
        return
    try:
        parsed = fn(without_tokens(data))
    except TypeError:
        return  # a different signature than expected: leave it to the provider's plan-time check
    except _expected_errors() as exc:
        _raise(where, exc, data, strip="action.")
        return
    problems_fn = _find("tocsin.templating", ("action_template_problems",))
    if problems_fn is None:
        return
    try:
        problems = problems_fn([parsed], "action")
    except TypeError:
        return
    if problems:
        from tocsin.errors import ValidationFailed

        _raise(where, ValidationFailed(problems), data, strip="action[0].")


def check_block(where: str, block_type: str, data: dict[str, Any], *, show_value: bool = True) -> None:
    fn = _find("tocsin.schemas.blocks", ("validate_block", "parse_block_data", "validate_block_data"))
    if fn is None:
        return
    try:
        fn(block_type, without_tokens(data))
    except TypeError:
        return
    except _expected_errors() as exc:
        _raise(where, exc, data, show_value=show_value, strip="data.")


def check_template(where: str, text: str) -> None:
    """Syntax-check a Jinja template with the engine's sandbox (or plain Jinja when it is not installed)."""
    if not isinstance(text, str):
        raise ConstructError(where, "must be a string template", received=text)
    source = _TOKEN_RE.sub("placeholder", text)
    fn = _find("tocsin.templating", ("validate_template", "check_template"))
    if fn is not None:
        try:
            fn(source)
            return
        except TypeError:
            pass
        except _expected_errors() as exc:
            raise ConstructError(where, f"template error: {exc}", received=text,
                                 hint="fix the Jinja syntax ({{ ... }} for values, {% ... %} for tags)") from None
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    try:
        ImmutableSandboxedEnvironment().parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise ConstructError(where, f"template syntax error on line {exc.lineno}: {exc.message}", received=text,
                             hint="fix the Jinja syntax ({{ ... }} for values, {% ... %} for tags)") from None
