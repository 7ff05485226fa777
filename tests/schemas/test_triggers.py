"""The trigger grammar: Prefect JSON loads as is; invalid triggers name the field and the reason."""

import json
from datetime import timedelta

import pydantic
import pytest

from tocsin.errors import ValidationFailed
from tocsin.schemas.triggers import CompoundTrigger, EventTrigger, MetricTrigger, SequenceTrigger, parse_trigger


def problems(data):
    with pytest.raises(pydantic.ValidationError) as info:
        parse_trigger(data)
    return ValidationFailed.from_pydantic(info.value, "trigger").problems


def test_prefect_docs_zombie_trigger_loads_unchanged():
    doc = {
        "type": "event",
        "match": {"prefect.resource.id": "prefect.flow-run.*"},
        "match_related": {},
        "after": ["prefect.flow-run.heartbeat"],
        "expect": ["prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Failed",
                   "prefect.flow-run.Cancelled", "prefect.flow-run.Crashed"],
        "for_each": ["prefect.resource.id"],
        "posture": "Proactive",
        "threshold": 1,
        "within": 90,
    }
    trigger = parse_trigger(doc)
    assert isinstance(trigger, EventTrigger)
    assert trigger.within == timedelta(seconds=90)
    assert set(trigger.expect) == set(doc["expect"])


def test_type_defaults_to_event_and_match_related_may_be_a_list():
    trigger = parse_trigger({"posture": "Reactive", "match_related": [{"prefect.resource.role": "tag"}]})
    assert isinstance(trigger, EventTrigger)
    assert trigger.match_related == [{"prefect.resource.role": "tag"}]


def test_composites_nest_and_round_trip_through_json():
    doc = {"type": "sequence", "within": 3600, "triggers": [
        {"type": "event", "posture": "Reactive", "expect": ["a"]},
        {"type": "compound", "require": "all", "within": None, "triggers": [
            {"posture": "Reactive", "expect": ["b"]}, {"posture": "Reactive", "expect": ["c"]}]},
    ]}
    trigger = parse_trigger(doc)
    assert isinstance(trigger, SequenceTrigger)
    assert isinstance(trigger.triggers[1], CompoundTrigger)
    again = parse_trigger(json.loads(json.dumps(trigger.model_dump(mode="json"))))
    assert again == trigger


def test_numeric_string_require_is_coerced():
    trigger = parse_trigger({"type": "compound", "require": "2", "within": 60,
                             "triggers": [{"expect": ["a"]}, {"expect": ["b"]}]})
    assert trigger.require == 2


def test_proactive_within_under_ten_seconds_is_rejected_with_the_field():
    assert problems({"posture": "Proactive", "within": 5}) == [
        ("trigger.within", "a Proactive trigger needs within >= 10 seconds, got 5")]


def test_proactive_within_zero_becomes_ten_seconds():
    assert parse_trigger({"posture": "Proactive"}).within == timedelta(seconds=10)


def test_proactive_threshold_zero_is_rejected_because_it_can_never_fire():
    [(path, reason)] = problems({"posture": "Proactive", "threshold": 0, "within": 60})
    assert path == "trigger.threshold" and "can never fire" in reason


def test_compound_require_out_of_range_names_the_limit():
    [(path, reason)] = problems({"type": "compound", "require": 3, "within": None, "triggers": [{"expect": ["a"]}]})
    assert path == "trigger.require" and "from 1 to 1" in reason


def test_unknown_trigger_type_is_rejected():
    [(path, reason)] = problems({"type": "schedule"})
    assert path == "trigger" and "unknown trigger type" in reason


def test_nested_errors_carry_the_full_path():
    [(path, _)] = problems({"type": "compound", "require": "any", "within": None,
                            "triggers": [{"expect": ["a"]}, {"posture": "Proactive", "within": 1}]})
    assert path == "trigger.triggers.1.within"


def test_misspelled_fields_are_rejected_rather_than_ignored():
    [(path, _)] = problems({"posture": "Reactive", "threshhold": 3})
    assert path == "trigger.threshhold"


def test_label_patterns_must_be_strings():
    [(path, reason)] = problems({"match": {"prefect.resource.id": 3}})
    assert path == "trigger.match" and "must be a string or a list of strings" in reason


def test_metric_trigger_requires_ranges_of_at_least_five_minutes():
    trigger = parse_trigger({"type": "metric", "posture": "Metric", "metric": {
        "name": "successes", "operator": "<", "threshold": 0.9, "range": 3600, "firing_for": 300}})
    assert isinstance(trigger, MetricTrigger)
    [(path, _)] = problems({"type": "metric", "metric": {"name": "duration", "operator": ">", "threshold": 1,
                                                         "range": 60}})
    assert path == "trigger.metric.range"
