"""The pure trigger evaluator: no I/O, no asyncio, time from an injected clock, state in a store."""

from tocsin.triggers.evaluator import Evaluator
from tocsin.triggers.firing import Firing
from tocsin.triggers.state import Bucket, Changes, InMemoryStateStore

__all__ = ["Bucket", "Changes", "Evaluator", "Firing", "InMemoryStateStore"]
