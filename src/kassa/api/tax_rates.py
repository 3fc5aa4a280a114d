"""Tax rates the seller maintains: `/v1/tax_rates`, as Stripe's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from kassa.api.deps import Ctx, Paging, listing
from kassa.api.schemas import TaxRateCreate, TaxRateUpdate
from kassa.services import objects, scoping, tax_rates
from kassa.store import models as m

router = APIRouter(tags=["tax_rates"])


@router.post("/tax_rates")
def create_tax_rate(body: TaxRateCreate, ctx: Ctx) -> dict[str, Any]:
    """A rate for a jurisdiction (GST, HST, PST, QST, US sales tax...). An active rate whose
    validity overlaps another active rate of the same country, state and tax type is
    refused."""
    with ctx.kassa.uow() as uow:
        return objects.tax_rate(tax_rates.create_tax_rate(uow, ctx.org_id, **body.fields()))


@router.get("/tax_rates")
def list_tax_rates(request: Request, ctx: Ctx, page: Paging, country: str | None = None,
                   state: str | None = None, active: bool | None = None,
                   tax_type: str | None = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        result = tax_rates.list_tax_rates(uow, ctx.org_id, country=country, state=state,
                                          active=active, tax_type=tax_type, **page.asdict())
        return listing(request, result, objects.tax_rate)


@router.get("/tax_rates/{tax_rate_id}")
def get_tax_rate(tax_rate_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.tax_rate(scoping.get(uow.session, m.TaxRate, ctx.org_id, tax_rate_id))


@router.post("/tax_rates/{tax_rate_id}")
def update_tax_rate(tax_rate_id: str, body: TaxRateUpdate, ctx: Ctx) -> dict[str, Any]:
    """Change the name, description, metadata, `active` or `valid_until`; the percentage
    of a rate never changes (create a new rate from the day it changes)."""
    with ctx.kassa.uow() as uow:
        return objects.tax_rate(tax_rates.update_tax_rate(uow, ctx.org_id, tax_rate_id,
                                                          **body.fields()))
