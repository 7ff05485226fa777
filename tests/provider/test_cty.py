"""cty MessagePack codec: round trips, Terraform's unknown markers, big numbers."""

from __future__ import annotations

import pytest

from tocsin.provider.cty import Unknown, as_number, is_known, pack, unpack


@pytest.mark.parametrize("value", [
    None, True, False, 0, 1, 127, 128, -1, -33, 70000, -(2**40), 2**63 + 5, 1.5, "", "x" * 31, "y" * 300,
    "z" * 70000, [], [1, "a", None], {"a": {"b": [1, 2, {"c": None}]}}, {f"k{i}": i for i in range(20)},
    list(range(20)),
])
def test_values_round_trip(value: object) -> None:
    assert unpack(pack(value)) == value


def test_unknown_round_trips_and_refined_unknowns_read_as_unknown() -> None:
    assert unpack(pack({"id": Unknown})) == {"id": Unknown}
    assert unpack(b"\xd4\x00\x00") is Unknown
    assert unpack(b"\xc7\x03\x0c\x81\x01\xc3") is Unknown  # ext 12: unknown with refinements
    assert not is_known({"a": [1, Unknown]}) and is_known({"a": [1]})


def test_numbers_sent_as_strings_become_numbers() -> None:
    assert as_number("12") == 12 and as_number("1.5") == 1.5 and as_number(2.0) == 2


def test_numbers_too_big_for_64_bits_travel_as_decimal_strings() -> None:
    assert unpack(pack(2**70)) == str(2**70)
