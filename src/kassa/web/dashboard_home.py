"""The dashboard's home page: the organization at a glance."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from kassa.config import Kassa
from kassa.services import dashboard, emails, reports
from kassa.services.operators import Staff
from kassa.store.uow import UnitOfWork
from kassa.web import charts
from kassa.web.dashboard import Signed, frame, page
from kassa.web.portal import KassaDep

router = APIRouter(include_in_schema=False)


def home_values(uow: UnitOfWork, kassa: Kassa, operator: Staff) -> dict[str, Any]:
    """What the home page shows: the counts of customers, active subscriptions and open
    invoices; MRR and ARR with a twelve-month chart and this month's movements as a
    waterfall; churn and retention; collections; receivables aging; dunning over the last
    thirty days (services/reports.overview: the same figures as GET /v1/reports)."""
    seen = reports.overview(uow, operator.org_id)
    currency = seen["currency"]

    def money(amount: int | Decimal) -> str:
        return emails.amount_text(int(amount), currency, "en")

    months = seen["mrr"]
    latest = months[-1]
    label = {row["month"]: date.fromisoformat(row["month"] + "-01").strftime("%b %y")
             for row in months}
    movements = [("New", latest["new"]), ("Expansion", latest["expansion"]),
                 ("Reactivation", latest["reactivation"]),
                 ("Contraction", latest["contraction"]), ("Churn", latest["churn"]),
                 ("FX", latest["fx_difference"])]
    start = latest["mrr"] - sum(change for _, change in movements)
    aging = seen["ar_aging"]
    buckets = [("Current", aging["current"]), ("1-30 days", aging["1_30"]),
               ("31-60 days", aging["31_60"]), ("61-90 days", aging["61_90"]),
               ("Over 90 days", aging["over_90"])]
    return {
        **dashboard.counts(uow, operator.org_id), "currency": currency.upper(),
        "mrr": money(latest["mrr"]), "arr": money(latest["arr"]),
        "customers_now": seen["customers"][-1], "arpa": money(seen["customers"][-1]["arpa"]),
        "mrr_chart": charts.bar_chart(
            [(label[row["month"]], Decimal(row["mrr"]) / 100) for row in months],
            title="MRR, the last twelve months",
            description=f"MRR at each month's end in {currency.upper()}, from "
                        f"{months[0]['month']} to {months[-1]['month']}.",
            color="#334155", ident="mrr-chart"),
        "mrr_table": [(label[row["month"]], money(row["mrr"]), money(row["net_new_mrr"]))
                      for row in months],
        "waterfall": charts.waterfall(
            [(name, Decimal(change) / 100) for name, change in movements],
            start=("Start", Decimal(start) / 100), end_label="Now",
            title=f"MRR movements in {label[latest['month']]}",
            description="MRR at the month's start, what each kind of movement added or "
                        "took away, and MRR now.", ident="mrr-waterfall",
            money=lambda value: money(value * 100)),
        "movements": [(name, money(change)) for name, change in movements],
        "retention": seen["retention"], "cash": [
            {**row, **{key: money(row[key]) for key in ("invoiced", "collected",
                                                        "receivables")}}
            for row in seen["cash"]],
        "aging_total": money(aging["total"]),
        "aging": [(name, money(amount)) for name, amount in buckets],
        "aging_chart": charts.bar_chart(
            [(name, Decimal(amount) / 100) for name, amount in buckets],
            title="Receivables by days past due",
            description=f"What customers owe now, in {currency.upper()}, by how long it "
                        "has been due.", color="#b45309", ident="aging-chart"),
        "late_customers": aging["customers"][:5], "dunning": seen["dunning"]}


@router.get("/dashboard")
def home(kassa: KassaDep, who: Signed) -> Response:
    with kassa.uow() as uow:
        return page("home.html", **frame(uow, kassa, who, "home"),
                    **home_values(uow, kassa, who))
