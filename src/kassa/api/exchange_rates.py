"""Exchange rates for reports: `/v1/exchange_rates`, and the import of the ECB's reference
rates. For reporting only: no customer is ever billed at a converted amount."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from kassa.adapters import ecb
from kassa.api import bodies
from kassa.api.deps import Ctx, Paging, listing
from kassa.api.schemas import ExchangeRateCreate
from kassa.config import Kassa
from kassa.services import exchange_rates, objects

router = APIRouter(tags=["exchange_rates"])

XML_TYPES = ("application/xml", "text/xml")


@router.post("/exchange_rates")
def create_exchange_rate(body: ExchangeRateCreate, ctx: Ctx) -> dict[str, Any]:
    """How many units of `currency` one `base` bought on `date`. A rate for the same day and
    pair already stored is a 409."""
    with ctx.kassa.uow() as uow:
        return objects.exchange_rate(exchange_rates.create_exchange_rate(uow, ctx.org_id,
                                                                         **body.fields()))


@router.get("/exchange_rates")
def list_exchange_rates(request: Request, ctx: Ctx, page: Paging, base: str | None = None,
                        currency: str | None = None,
                        date_gte: Annotated[str | None, Query(alias="date[gte]",
                                                              max_length=12)] = None,
                        date_lte: Annotated[str | None, Query(alias="date[lte]",
                                                              max_length=12)] = None,
                        ) -> dict[str, Any]:
    """Rates, newest first; `date[gte]` and `date[lte]` (YYYY-MM-DD or Unix) bound the days."""
    with ctx.kassa.uow() as uow:
        result = exchange_rates.list_exchange_rates(
            uow, ctx.org_id, base=base, currency=currency, date_gte=date_gte,
            date_lte=date_lte, **page.asdict())
        return listing(request, result, objects.exchange_rate)


async def _xml_body(request: Request) -> bytes:
    """The request body, refused unless XML of at most `ecb.MAX_BYTES`."""
    return await bodies.read(
        request, types=XML_TYPES, max_bytes=ecb.MAX_BYTES,
        wrong_type="Send the ECB file as the body, with Content-Type: application/xml.",
        too_large=f"The file is larger than {ecb.MAX_BYTES // (1024 * 1024)} MB; import it "
                  "with `kassa import-ecb PATH`.")


def _import(kassa: Kassa, org_id: str, data: bytes) -> dict[str, Any]:
    references = ecb.parse(data)
    with kassa.uow() as uow:
        return exchange_rates.import_ecb(uow, org_id, references).asdict()


@router.post("/exchange_rates/import_ecb", openapi_extra={"requestBody": {
    "required": True, "content": {"application/xml": {"schema": {
        "type": "string", "description": "eurofxref-daily.xml or eurofxref-hist.xml"}}}}})
async def import_ecb(request: Request, ctx: Ctx) -> dict[str, Any]:
    """Import the ECB's euro reference rates (the XML of `eurofxref-daily.xml`,
    `eurofxref-hist-90d.xml` or `eurofxref-hist.xml`, up to 20 MB) as rates with base EUR.
    Days already stored are left as they are, so importing a file twice adds nothing."""
    data = await _xml_body(request)
    return await run_in_threadpool(_import, ctx.kassa, ctx.org_id, data)
