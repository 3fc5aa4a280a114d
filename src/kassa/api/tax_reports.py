"""Tax reports: `/v1/tax_reports/oss` (the EU One-Stop Shop return of a quarter) and
`/v1/tax_reports/vat_summary`, as JSON or, with `?format=csv`, as CSV (amounts in major units).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal, localcontext
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from kassa.api.deps import Ctx
from kassa.core.clock import parse_day
from kassa.core.money import exponent, to_major
from kassa.domain import tax_reports as domain
from kassa.services import tax_reports
from kassa.services.objects import decimal_text

router = APIRouter(tags=["tax_reports"])

Format = Literal["json", "csv"]
CSV_TYPE = "text/csv; charset=utf-8"


@router.get("/tax_reports/oss")
def oss_return(ctx: Ctx, year: Annotated[int, Query(ge=1970, le=2100)],
               quarter: Annotated[int, Query(ge=1, le=4)],
               format: Format = "json") -> Any:
    """The OSS return of a quarter: per member state of consumption and rate, the taxable
    amounts and VAT of supplies to consumers in other member states, in euros at the ECB
    rate of the quarter's last day (or the next publication). A currency without a stored
    rate is listed in `missing_exchange_rates` and its euro amounts are null."""
    with ctx.kassa.uow() as uow:
        report = tax_reports.oss_return(uow, ctx.org_id, year, quarter)
    if format == "csv":
        return _csv(["country", "rate", "currency", "taxable_amount", "tax_amount",
                     "exchange_rate", "taxable_amount_eur", "tax_amount_eur"],
                    ([row.country, decimal_text(row.rate), part.currency.upper(),
                      _major(part.taxable_amount, part.currency),
                      _major(part.tax_amount, part.currency), _ecb_rate(part.exchange_rate),
                      _major(part.taxable_amount_eur, domain.OSS_CURRENCY),
                      _major(part.tax_amount_eur, domain.OSS_CURRENCY)]
                     for row in report.result.rows for part in row.parts))
    return _oss_json(report)


@router.get("/tax_reports/vat_summary")
def vat_summary(ctx: Ctx, first: Annotated[str, Query(alias="from", max_length=12)],
                last: Annotated[str, Query(alias="to", max_length=12)],
                format: Format = "json") -> Any:
    """Per tax category, rate, country and currency: the taxable amounts and tax of the days
    `from` to `to` (both included; YYYY-MM-DD or a Unix timestamp), with the totals of the
    reverse-charged (AE) and out-of-scope (O) supplies."""
    with ctx.kassa.uow() as uow:
        report = tax_reports.vat_summary(uow, ctx.org_id, parse_day(first, "from"),
                                         parse_day(last, "to"))
    if format == "csv":
        return _csv(["category", "rate", "country", "currency", "taxable_amount",
                     "tax_amount"],
                    ([group.category or "", _rate(group.rate), group.country or "",
                      group.currency.upper(), _major(group.taxable_amount, group.currency),
                      _major(group.tax_amount, group.currency)] for group in report.groups))
    return {"object": "tax_report.vat_summary",
            "period": {"from": report.first_day.isoformat(), "to": report.last_day.isoformat()},
            "data": [{"category": g.category, "rate": _rate(g.rate) or None,
                      "country": g.country, "currency": g.currency,
                      "taxable_amount": g.taxable_amount, "tax_amount": g.tax_amount}
                     for g in report.groups],
            "reverse_charge": _totals(report.reverse_charge),
            "outside_scope": _totals(report.outside_scope), "totals": _totals(report.totals)}


def _oss_json(report: tax_reports.OssReport) -> dict[str, Any]:
    result = report.result
    return {
        "object": "tax_report.oss_return", "year": report.year, "quarter": report.quarter,
        "period": {"from": report.first_day.isoformat(), "to": report.last_day.isoformat()},
        "country": report.seller_country, "currency": domain.OSS_CURRENCY,
        "exchange_rate_date": result.rate_day.isoformat(),
        "complete": not result.missing_rates,
        "missing_exchange_rates": [
            {"currency": currency, "message": f"No ECB rate for {currency.upper()} on "
             f"{result.rate_day.isoformat()} or the {domain.OSS_RATE_WITHIN_DAYS} days after: "
             "import the ECB reference rates (POST /v1/exchange_rates/import_ecb) or add the "
             "rate (POST /v1/exchange_rates)."} for currency in result.missing_rates],
        "tax_amount": result.tax_amount,
        "data": [{"country": row.country, "rate": decimal_text(row.rate),
                  "taxable_amount": row.taxable_amount, "tax_amount": row.tax_amount,
                  "by_currency": [_oss_part(part) for part in row.parts]}
                 for row in result.rows],
        "totals": [{"country": country, "taxable_amount": taxable, "tax_amount": tax}
                   for country, taxable, tax in result.by_country()],
    }


def _oss_part(part: domain.OssPart) -> dict[str, Any]:
    return {"currency": part.currency, "taxable_amount": part.taxable_amount,
            "tax_amount": part.tax_amount, "exchange_rate": _ecb_rate(part.exchange_rate) or None,
            "exchange_rate_dates": [day.isoformat() for day in part.rate_dates],
            "taxable_amount_eur": part.taxable_amount_eur,
            "tax_amount_eur": part.tax_amount_eur}


def _totals(totals: Sequence[domain.Total]) -> list[dict[str, Any]]:
    return [{"currency": t.currency, "taxable_amount": t.taxable_amount,
             "tax_amount": t.tax_amount} for t in totals]


def _ecb_rate(factor: Decimal | None) -> str:
    """A conversion factor (euros per unit) shown as the ECB quotes: units per euro."""
    if factor is None:
        return ""
    with localcontext() as context:
        context.prec = 40
        return decimal_text((1 / factor).quantize(Decimal("1e-10")))


def _rate(rate: Decimal | None) -> str:
    return "" if rate is None else decimal_text(rate)


def _major(amount: int | None, currency: str) -> str:
    """Minor units as a decimal string in major units with the currency's exponent."""
    if amount is None:
        return ""
    return f"{to_major(amount, currency):.{exponent(currency)}f}"


def _csv(header: list[str], rows: Iterable[list[str]]) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return Response(buffer.getvalue(), media_type=CSV_TYPE)
