"""Delivery, as the server sees it: `plan` (firings -> outbox rows, in the evaluation transaction) lives in
`tocsin.delivery.planner`, and the one dispatcher class in `tocsin.delivery.dispatcher`; both are re-exported
here under their old names (`Dispatcher`, `BatchingDispatcher`). The dispatcher's rules are in its module."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tocsin.delivery.planner import NAMESPACE as _NAMESPACE
from tocsin.delivery.planner import plan

if TYPE_CHECKING:
    from tocsin.delivery.dispatcher import BatchingDispatcher, Dispatcher

__all__ = ["BatchingDispatcher", "Dispatcher", "plan", "_NAMESPACE"]


def __getattr__(name: str) -> Any:
    # loaded on first use: tocsin.delivery.dispatcher imports modules that import this one
    if name in ("Dispatcher", "BatchingDispatcher"):
        from tocsin.delivery import dispatcher

        return getattr(dispatcher, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
