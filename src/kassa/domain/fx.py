"""Currency conversion for reports, from stored exchange rates (e.g. the ECB's reference rates).

For reporting only: what a customer is billed or owes is never converted. A rate says how
many units of `currency` one unit of `base` bought on a day. `convert` takes the rate of the
day asked or, as the ECB publishes on business days only, the nearest publication before it
(or after it, where a rule asks for that: the EU's OSS return takes the ECB rate of the
quarter's last day or, failing one, of the next publication). It converts directly, by the
inverse of the opposite pair, or across the euro, and rounds once, half-up, to the target
currency's minor unit (ISO 4217 exponent: JPY 0, EUR 2, KWD 3).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, localcontext
from typing import Literal

from kassa.core.errors import ExchangeRateMissing
from kassa.core.money import exponent, round_minor

PIVOT = "eur"  # the ECB's base: any two currencies it quotes convert across it

Direction = Literal["previous", "next"]


@dataclass(frozen=True)
class Rate:
    """One unit of `base` bought `rate` units of `currency` on `day` (codes lower case)."""

    day: date
    base: str
    currency: str
    rate: Decimal


@dataclass(frozen=True)
class Quote:
    """The factor that turns an amount in one currency into another, and the days of the
    rates it was made from."""

    factor: Decimal
    days: tuple[date, ...]


class RateTable:
    """Rates indexed by currency pair, each pair's days in order."""

    def __init__(self, rates: Iterable[Rate]) -> None:
        self._pairs: dict[tuple[str, str], dict[date, Decimal]] = {}
        for rate in rates:
            self._pairs.setdefault((rate.base.lower(), rate.currency.lower()), {})[rate.day] = \
                rate.rate

    def _find(self, base: str, currency: str, on: date, direction: Direction,
              within_days: int | None) -> tuple[Decimal, date] | None:
        days = self._pairs.get((base, currency))
        if not days:
            return None
        if direction == "previous":
            found = [day for day in days if day <= on]
            day = max(found) if found else None
            limit = on - timedelta(days=within_days) if within_days is not None else None
            ok = day is not None and (limit is None or day >= limit)
        else:
            found = [day for day in days if day >= on]
            day = min(found) if found else None
            limit = on + timedelta(days=within_days) if within_days is not None else None
            ok = day is not None and (limit is None or day <= limit)
        return (days[day], day) if ok and day is not None else None

    def _leg(self, source: str, target: str, on: date, direction: Direction,
             within_days: int | None) -> Quote | None:
        direct = self._find(source, target, on, direction, within_days)
        if direct is not None:
            return Quote(direct[0], (direct[1],))
        inverse = self._find(target, source, on, direction, within_days)
        if inverse is not None:
            return Quote(1 / inverse[0], (inverse[1],))
        return None

    def quote(self, source: str, target: str, on: date, *, direction: Direction = "previous",
              within_days: int | None = None) -> Quote:
        """The factor from `source` to `target` for `on`: a direct rate, the inverse of the
        opposite one, or the product of both currencies' rates against the euro. Rates are
        taken from `on` or the nearest publication before it (`direction="next"`: after
        it), at most `within_days` away. Raises `ExchangeRateMissing` when none is stored."""
        source, target = source.lower(), target.lower()
        if source == target:
            return Quote(Decimal(1), ())
        with localcontext() as context:
            context.prec = 40
            quote = self._leg(source, target, on, direction, within_days)
            if quote is None and PIVOT not in (source, target):
                to_pivot = self._leg(source, PIVOT, on, direction, within_days)
                from_pivot = self._leg(PIVOT, target, on, direction, within_days)
                if to_pivot is not None and from_pivot is not None:
                    quote = Quote(to_pivot.factor * from_pivot.factor,
                                  to_pivot.days + from_pivot.days)
        if quote is None:
            where = "on or before" if direction == "previous" else "on or after"
            raise ExchangeRateMissing(
                f"No exchange rate from {source.upper()} to {target.upper()} {where} "
                f"{on.isoformat()}" + (f" (within {within_days} days)" if within_days
                                       is not None else "") + ".")
        return quote


def convert(amount_minor: int, from_currency: str, to_currency: str, on: date,
            rates: RateTable | Iterable[Rate], *, direction: Direction = "previous",
            within_days: int | None = None) -> int:
    """`amount_minor` (minor units of `from_currency`) in minor units of `to_currency` at the
    rate for `on` (see `RateTable.quote`), rounded once, half-up. For reports only: never
    use it to change what a customer is billed. Raises `ExchangeRateMissing` without a rate."""
    table = rates if isinstance(rates, RateTable) else RateTable(rates)
    quote = table.quote(from_currency, to_currency, on, direction=direction,
                        within_days=within_days)
    return apply(amount_minor, from_currency, to_currency, quote.factor)


def apply(amount_minor: int, from_currency: str, to_currency: str, factor: Decimal) -> int:
    """`amount_minor` of `from_currency` times `factor`, in minor units of `to_currency`,
    rounded once, half-up (the exponents of both currencies respected)."""
    shift = exponent(to_currency) - exponent(from_currency)
    with localcontext() as context:
        context.prec = 60
        return round_minor(Decimal(amount_minor) * factor * Decimal(10) ** shift)
