"""Shared helpers: the construct error, token detection, token-aware JSON strings, durations."""

from __future__ import annotations

import json
import math
import re
from datetime import timedelta
from typing import Any

from tocsin.errors import TocsinError

from ._cdk import Token


class ConstructError(TocsinError, ValueError):
    """Invalid construct props, raised at construction: says what was wrong, the value received, what to do."""

    def __init__(self, where: str, problem: str, *, received: Any = None, hint: str = "",
                 show_value: bool = True) -> None:
        self.where = where
        self.problem = problem
        self.hint = hint
        parts = [f"{where}: {problem}"]
        if show_value:
            parts.append(f"received {received!r}")
        if hint:
            parts.append(hint)
        super().__init__("; ".join(parts))


def is_token(value: Any) -> bool:
    """True for an unresolved CDK token (a `${TfToken[...]}` string, a token number or list)."""
    if isinstance(value, (str, int, float, list)) and not isinstance(value, bool):
        try:
            return bool(Token.is_unresolved(value))
        except Exception:  # pragma: no cover - jsii refuses odd values
            return False
    return False


def has_token(value: Any) -> bool:
    """True when a token appears anywhere in a JSON-able structure (strings may embed tokens)."""
    if isinstance(value, str):
        return "${TfToken[" in value or is_token(value)
    if isinstance(value, dict):
        return any(has_token(k) or has_token(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(has_token(v) for v in value)
    if isinstance(value, float):
        return is_token(value)
    return False


# A literal `${` or `%{` in a Terraform JSON string starts an interpolation or a directive; `$${` and `%%{`
# are their escapes. Token placeholders (`${TfToken[TOKEN.n]}`) are left alone: cdktf resolves them at synth.
_INTERP = re.compile(r"\$\{(?!TfToken\[)|%\{")


def escape_literal(text: str) -> str:
    """Escape Terraform template sequences in user text, keeping CDK token placeholders intact."""
    return _INTERP.sub(lambda m: m.group(0)[0] + m.group(0), text)


def _escape_tree(value: Any) -> Any:
    if isinstance(value, str):
        return escape_literal(value)
    if isinstance(value, dict):
        return {escape_literal(str(k)): _escape_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escape_tree(v) for v in value]
    return value


def json_attr(value: Any) -> str:
    """A JSON string for a Terraform attribute, with CDK tokens kept as Terraform references inside it.

    `json.dumps` copies a token placeholder like `${TfToken[TOKEN.3]}` verbatim into the string; at synth cdktf
    replaces it with `${tocsin_block.x.id}`, which Terraform interpolates at plan time, so the JSON the provider
    receives holds the real id. Everything else is escaped so that Terraform leaves it as written.
    """
    return json.dumps(_escape_tree(value), separators=(",", ":"), sort_keys=False, ensure_ascii=False)


def seconds(value: Any, where: str, *, allow_none: bool = False) -> int | float | None:
    """A duration as seconds (an int when whole): accepts timedelta or a number of seconds."""
    if value is None and allow_none:
        return None
    if isinstance(value, timedelta):
        total = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if is_token(value):
            raise ConstructError(where, "a Terraform token cannot be used for a duration", received=value,
                                 hint="pass a datetime.timedelta or a number of seconds")
        total = float(value)
    else:
        raise ConstructError(where, "must be a datetime.timedelta or a number of seconds", received=value,
                             hint="for example within=timedelta(hours=1)")
    if math.isnan(total) or math.isinf(total):
        raise ConstructError(where, "must be a finite duration", received=value)
    return int(total) if float(total).is_integer() else total


def str_list(value: Any, where: str) -> list[str]:
    """A list of strings from a list/tuple/set of strings (a lone string is refused: wrap it in a list)."""
    if value is None:
        return []
    if isinstance(value, str):
        raise ConstructError(where, "must be a list of strings, not a single string", received=value,
                             hint=f"write {where}=[{value!r}]")
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise ConstructError(where, "must be a list of strings", received=value)
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            raise ConstructError(where, "every item must be a string", received=value)
    return items
