"""The exception tree of Tocsin.

    TocsinError
    ├── ValidationFailed      bad input: carries [(field path, reason), ...]; the API answers 422 with it
    │   └── Conflict          the input clashes with what is stored (a taken name); the API answers 409
    ├── NotFound              an id that names nothing
    └── DeliveryError         a notification could not be delivered (permanent=True: do not retry)
"""

from __future__ import annotations

from typing import Any

from collections.abc import Sequence


class TocsinError(Exception):
    """Base class of every error Tocsin raises on purpose."""


class ValidationFailed(TocsinError):
    """Input was rejected; `problems` lists (field path, reason) pairs, e.g. ("trigger.within", "...")."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{path}: {reason}" if path else reason for path, reason in self.problems))

    @classmethod
    def from_pydantic(cls, exc: object, prefix: str = "") -> ValidationFailed:
        """Turn a pydantic ValidationError into (dotted path, message) pairs."""
        problems = []
        for err in exc.errors():  # type: ignore[attr-defined]
            parts = [prefix] if prefix else []
            parts += [str(p) for p in err["loc"] if not _is_union_tag(p)]
            msg = err["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
            # model-level checks name their field as "field: reason"; move it into the path
            head, sep, rest = msg.partition(": ")
            if sep and head.isidentifier():
                parts.append(head)
                msg = rest
            problems.append((".".join(parts), msg))
        return cls(problems)


def _is_union_tag(part: object) -> bool:
    # pydantic puts the chosen union member's tag in the location ("event", "compound", "function-after[...]").
    return isinstance(part, str) and part.startswith(("type=", "function-", "tagged-union["))


class Conflict(ValidationFailed):
    """The input is valid but clashes with stored state, e.g. a secret name already in use."""


class NotFound(TocsinError):
    """The thing asked for does not exist."""


class DeliveryError(TocsinError):
    """A delivery attempt failed. `permanent` failures go to the dead-letter list at once."""

    def __init__(self, message: str, *, permanent: bool = False, status_code: int | None = None,
                 retry_after: float | None = None, progress: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.status_code = status_code
        self.retry_after = retry_after
        # what a multi-recipient send already did (e.g. {"reached": [...]}): kept with the delivery and handed
        # to the next attempt, so a retry does not send to the same recipient twice
        self.progress = progress
