"""Tax rates the seller maintains (GST, HST, PST, QST, US sales tax...), as Stripe's tax rates.

A rate's percentage never changes: when a jurisdiction changes its rate, the old rate gets a
`valid_until` and a new rate is created from that day on. Among active rates, the validity
ranges of one jurisdiction (country, state, tax type) never overlap, so exactly one rate of
each tax applies on any day. Validity is by calendar date: a timestamp counts as its UTC date.
`domain/tax_rates.applicable` picks the rates a supply owes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from kassa.core.clock import day_start, parse_day
from kassa.core.errors import InvalidRequest
from kassa.core.ids import new_id
from kassa.core.money import parse_decimal
from kassa.domain import tax_rates as domain
from kassa.services import events, objects, organizations, prefetch, scoping, validation
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

MAX_DISPLAY_NAME = 50
MAX_DECIMALS = 4


@dataclass(frozen=True)
class ExampleLoad:
    """What `load_examples` did: the rates it created, and those it left out, with why."""

    created: list[m.TaxRate]
    skipped: list[tuple[domain.RateTerms, str]]


def create_tax_rate(uow: UnitOfWork, org_id: str, *, display_name: Any, tax_type: Any,
                    country: Any, percentage: Any, state: Any = None, inclusive: Any = False,
                    valid_from: Any = None, valid_until: Any = None, description: Any = None,
                    active: Any = True, metadata: dict[str, Any] | None = None
                    ) -> m.TaxRate:
    """A new rate for a jurisdiction; refused when an active rate of the same jurisdiction
    and tax type is valid on any of the same days."""
    organizations.get_organization(uow.session, org_id, lock=True)  # one writer of rates
    rate = _add(uow, org_id, display_name=display_name, tax_type=tax_type, country=country,
                percentage=percentage, state=state, inclusive=inclusive,
                valid_from=valid_from, valid_until=valid_until, description=description,
                active=active, metadata=metadata)
    uow.commit()
    return rate


def update_tax_rate(uow: UnitOfWork, org_id: str, rate_id: str, *, display_name: Any = ...,
                    description: Any = ..., active: Any = None, metadata: Any = None,
                    valid_until: Any = ...) -> m.TaxRate:
    """Rename, describe, archive or reactivate a rate, or end (or re-open) its validity.
    The percentage, jurisdiction and start never change: create a new rate instead."""
    organizations.get_organization(uow.session, org_id, lock=True)
    rate = scoping.get(uow.session, m.TaxRate, org_id, rate_id, lock=True)
    before = objects.tax_rate(rate)
    if display_name is not ...:
        rate.display_name = _display_name(display_name)
    if description is not ...:
        rate.description = description
    if metadata is not None:
        rate.metadata_ = validation.merge_metadata(rate.metadata_, metadata)
    if active is not None:
        if not isinstance(active, bool):
            raise InvalidRequest("active is true or false.", param="active")
        rate.active = active
    if valid_until is not ...:
        until = None if valid_until is None else parse_day(valid_until, "valid_until")
        _check_range(_day(rate.valid_from), until)
        rate.valid_until = day_start(until) if until else None
    if rate.active and (active or valid_until is not ...):
        _refuse_overlap(uow, org_id, terms(rate),
                        param="valid_until" if valid_until is not ... else "active")
    after = objects.tax_rate(rate)
    events.record(uow.session, org_id, "tax_rate.updated", after, uow.clock.now(),
                  {k: v for k, v in before.items() if after.get(k) != v})
    uow.commit()
    return rate


def list_tax_rates(uow: UnitOfWork, org_id: str, *, country: str | None = None,
                   state: str | None = None, active: bool | None = None,
                   tax_type: str | None = None, **page: Any) -> scoping.Page:
    """The organization's rates, newest first, optionally of one country, state, tax type,
    or only active (or archived) ones."""
    query = select(m.TaxRate).where(m.TaxRate.org_id == org_id)
    if country is not None:
        query = query.where(m.TaxRate.country == country.upper())
    if state is not None:
        query = query.where(m.TaxRate.state == state.upper())
    if active is not None:
        query = query.where(m.TaxRate.active.is_(active))
    if tax_type is not None:
        query = query.where(m.TaxRate.tax_type == tax_type)
    return scoping.paginate(uow.session, query, m.TaxRate, **page)


def rate_terms(uow: UnitOfWork, org_id: str) -> list[domain.RateTerms]:
    """The organization's active rates, for `domain.tax_rates.applicable`."""
    def load() -> list[domain.RateTerms]:
        rows = uow.session.scalars(select(m.TaxRate).where(
            m.TaxRate.org_id == org_id, m.TaxRate.active.is_(True)).order_by(m.TaxRate.id))
        return [terms(row) for row in rows]

    batch = prefetch.of(uow.session)
    return batch.remember(("tax_rates", org_id), load) if batch else load()


