"""`GET /v1/reports/{name}`: the business reports (services/reports.py) as JSON or CSV, and
`/v1/acquisition_costs`, the spend CAC is computed from."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from kassa.api.deps import Ctx, Paging, listing
from kassa.api.schemas import AcquisitionCostCreate, AcquisitionCostUpdate, UnixTime
from kassa.core.clock import from_unix
from kassa.services import acquisition_costs, reports, scoping
from kassa.store import models as m

router = APIRouter(tags=["reports"])

# mrr, customers, retention, cohorts, unit_economics, cash, ar_aging, late_payers; any
# other name is "not found" (services/reports.NAMES)
ReportName = Annotated[str, Path(max_length=40)]
MonthParam = Annotated[str, Query(max_length=7, pattern=r"^\d{4}-\d{2}$")]


@router.get("/reports/{name}", responses={200: {"content": {"text/csv": {}}}})
def get_report(name: ReportName, ctx: Ctx,
               first: Annotated[str | None, Query(alias="from", max_length=7,
                                                  pattern=r"^\d{4}-\d{2}$")] = None,
               last: Annotated[str | None, Query(alias="to", max_length=7,
                                                 pattern=r"^\d{4}-\d{2}$")] = None,
               as_of: UnixTime | None = None,
               format: Literal["json", "csv"] = "json") -> Any:
    """A report for the months `from` to `to` (YYYY-MM; default the twelve months up to
    now), as known at `as_of` (a Unix time; default now), in the reporting currency's minor
    units: `mrr` (MRR, ARR, new, expansion, contraction, churn, reactivation, FX
    difference, discounts, metered revenue), `customers` (paying customers and
    subscriptions, new, reactivated, churned, trialing, ARPA), `retention` (logo and
    revenue churn rates, net and gross revenue retention), `cohorts` (retention by start
    month), `unit_economics` (CLTV, CAC, CAC payback), `cash` (invoiced, collected,
    refunded, receivables, DSO, failed-payment rate, dunning recovery), `ar_aging`
    (receivables by days past due at `as_of`, per customer) and `late_payers`.
    `format=csv` gives the table as CSV."""
    with ctx.kassa.reports_uow() as uow:
        body = reports.report(uow, ctx.org_id, name, first=first, last=last,
                              as_of=from_unix(as_of) if as_of is not None else None)
    if format == "json":
        return body
    header, rows = reports.csv_rows(body)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return Response(out.getvalue(), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{name}-{body["from"]}-{body["to"]}.csv"'})


@router.post("/acquisition_costs")
def create_acquisition_cost(body: AcquisitionCostCreate, ctx: Ctx) -> dict[str, Any]:
    """What was spent on acquiring customers in one month through one channel."""
    with ctx.kassa.uow() as uow:
        return acquisition_costs.to_object(acquisition_costs.create(uow, ctx.org_id,
                                                                    **body.fields()))


@router.get("/acquisition_costs")
def list_acquisition_costs(request: Request, ctx: Ctx, page: Paging,
                           month: MonthParam | None = None,
                           channel: Annotated[str, Query(max_length=60)] | None = None
                           ) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        query = select(m.AcquisitionCost).where(m.AcquisitionCost.org_id == ctx.org_id)
        if month is not None:
            query = query.where(m.AcquisitionCost.month == month)
        if channel is not None:
            query = query.where(m.AcquisitionCost.channel == channel)
        result = scoping.paginate(uow.session, query, m.AcquisitionCost, **page.asdict())
        return listing(request, result, acquisition_costs.to_object)


@router.get("/acquisition_costs/{cost_id}")
def get_acquisition_cost(cost_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return acquisition_costs.to_object(scoping.get(uow.session, m.AcquisitionCost,
                                                       ctx.org_id, cost_id))


@router.post("/acquisition_costs/{cost_id}")
def update_acquisition_cost(cost_id: str, body: AcquisitionCostUpdate,
                            ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return acquisition_costs.to_object(acquisition_costs.update(uow, ctx.org_id, cost_id,
                                                                    **body.fields()))


@router.delete("/acquisition_costs/{cost_id}")
def delete_acquisition_cost(cost_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        acquisition_costs.delete(uow, ctx.org_id, cost_id)
        return {"id": cost_id, "object": "acquisition_cost", "deleted": True}
