"""Pricing models as pure functions: worked examples computed by hand, and properties.

Amounts are in cents and stay exact `Decimal`s in the parts; an invoice line rounds its part
once, half-up (`round_minor`). Each worked example names the public pricing doc whose shape
it follows; the numbers themselves are worked out here, in the comments.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.core.money import round_minor
from kassa.domain.pricing import (
    Part,
    PercentageTerms,
    PriceModel,
    PricingError,
    Tier,
    Transaction,
    TransformQuantity,
    price,
    price_transactions,
    total,
    validate_tiers,
)

D = Decimal

# A three-tier ladder in the shape of the graduated/volume examples of Stripe's tiered pricing
# docs (docs.stripe.com/products-prices/pricing-models#tiered-pricing): 1-5 units at $7.00,
# 6-10 at $6.50, 11+ at $6.00, with flat fees on the first two tiers so that flat amounts are
# exercised too.
LADDER = (
    Tier(5, unit_amount=D(700), flat_amount=D(1000)),
    Tier(10, unit_amount=D(650), flat_amount=D(500)),
    Tier(None, unit_amount=D(600)),
)


def graduated(*tiers: Tier) -> PriceModel:
    return PriceModel(scheme="tiered", tiers_mode="graduated", tiers=tiers or LADDER)


def volume(*tiers: Tier) -> PriceModel:
    return PriceModel(scheme="tiered", tiers_mode="volume", tiers=tiers or LADDER)


def charged(model: PriceModel, quantity: int | Decimal) -> Decimal:
    return total(price(model, D(quantity)))


def summary(parts: list[Part]) -> list[tuple[int | None, Decimal, Decimal]]:
    """(tier, quantity, amount) of each part."""
    return [(part.tier, part.quantity, part.amount) for part in parts]


# --- tiered: graduated and volume ---------------------------------------------------------

def test_graduated_prices_each_unit_in_its_own_tier_with_one_part_per_tier_used():
    # 12 units (Stripe's graduated example shape):
    #   tier 1: 5 x 700 + 1000 flat = 4,500
    #   tier 2: 5 x 650 +  500 flat = 3,750
    #   tier 3: 2 x 600             = 1,200
    #                                 9,450
    parts = price(graduated(), D(12))
    assert summary(parts) == [(1, 5, 4500), (2, 5, 3750), (3, 2, 1200)]
    assert [(p.tier_from, p.tier_to) for p in parts] == [(1, 5), (6, 10), (11, None)]
    assert [(p.unit_amount, p.flat_amount) for p in parts] == [(700, 1000), (650, 500),
                                                               (600, 0)]
    assert total(parts) == 9450


def test_volume_prices_every_unit_at_the_tier_the_total_falls_in():
    # Stripe's volume example shape: the whole quantity takes one tier's price.
    #   12 units -> tier 3: 12 x 600        = 7,200
    #    8 units -> tier 2:  8 x 650 + 500  = 5,700
    [part] = price(volume(), D(12))
    assert (part.tier, part.quantity, part.unit_amount, part.amount) == (3, 12, 600, 7200)
    assert (part.tier_from, part.tier_to) == (11, None)
    [part] = price(volume(), D(8))
    assert (part.tier, part.quantity, part.flat_amount, part.amount) == (2, 8, 500, 5700)
    assert (part.tier_from, part.tier_to) == (6, 10)


@pytest.mark.parametrize("mode", [graduated, volume])
def test_first_tier_flat_amount_is_charged_at_zero_quantity(mode):
    # Stripe: "the flat amount of the first tier is charged even at quantity 0".
    parts = price(mode(), D(0))
    assert summary(parts) == [(1, 0, 1000)]


@pytest.mark.parametrize(("quantity", "expected"), [
    # up_to is inclusive: the 5th unit is still tier 1, the 6th opens tier 2.
    (5, [(1, 5, 4500)]),                                    # 5 x 700 + 1000
    (6, [(1, 5, 4500), (2, 1, 1150)]),                      # + 1 x 650 + 500
    (10, [(1, 5, 4500), (2, 5, 3750)]),                     # + 5 x 650 + 500
    (11, [(1, 5, 4500), (2, 5, 3750), (3, 1, 600)]),        # + 1 x 600
])
def test_graduated_up_to_is_inclusive(quantity, expected):
    assert summary(price(graduated(), D(quantity))) == expected


@pytest.mark.parametrize(("quantity", "expected"), [
    (5, (1, 4500)),     # 5 x 700 + 1000
    (6, (2, 4400)),     # 6 x 650 + 500
    (10, (2, 7000)),    # 10 x 650 + 500
    (11, (3, 6600)),    # 11 x 600
])
def test_volume_up_to_is_inclusive(quantity, expected):
    [part] = price(volume(), D(quantity))
    assert (part.tier, part.amount) == expected


def test_graduated_with_a_free_first_tier_and_decimal_unit_amounts():
    # OpenMeter's tiered pricing docs (openmeter.io/docs, "Tiered pricing": first N units
    # free, then cheaper per unit as usage grows), here for API calls in cents:
    #   1-1,000 free; 1,001-10,000 at 0.5 c; beyond at 0.2 c. 12,500 calls:
    #   0 + 9,000 x 0.5 + 2,500 x 0.2 = 0 + 4,500 + 500 = 5,000 c
    model = graduated(Tier(1000), Tier(10_000, unit_amount=D("0.5")),
                      Tier(None, unit_amount=D("0.2")))
    assert summary(price(model, D(12_500))) == [(1, 1000, 0), (2, 9000, 4500),
                                                (3, 2500, 500)]


# --- per unit and packages ----------------------------------------------------------------

@pytest.mark.parametrize(("rounding", "packages"), [("up", 11), ("down", 10)])
def test_package_pricing_rounds_packages_up_or_down(rounding, packages):
    # Lago's package charge docs (docs.getlago.com/guide/plans/charges/charge-models/package):
    # $5 per package of 100 units. 1,050 units = 10.5 packages -> 11 (up) or 10 (down).
    model = PriceModel(unit_amount=D(500), transform=TransformQuantity(100, rounding))
    [part] = price(model, D(1050))
    assert (part.quantity, part.unit_amount, part.amount) == (packages, 500, packages * 500)


@pytest.mark.parametrize("rounding", ["up", "down"])
@pytest.mark.parametrize(("units", "packages"), [(0, 0), (1000, 10), (100, 1)])
def test_package_pricing_of_whole_packages_does_not_depend_on_rounding(rounding, units,
                                                                       packages):
    model = PriceModel(unit_amount=D(500), transform=TransformQuantity(100, rounding))
    assert summary(price(model, D(units))) == [(None, packages, packages * 500)]


def test_package_rounding_up_charges_a_whole_package_for_one_unit():
    # Stripe's "package pricing" (transform_quantity divide_by 5, round up): 1 seat -> 1 pack.
    model = PriceModel(unit_amount=D(2500), transform=TransformQuantity(5, "up"))
    assert charged(model, 1) == 2500
    assert charged(model, 12) == 3 * 2500  # 12 seats = 2.4 packs -> 3


def test_per_unit_with_a_decimal_unit_amount_is_exact_until_the_line_rounds_half_up():
    # Stripe's unit_amount_decimal (sub-cent prices): 12,345 calls at 0.35 c = 4,320.75 c,
    # kept exact in the part, rounded once on the line: 4,321 c.
    [part] = price(PriceModel(unit_amount=D("0.35")), D(12_345))
    assert part.amount == D("4320.75")
    assert round_minor(part.amount) == 4321
    # Half-up, not half-even: 4 x 0.125 = 0.5 -> 1 (banker's rounding would give 0).
    assert round_minor(charged(PriceModel(unit_amount=D("0.125")), 4)) == 1


def test_negative_quantity_is_refused():
    with pytest.raises(PricingError):
        price(graduated(), D(-1))


def test_a_percentage_price_is_not_priced_from_a_quantity():
    model = PriceModel(scheme="percentage", percentage=PercentageTerms(rate=D("2.9")))
    with pytest.raises(PricingError):
        price(model, D(10))


# --- percentage of transaction volume -----------------------------------------------------

# Stripe's standard card fee (stripe.com/pricing: 2.9% + 30c per successful charge), the
# shape of Lago's percentage charge (docs.getlago.com/guide/plans/charges/charge-models/
# percentage: rate, fixed fee per transaction, free events, free amount, min/max per
# transaction).
CARD_FEE = PercentageTerms(rate=D("2.9"), fixed_fee=D(30))


def fees(terms: PercentageTerms, *amounts: int) -> Part:
    return price_transactions(terms, [Transaction(D(a)) for a in amounts])


def test_percentage_fee_is_rate_plus_fixed_fee_per_transaction():
    # $100.00: 10,000 x 2.9% + 30 = 290 + 30 = 320
    # $5.00:      500 x 2.9% + 30 = 14.5 + 30 = 44.5
    part = fees(CARD_FEE, 10_000, 500)
    assert (part.kind, part.quantity, part.amount) == ("percentage", 2, D("364.5"))
    assert round_minor(part.amount) == 365


def test_percentage_fee_is_clamped_per_transaction_to_minimum_and_maximum():
    # Minimum 50 c, maximum $5.00 per transaction:
    #   $100.00  -> 320            (within bounds)
    #   $5.00    -> 44.5  -> 50    (raised to the minimum)
    #   $1000.00 -> 2,930 -> 500   (capped at the maximum)
    #                        870
    terms = PercentageTerms(rate=D("2.9"), fixed_fee=D(30), minimum_fee=D(50),
                            maximum_fee=D(500))
    assert fees(terms, 10_000, 500, 100_000).amount == 870


def test_the_first_free_events_transactions_carry_no_fee():
    # 2 free transactions, then $1000.00 -> 2,930 and $20.00 -> 58 + 30 = 88: 3,018.
    terms = PercentageTerms(rate=D("2.9"), fixed_fee=D(30), free_events=2)
    part = fees(terms, 10_000, 500, 100_000, 2_000)
    assert (part.quantity, part.amount) == (4, 3018)


def test_free_units_of_volume_span_several_transactions():
    # The first $150.00 of volume carries no percentage (the fixed fee still applies):
    #   $100.00: all 10,000 waived            -> 0   + 30 =  30
    #   $100.00: 5,000 waived, 5,000 charged  -> 145 + 30 = 175
    #   $100.00: nothing left to waive        -> 290 + 30 = 320
    #                                                        525
    # = 3 x 320 - 2.9% of the 15,000 waived (435).
    terms = PercentageTerms(rate=D("2.9"), fixed_fee=D(30), free_units=D(15_000))
    assert fees(terms, 10_000, 10_000, 10_000).amount == 525 == 3 * 320 - 435


def test_a_refund_does_not_enlarge_the_free_volume():
    # Sum meters accept negative values (refunds), and each event is a transaction. With
    # 50.00 of free volume at 2.9%, a 100.00 sale costs 5,000 x 2.9% = 145 whether or not a
    # refund came before it: the allowance is volume sold, not volume sold minus refunds
    # (a refund once "waived" a negative amount, growing the allowance by 10,000).
    terms = PercentageTerms(rate=D("2.9"), free_units=D(5000))
    assert fees(terms, 10_000).amount == 145
    assert fees(terms, -10_000, 10_000).amount - fees(terms, -10_000).amount == 145


def test_no_transactions_cost_nothing():
    part = fees(PercentageTerms(rate=D("2.9"), fixed_fee=D(30), minimum_fee=D(50)))
    assert (part.quantity, part.amount) == (0, 0)


# --- validation ---------------------------------------------------------------------------

@pytest.mark.parametrize("tiers", [
    pytest.param([], id="empty"),
    pytest.param([Tier(10, D(1)), Tier(20, D(1))], id="no unbounded tier"),
    pytest.param([Tier(None, D(1)), Tier(10, D(1))], id="unbounded tier not last"),
    pytest.param([Tier(10, D(1)), Tier(None, D(1)), Tier(None, D(1))], id="two unbounded"),
    pytest.param([Tier(10, D(1)), Tier(10, D(1)), Tier(None, D(1))], id="up_to repeated"),
    pytest.param([Tier(20, D(1)), Tier(10, D(1)), Tier(None, D(1))], id="up_to decreasing"),
    pytest.param([Tier(0, D(1)), Tier(None, D(1))], id="up_to zero"),
    pytest.param([Tier(10, D(-1)), Tier(None, D(1))], id="negative unit amount"),
    pytest.param([Tier(10, D(1)), Tier(None, D(1), D(-5))], id="negative flat amount"),
])
def test_validate_tiers_rejects(tiers):
    with pytest.raises(PricingError):
        validate_tiers(tiers)


def test_validate_tiers_accepts_a_well_formed_ladder():
    validate_tiers(LADDER)
    validate_tiers([Tier(None, D(0), D(0))])


# --- properties ---------------------------------------------------------------------------

amounts = st.decimals(min_value=0, max_value=10_000, places=3, allow_nan=False,
                      allow_infinity=False)
quantities = st.integers(0, 5_000).map(Decimal)


@st.composite
def ladders(draw: st.DrawFn) -> tuple[Tier, ...]:
    """Valid tiers: strictly increasing bounds, the last one unbounded."""
    bounds = sorted(draw(st.sets(st.integers(1, 2_000), max_size=5)))
    tiers = [Tier(up_to, draw(amounts), draw(amounts)) for up_to in bounds]
    return (*tiers, Tier(None, draw(amounts), draw(amounts)))


def reference_graduated(tiers: tuple[Tier, ...], quantity: Decimal) -> Decimal:
    """Graduated pricing written the long way: every tier the quantity reaches charges its
    flat amount and its share of units (tier 1 is always reached)."""
    amount, lower = Decimal(0), 0
    for index, tier in enumerate(tiers):
        if index > 0 and quantity <= lower:
            break
        upper = quantity if tier.up_to is None else min(quantity, Decimal(tier.up_to))
        amount += (upper - lower) * tier.unit_amount + tier.flat_amount
        lower = tier.up_to or 0
    return amount


@given(unit=amounts, flat=amounts, quantity=quantities)
def test_graduated_and_volume_agree_on_a_single_unbounded_tier(unit, flat, quantity):
    tier = Tier(None, unit, flat)
    assert charged(graduated(tier), quantity) == charged(volume(tier), quantity) \
        == quantity * unit + flat


@given(tiers=ladders(), quantity=quantities, more=quantities)
def test_more_usage_never_lowers_a_graduated_charge(tiers, quantity, more):
    assert charged(graduated(*tiers), quantity + more) >= charged(graduated(*tiers), quantity)


def test_more_usage_can_lower_a_volume_charge():
    # Not a bug: volume pricing is not monotone. 1-10 units at $10, 11+ at $5:
    #   10 units -> 10 x 1,000 = 10,000;  11 units -> 11 x 500 = 5,500.
    model = volume(Tier(10, D(1000)), Tier(None, D(500)))
    assert charged(model, 10) == 10_000
    assert charged(model, 11) == 5_500


@given(tiers=ladders(), quantity=quantities)
def test_graduated_parts_add_up_to_the_charge_and_the_quantity(tiers, quantity):
    parts = price(graduated(*tiers), quantity)
    assert total(parts) == sum((p.quantity * p.unit_amount + p.flat_amount for p in parts),
                               Decimal(0)) == reference_graduated(tiers, quantity)
    assert sum(p.quantity for p in parts) == quantity
    assert [p.tier for p in parts] == list(range(1, len(parts) + 1))
    assert all(p.quantity >= 0 for p in parts)


@given(tiers=ladders(), quantity=quantities)
def test_volume_charges_the_one_tier_the_quantity_falls_in(tiers, quantity):
    [part] = price(volume(*tiers), quantity)
    tier = tiers[part.tier - 1]
    assert tier.up_to is None or quantity <= tier.up_to
    if part.tier > 1:  # and the tier below does not reach it
        assert tiers[part.tier - 2].up_to < quantity
    assert part.amount == quantity * tier.unit_amount + tier.flat_amount


fee_amounts = st.decimals(min_value=0, max_value=500, places=2, allow_nan=False,
                          allow_infinity=False)


@st.composite
def percentage_terms(draw: st.DrawFn) -> PercentageTerms:
    low, high = sorted(draw(st.lists(fee_amounts, min_size=2, max_size=2)))
    return PercentageTerms(
        rate=draw(st.decimals(min_value=0, max_value=100, places=2, allow_nan=False,
                              allow_infinity=False)),
        fixed_fee=draw(fee_amounts), free_units=draw(st.integers(0, 50_000).map(Decimal)),
        free_events=draw(st.integers(0, 5)), minimum_fee=low, maximum_fee=high)


@given(terms=percentage_terms(),
       amounts=st.lists(st.integers(0, 1_000_000).map(Decimal), max_size=20))
def test_percentage_fee_stays_between_the_minimum_and_maximum_per_charged_transaction(
        terms, amounts):
    part = price_transactions(terms, [Transaction(a) for a in amounts])
    charged_transactions = max(len(amounts) - terms.free_events, 0)
    assert terms.minimum_fee is not None and terms.maximum_fee is not None
    assert charged_transactions * terms.minimum_fee <= part.amount \
        <= charged_transactions * terms.maximum_fee
    assert part.quantity == len(amounts)