def terms(rate: m.TaxRate) -> domain.RateTerms:
    """A stored rate as the plain data the domain works with (validity by UTC date)."""
    return domain.RateTerms(
        id=rate.id, display_name=rate.display_name, tax_type=rate.tax_type,
        country=rate.country, state=rate.state, percentage=rate.percentage,
        inclusive=rate.inclusive, valid_from=_day(rate.valid_from),
        valid_until=_day(rate.valid_until))


def load_examples(uow: UnitOfWork, org_id: str) -> ExampleLoad:
    """Create the example rates shipped with Kassa (`domain.tax_rates.example_rates`) in one
    transaction. An example already there (same jurisdiction, type, percentage and dates) or
    overlapping one of the seller's own rates is skipped, so loading twice adds nothing."""
    organizations.get_organization(uow.session, org_id, lock=True)
    descriptions = domain.example_descriptions()
    existing = rate_terms(uow, org_id)
    created, skipped = [], []
    for example in domain.example_rates():
        same = [own for own in existing if domain.same_jurisdiction(own, example)]
        if any(_same_terms(own, example) for own in same):
            skipped.append((example, "already there"))
            continue
        clash = next((own for own in same if domain.overlaps(
            own.valid_from, own.valid_until, example.valid_from, example.valid_until)), None)
        if clash is not None:
            skipped.append((example, f"overlaps {clash.id}"))
            continue
        created.append(_add(
            uow, org_id, display_name=example.display_name, tax_type=example.tax_type,
            country=example.country, state=example.state, percentage=example.percentage,
            inclusive=example.inclusive, valid_from=_iso(example.valid_from),
            valid_until=_iso(example.valid_until), description=descriptions.get(example.id),
            active=True, metadata={"kassa_example": example.id}))
        existing.append(terms(created[-1]))
    uow.commit()
    return ExampleLoad(created, skipped)


# --- checks ---------------------------------------------------------------------------------

def _add(uow: UnitOfWork, org_id: str, *, display_name: Any, tax_type: Any, country: Any,
         percentage: Any, state: Any, inclusive: Any, valid_from: Any, valid_until: Any,
         description: Any, active: Any, metadata: dict[str, Any] | None) -> m.TaxRate:
    if tax_type not in domain.TAX_TYPES:
        raise InvalidRequest(f"tax_type is one of {', '.join(domain.TAX_TYPES)}.",
                             param="tax_type")
    country = validation.country(country, param="country")
    state = _state(country, state)
    start = None if valid_from is None else parse_day(valid_from, "valid_from")
    until = None if valid_until is None else parse_day(valid_until, "valid_until")
    _check_range(start, until)
    if not isinstance(inclusive, bool):
        raise InvalidRequest("inclusive is true or false.", param="inclusive")
    if not isinstance(active, bool):
        raise InvalidRequest("active is true or false.", param="active")
    rate = m.TaxRate(
        id=new_id("txr"), org_id=org_id, display_name=_display_name(display_name),
        description=description, tax_type=tax_type, country=country, state=state,
        percentage=_percentage(percentage), inclusive=inclusive,
        valid_from=day_start(start) if start else None,
        valid_until=day_start(until) if until else None, active=active,
        metadata_=validation.merge_metadata({}, metadata or {}), created=uow.clock.now())
    if active:
        _refuse_overlap(uow, org_id, terms(rate))
    uow.session.add(rate)
    events.record(uow.session, org_id, "tax_rate.created", objects.tax_rate(rate),
                  rate.created)
    return rate


