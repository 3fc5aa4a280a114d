"""ISO 11649 creditor references: known valid references, and invoice numbers made into them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.domain.references import creditor_reference, format, is_valid

# Published examples of valid RF references (ISO 11649 and banks' guides).
KNOWN_VALID = ["RF18539007547034", "RF18 5390 0754 7034", "RF712348231", "RF45G72UUR",
               "RF6518K5"]


@pytest.mark.parametrize("reference", KNOWN_VALID)
def test_known_references_are_valid(reference: str) -> None:
    assert is_valid(reference)


def test_the_check_digits_of_a_known_reference_are_reproduced() -> None:
    assert creditor_reference("539007547034") == "RF18539007547034"
    assert creditor_reference("2348231") == "RF712348231"


@pytest.mark.parametrize("reference", ["RF19539007547034", "RF18539007547035", "XX18539007547034",
                                       "RF18", "RF1853900754703453900754703"])
def test_a_wrong_check_or_shape_is_invalid(reference: str) -> None:
    assert not is_valid(reference)


def test_separators_of_the_invoice_number_are_dropped() -> None:
    reference = creditor_reference("acme-000001")
    assert reference.endswith("ACME000001") and is_valid(reference)
    assert format(reference) == f"{reference[:4]} {reference[4:8]} {reference[8:12]} " \
                                f"{reference[12:]}"


@pytest.mark.parametrize("number", ["", "---", "A" * 22])
def test_a_number_that_does_not_fit_is_refused(number: str) -> None:
    with pytest.raises(ValueError):
        creditor_reference(number)


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=21)
       .filter(lambda s: s.strip("-")))
def test_every_reference_made_is_valid(number: str) -> None:
    assert is_valid(creditor_reference(number))
