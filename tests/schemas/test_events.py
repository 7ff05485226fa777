"""Event model limits and label matching (semantics §1-3)."""

from fnmatch import fnmatchcase

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin.schemas.events import Event, EventNamePattern, ResourceSpecification


def make(**kw):
    base = {"event": "x", "resource": {"prefect.resource.id": "r"}}
    return Event.model_validate({**base, **kw})


def test_resource_needs_a_non_empty_id():
    with pytest.raises(pydantic.ValidationError, match="prefect.resource.id"):
        make(resource={"prefect.resource.id": ""})


def test_related_resources_need_a_role():
    with pytest.raises(pydantic.ValidationError, match="prefect.resource.role"):
        make(related=[{"prefect.resource.id": "a"}])


def test_label_values_must_be_strings():
    with pytest.raises(pydantic.ValidationError, match="must be a string"):
        make(resource={"prefect.resource.id": "r", "n": 3})


def test_event_names_longer_than_1024_are_rejected():
    with pytest.raises(pydantic.ValidationError):
        make(event="e" * 1025)


def test_more_than_100_related_resources_are_rejected():
    related = [{"prefect.resource.id": f"r{i}", "prefect.resource.role": "x"} for i in range(101)]
    with pytest.raises(pydantic.ValidationError):
        make(related=related)


def test_related_label_lookup_reads_the_first_resource_with_that_role():
    event = make(related=[
        {"prefect.resource.id": "a", "prefect.resource.role": "tag", "prefect.resource.name": "first"},
        {"prefect.resource.id": "b", "prefect.resource.role": "tag", "prefect.resource.name": "second"},
    ])
    assert event.find_resource_label("related:tag:prefect.resource.name") == "first"
    assert event.find_resource_label("related:flow:prefect.resource.name") is None
    assert event.find_resource_label("prefect.resource.id") == "r"


def test_globs_match_whole_values_case_sensitively():
    spec = ResourceSpecification({"name": "prod-*"})
    assert spec.matches({"name": "prod-eu"})
    assert not spec.matches({"name": "Prod-eu"})
    assert not spec.matches({"name": "xprod-eu"})


def test_negation_never_matches_a_missing_label():
    spec = ResourceSpecification({"env": "!dev"})
    assert spec.matches({"env": "prod"})
    assert not spec.matches({"env": "dev"})
    assert not spec.matches({})


def test_list_values_are_ored_even_for_negations():
    assert ResourceSpecification({"env": ["!a", "!b"]}).matches({"env": "a"})
    assert not ResourceSpecification({"env": []}).matches({"env": "a"})


def test_empty_spec_includes_even_no_candidates():
    assert ResourceSpecification({}).includes([])
    assert not ResourceSpecification({"a": "b"}).includes([])


def test_event_name_star_needs_at_least_one_character_and_question_mark_is_literal():
    pattern = EventNamePattern("prefect.flow-run.*")
    assert pattern.matches("prefect.flow-run.Failed")
    assert not pattern.matches("prefect.flow-run.")
    assert not EventNamePattern("a?c").matches("abc")
    assert EventNamePattern("a?c").matches("a?c")


label_values = st.text(alphabet="ab-*?[]!", max_size=6)


@given(pattern=st.text(alphabet="ab-*?", max_size=5), value=st.text(alphabet="ab-", max_size=5))
def test_positive_patterns_agree_with_fnmatchcase(pattern, value):
    assert ResourceSpecification({"l": pattern}).matches({"l": value}) == fnmatchcase(value, pattern)


@given(pattern=st.text(alphabet="ab-*?", max_size=5), value=st.text(alphabet="ab-", max_size=5))
def test_a_negated_pattern_is_the_complement_for_present_labels(pattern, value):
    positive = ResourceSpecification({"l": pattern}).matches({"l": value})
    negative = ResourceSpecification({"l": "!" + pattern}).matches({"l": value})
    assert positive != negative
    assert not ResourceSpecification({"l": "!" + pattern}).matches({})


@given(patterns=st.lists(st.text(alphabet="ab*", max_size=4), max_size=3), value=st.text(alphabet="ab", max_size=4))
def test_a_list_matches_when_any_pattern_matches(patterns, value):
    expected = any(fnmatchcase(value, p) for p in patterns)
    assert ResourceSpecification({"l": patterns}).matches({"l": value}) == expected