def _refuse_overlap(uow: UnitOfWork, org_id: str, rate: domain.RateTerms, *,
                    param: str | None = None) -> None:
    """Refuse `rate` when an active rate of its jurisdiction shares a day with it, naming
    `param` or else the end of the new range that lies in the other one."""
    query = select(m.TaxRate).where(
        m.TaxRate.org_id == org_id, m.TaxRate.active.is_(True),
        m.TaxRate.country == rate.country, m.TaxRate.tax_type == rate.tax_type,
        m.TaxRate.id != rate.id,
        m.TaxRate.state == rate.state if rate.state else m.TaxRate.state.is_(None))
    for other in map(terms, uow.session.scalars(query)):
        if domain.overlaps(rate.valid_from, rate.valid_until, other.valid_from,
                           other.valid_until):
            place = rate.country + (f"-{rate.state}" if rate.state else "")
            if param is None:
                starts_inside = rate.valid_from is None or other.valid_on(rate.valid_from)
                param = "valid_from" if starts_inside else "valid_until"
            raise InvalidRequest(
                f"The active {other.tax_type} rate {other.id} for {place} is valid "
                f"{_describe(other)}, which overlaps this rate's validity "
                f"({_describe(rate)}). End it first (valid_until), or archive it.",
                param=param, code="tax_rate_overlap")


def _describe(rate: domain.RateTerms) -> str:
    start = f"from {rate.valid_from}" if rate.valid_from else "from the start"
    return f"{start} {f'until {rate.valid_until}' if rate.valid_until else 'on'}"


def _display_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest("A tax rate needs a display_name, e.g. 'GST'.",
                             param="display_name")
    if len(value.strip()) > MAX_DISPLAY_NAME:
        raise InvalidRequest(f"display_name is at most {MAX_DISPLAY_NAME} characters.",
                             param="display_name")
    return value.strip()


def _state(country: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidRequest("state is an ISO 3166-2 subdivision code such as 'ON' or 'NY'.",
                             param="state")
    code = value.upper().removeprefix(f"{country}-")
    if not domain.is_subdivision(country, code):
        kind = {"CA": "a Canadian province or territory", "US": "a US state"}.get(
            country, "a subdivision code (1-3 letters or digits)")
        raise InvalidRequest(f"state {value!r} is not {kind} (ISO 3166-2).", param="state")
    return code


def _percentage(value: Any) -> Decimal:
    if isinstance(value, float):
        raise InvalidRequest("Give the percentage as a string, e.g. \"9.975\", or as a whole "
                             "number.", param="percentage")
    percentage = parse_decimal(value, param="percentage")
    if not 0 <= percentage <= 100:
        raise InvalidRequest("percentage is from 0 to 100.", param="percentage")
    exponent = percentage.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_DECIMALS:
        raise InvalidRequest(f"percentage has at most {MAX_DECIMALS} decimals.",
                             param="percentage")
    return percentage


def _check_range(start: date | None, until: date | None) -> None:
    if start is not None and until is not None and until <= start:
        raise InvalidRequest("valid_until is after valid_from.", param="valid_until")


def _same_terms(a: domain.RateTerms, b: domain.RateTerms) -> bool:
    return (a.percentage, a.valid_from, a.valid_until) == (b.percentage, b.valid_from,
                                                           b.valid_until)


def _day(value: Any) -> date | None:
    return None if value is None else value.date()


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()
