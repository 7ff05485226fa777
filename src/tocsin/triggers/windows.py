"""Event-trigger windows (semantics §5): counting events into buckets and judging them.

Each (trigger, for_each key) has at most one bucket [start, end) with a count. Reactive triggers fire as soon
as the count reaches the threshold; Proactive ones when a window ends with fewer events than the threshold.
Times passed as `now` are event time (an event's `occurred`, or the events clock for proactive judgements);
firings are stamped with the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from tocsin.schemas.events import ReceivedEvent
from tocsin.triggers.compiled import CompiledEventTrigger
from tocsin.triggers.firing import Firing
from tocsin.triggers.state import Bucket, InMemoryStateStore

LOOKBACK = timedelta(minutes=15)  # the first window reaches back this far, for out-of-order events
EXPIRED_BUCKET_BUFFER = timedelta(seconds=60)  # housekeeping deletes buckets that ended this long ago

Fire = Callable[[Firing], None]


def ensure_bucket(
    store: InMemoryStateStore, ct: CompiledEventTrigger, key: tuple[str, ...], start: datetime, end: datetime,
    last_event: ReceivedEvent | None, count: int = 0,
) -> Bucket:
    """Create the bucket if there is none; an existing one only gets its `last_event` replaced."""
    bucket = store.get_bucket(ct.key, key)
    if bucket is None:
        bucket = Bucket(ct.automation_id, ct.path, key, start, end, count, last_event)
    elif last_event is not None:
        bucket.last_event = last_event
    store.put_bucket(bucket)
    return bucket


def on_event(store: InMemoryStateStore, ct: CompiledEventTrigger, event: ReceivedEvent, wall: datetime,
             fire: Fire) -> None:
    """An event the trigger covers. Cases, in order:
    1. an `after` event arms a bucket [occurred, occurred+within) (count -1 if it is also expected, since
       it will be counted below);
    2. an expected event of a trigger without `after` opens a bucket reaching back LOOKBACK;
    3. an event the trigger does not expect stops here; an expected event with no bucket (unarmed) too;
    4. the bucket is evaluated with the event.
    """
    key = ct.bucketing_key(event)
    expected = ct.expects(event.event)
    bucket: Bucket | None = None
    if ct.after and ct.starts_after(event.event):
        bucket = ensure_bucket(store, ct, key, event.occurred, event.occurred + ct.within, event,
                               count=-1 if expected else 0)
    elif not ct.after and expected:
        bucket = ensure_bucket(store, ct, key, event.occurred - LOOKBACK, event.occurred + ct.within, event)
    if not expected:
        return
    if bucket is None:
        bucket = store.get_bucket(ct.key, key)
        if bucket is None:
            return
    evaluate(store, ct, bucket, event.occurred, event, wall, fire)


def evaluate(store: InMemoryStateStore, ct: CompiledEventTrigger, bucket: Bucket, now: datetime,
             event: ReceivedEvent | None, wall: datetime, fire: Fire) -> Bucket | None:
    """Judge one bucket at event time `now`, with the event that brought us here (None for a proactive tick).

    1. now before the bucket's start: a late event, or one inside a window that already fired: ignore.
    2. the event falls in the window (or the trigger is immediate): count it.
    3. ready (Reactive always; Proactive once the window has ended) and threshold met: fire, drop the bucket.
    4. not fired and the window still runs: keep it (a Proactive heartbeat in after+expect restarts it).
    5. otherwise roll over: `after` triggers wait for the next arming event; a trigger without a window
       keeps its bucket (until the sweep); others open the next window at the old end (or now), where a
       Reactive event not yet counted is counted again at once.
    Returns the bucket left open, if any.
    """
    trigger = ct.trigger
    pending = 1 if event is not None else 0
    if now < bucket.start:
        return bucket
    if pending and (ct.immediate or bucket.start <= now < bucket.end):
        bucket.count += 1
        bucket.last_event = event
        store.put_bucket(bucket)
        pending = 0

    reactive = ct.reactive
    ready = reactive or bucket.end <= now
    met = bucket.count >= ct.threshold if reactive else bucket.count < ct.threshold
    if ready and met:
        store.delete_bucket(bucket)
        fire(Firing(
            automation_id=ct.automation_id,
            trigger_path=ct.path,
            trigger=trigger,
            triggered=wall,
            triggering_labels=ct.triggering_labels(bucket.key),
            triggering_event=event or bucket.last_event,
        ))
    elif now < bucket.end:
        if (event is not None and not reactive and not met
                and ct.starts_after(event.event) and ct.expects(event.event)):
            # heartbeat: the arming event also restarts the window it would have kept alive
            fresh = Bucket(ct.automation_id, ct.path, bucket.key, event.occurred, event.occurred + ct.within,
                           0, event)
            store.put_bucket(fresh)
            return fresh
        return bucket

    if ct.after:
        store.delete_bucket(bucket)
        return None
    if not ct.has_window:
        return None  # an unfired immediate bucket keeps counting until housekeeping sweeps it
    start = max(bucket.end, now)
    nxt = Bucket(ct.automation_id, ct.path, bucket.key, start, start + ct.within, 0, None)
    if reactive and pending:
        store.put_bucket(nxt)
        return evaluate(store, ct, nxt, now, event, wall, fire)
    nxt.count = pending
    store.put_bucket(nxt)
    return nxt


def proactive_evaluation(store: InMemoryStateStore, ct: CompiledEventTrigger, as_of: datetime, wall: datetime,
                         fire: Fire) -> datetime:
    """The proactive service's pass over one trigger at event time `as_of`; returns when to run again.

    Un-keyed triggers always have a window open (so `after` does not gate them); buckets that already
    reached the threshold can never fire and are dropped; every other bucket is judged.
    """
    run_again_at = as_of + ct.within
    if not ct.for_each:
        ensure_bucket(store, ct, (), as_of, as_of + ct.within, None)
    for bucket in store.buckets_for(ct.key):
        if bucket.count >= ct.threshold:
            store.delete_bucket(bucket)
    for bucket in store.buckets_for(ct.key):
        nxt = evaluate(store, ct, bucket, as_of, None, wall, fire)
        if nxt is not None and as_of < nxt.end < run_again_at:
            run_again_at = nxt.end
    return run_again_at
