"""Every report against figures worked out by hand for a small portfolio billed over six
months on a test clock (EUR, monthly unless said; invoices finalize at once):

  A  Basic €100 from Jan 1; upgraded to Pro €300 on Mar 16 12:00 (half of March left:
     €150 - €50 invoiced at once)
  B  Pro €300 from Jan 1; on Apr 10 downgraded to Basic from the period's end (May 1)
  C  Basic €100 from Jan 1; cancels on Feb 10 at the period's end (Mar 1); back on May 10
  D  Annual €1,200 a year from Feb 1 (€100 a month)
  E  Basic €100 from Apr 1 on a card that declines; a working card at 12:00 pays it
  F  Basic €100 from Jan 1, sent invoices due in 14 days: pays January's on Feb 5 and
     February's on Mar 20 by bank transfer, nothing after

MRR at each month's end (€): Jan 600 (A, B, C, F), Feb 700 (+D), Mar 800 (A +200, C -100),
Apr 900 (+E), May 800 (B -200, C back +100), Jun 800.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.helpers import advance, create_clock, create_price, invoices_of, ok, ts
from dashboard.world import signed_in
from kassa.config import Kassa
from kassa.core.clock import FrozenClock
from kassa.services.organizations import NewOrganization

MONTHS = ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]


def customer(api: TestClient, clock: str, name: str, token: str | None = "pm_card_visa",
             **fields: Any) -> str:
    made = ok(api.post("/v1/customers", json={"name": name, "email": f"{name}@example.com",
                                              "test_clock": clock, **fields}))
    if token:
        ok(api.post("/v1/payment_methods", json={"customer": made["id"], "token": token}))
    return str(made["id"])


def subscribe(api: TestClient, who: str, price: str, **fields: Any) -> dict[str, Any]:
    return ok(api.post("/v1/subscriptions", json={"customer": who, "items": [{"price": price}],
                                                  **fields}))


@pytest.fixture
def portfolio(api: TestClient, clock: FrozenClock) -> dict[str, str]:
    ok(api.post("/v1/organization", json={"draft_grace_seconds": 0, "timezone": "UTC"}))
    basic = create_price(api, 10000, name="Basic")["id"]
    pro = create_price(api, 30000, name="Pro")["id"]
    annual = create_price(api, 120000, interval="year", name="Annual")["id"]
    test_clock = create_clock(api, ts(2026, 1, 1))["id"]
    people = {name: customer(api, test_clock, name) for name in "ABC"}
    people["F"] = customer(api, test_clock, "F", token=None)
    subs = {name: subscribe(api, people[name], basic if name != "B" else pro)
            for name in "ABC"}
    subscribe(api, people["F"], basic, collection_method="send_invoice", days_until_due=14)

    advance(api, test_clock, ts(2026, 2, 1))
    people["D"] = customer(api, test_clock, "D")
    subscribe(api, people["D"], annual)
    advance(api, test_clock, ts(2026, 2, 5))
    january = invoices_of(api, people["F"])[0]
    ok(api.post("/v1/payments", json={"invoice": january["id"], "method": "bank_transfer"}))
    advance(api, test_clock, ts(2026, 2, 10))
    ok(api.post(f"/v1/subscriptions/{subs['C']['id']}", json={"cancel_at_period_end": True}))

    advance(api, test_clock, ts(2026, 3, 16, 12))
    [item] = ok(api.get(f"/v1/subscriptions/{subs['A']['id']}"))["items"]["data"]
    ok(api.post(f"/v1/subscriptions/{subs['A']['id']}", json={
        "items": [{"id": item["id"], "price": pro}], "proration_behavior": "always_invoice"}))
    advance(api, test_clock, ts(2026, 3, 20))
    february = invoices_of(api, people["F"])[1]
    ok(api.post("/v1/payments", json={"invoice": february["id"], "method": "bank_transfer"}))

    advance(api, test_clock, ts(2026, 4, 1))
    people["E"] = customer(api, test_clock, "E", token="pm_card_chargeDeclined")
    subscribe(api, people["E"], basic)
    advance(api, test_clock, ts(2026, 4, 1, 12))
    ok(api.post("/v1/payment_methods", json={"customer": people["E"],
                                             "token": "pm_card_visa"}))
    advance(api, test_clock, ts(2026, 4, 10))
    [item] = ok(api.get(f"/v1/subscriptions/{subs['B']['id']}"))["items"]["data"]
    ok(api.post(f"/v1/subscriptions/{subs['B']['id']}", json={
        "items": [{"id": item["id"], "price": basic}], "effective_at": "period_end"}))
    advance(api, test_clock, ts(2026, 5, 10))
    subscribe(api, people["C"], basic)
    advance(api, test_clock, ts(2026, 6, 30, 12))
    for month, channel, amount in (("2026-04", "ads", 50000), ("2026-04", "events", 10000)):
        ok(api.post("/v1/acquisition_costs", json={"month": month, "channel": channel,
                                                   "amount": amount, "currency": "eur"}))
    clock.move_to(datetime(2026, 7, 1, tzinfo=UTC))  # the reports are read on July 1
    return people


def report(api: TestClient, name: str, **params: Any) -> dict[str, Any]:
    return ok(api.get(f"/v1/reports/{name}", params={"from": "2026-01", "to": "2026-06",
                                                     **params}))


def column(body: dict[str, Any], key: str) -> list[Any]:
    return [row[key] for row in body["data"]]


def test_mrr_and_its_movements(api: TestClient, portfolio: dict[str, str]) -> None:
    body = report(api, "mrr")
    assert (body["currency"], column(body, "month")) == ("eur", MONTHS)
    assert column(body, "mrr") == [60000, 70000, 80000, 90000, 80000, 80000]
    assert column(body, "arr") == [720000, 840000, 960000, 1080000, 960000, 960000]
    assert column(body, "new") == [60000, 10000, 0, 10000, 0, 0]
    assert column(body, "expansion") == [0, 0, 20000, 0, 0, 0]
    assert column(body, "contraction") == [0, 0, 0, 0, -20000, 0]
    assert column(body, "churn") == [0, 0, -10000, 0, 0, 0]
    assert column(body, "reactivation") == [0, 0, 0, 0, 10000, 0]
    assert column(body, "net_new_mrr") == [60000, 10000, 10000, 10000, -10000, 0]
    assert column(body, "fx_difference") == [0] * 6
    assert column(body, "metered_revenue") == [0] * 6


def test_customers_and_arpa(api: TestClient, portfolio: dict[str, str]) -> None:
    body = report(api, "customers")
    assert column(body, "paying_customers") == [4, 5, 4, 5, 6, 6]
    assert column(body, "paying_subscriptions") == [4, 5, 4, 5, 6, 6]
    assert column(body, "new_customers") == [4, 1, 0, 1, 0, 0]
    assert column(body, "churned_customers") == [0, 0, 1, 0, 0, 0]
    assert column(body, "reactivated_customers") == [0, 0, 0, 0, 1, 0]
    # 600/4, 700/5, 800/4, 900/5, 800/6, 800/6 euros
    assert column(body, "arpa") == [15000, 14000, 20000, 18000, 13333, 13333]


def test_churn_and_retention(api: TestClient, portfolio: dict[str, str]) -> None:
    rows = {row["month"]: row for row in report(api, "retention")["data"]}
    assert rows["2026-01"]["logo_churn_rate"] is None  # nobody at the start
    march = rows["2026-03"]  # 5 customers and €700 at the start; C (€100) left, A +€200
    assert (march["customers_at_start"], march["mrr_at_start"]) == (5, 70000)
    assert march["logo_churn_rate"] == "0.2000"
    assert march["revenue_churn_rate"] == "0.1429"  # 100 / 700
    assert march["net_revenue_retention"] == "1.1429"  # (700 + 200 - 100) / 700
    assert march["gross_revenue_retention"] == "0.8571"  # (700 - 100) / 700
    may = rows["2026-05"]  # €900 at the start; B -€200; C's return is not retention
    assert may["logo_churn_rate"] == "0.0000"
    assert may["revenue_churn_rate"] == "0.2222"
    assert may["net_revenue_retention"] == may["gross_revenue_retention"] == "0.7778"
    assert rows["2026-06"]["net_revenue_retention"] == "1.0000"


def test_cohorts(api: TestClient, portfolio: dict[str, str]) -> None:
    table = {row["cohort"]: row for row in report(api, "cohorts")["data"]}
    assert table["2026-01"]["customers"] == 4  # A, B, C, F; C away in March and April
    assert table["2026-01"]["retention"] == ["1.0000", "1.0000", "0.7500", "0.7500",
                                             "1.0000", "1.0000"]
    assert (table["2026-02"]["customers"], table["2026-02"]["retention"]) == (
        1, ["1.0000"] * 5)
    assert table["2026-03"] == {"cohort": "2026-03", "customers": 0,
                                "retention": [None] * 4}
    assert table["2026-04"]["retention"] == ["1.0000"] * 3
    assert table["2026-05"]["customers"] == 0  # C came back: not a new cohort member


def test_unit_economics(api: TestClient, portfolio: dict[str, str]) -> None:
    rows = {row["month"]: row for row in report(api, "unit_economics")["data"]}
    april = rows["2026-04"]
    # €600 spent, one new customer (E); ARPA €180 at 80% margin pays it back in 4.2 months
    assert (april["acquisition_spend"], april["new_customers"], april["cac"]) == (
        60000, 1, 60000)
    assert april["cac_payback_months"] == "4.2"
    assert april["cltv"] is None  # no churn in April: lifetime not defined
    may = rows["2026-05"]
    expected = Decimal(80000) / 6 * Decimal("0.8") / Decimal("0.2222")  # ARPA x margin / churn
    assert may["cltv"] == int(expected.quantize(Decimal(1)))
    assert may["gross_margin_percent"] == "80"
    ok(api.post("/v1/organization", json={"gross_margin_percent": "60"}))
    assert report(api, "unit_economics")["data"][3]["cac_payback_months"] == "5.6"  # 600/108


def test_cash_dso_and_failed_payments(api: TestClient, portfolio: dict[str, str]) -> None:
    rows = {row["month"]: row for row in report(api, "cash")["data"]}
    january = rows["2026-01"]
    assert (january["invoiced"], january["collected"]) == (60000, 50000)  # F pays later
    assert january["receivables"] == 10000  # F's January invoice, paid Feb 5
    assert january["dso_days"] == "5.2"  # 100 / 600 x 31 days
    february = rows["2026-02"]
    # Renewals A, B, C, F and D's year; collected: the cards and F's transfer for January
    assert (february["invoiced"], february["collected"]) == (180000, 180000)
    march = rows["2026-03"]
    assert march["invoiced"] == 60000  # A, B, F renewals and A's upgrade (+€100)
    assert march["receivables"] == 10000  # F's March invoice
    april = rows["2026-04"]  # A, B, E's decline, E's second card
    assert (april["payment_attempts"], april["failed_payments"]) == (4, 1)
    assert april["failed_payment_rate"] == "0.2500"
    # Into dunning in April: E's declined charge (recovered) and F's April invoice, overdue
    # from Apr 15 (not recovered)
    assert (april["dunning_entered"], april["dunning_recovered"]) == (2, 1)
    assert rows["2026-06"]["receivables"] == 40000  # F: March to June


def test_receivables_aging_now_and_as_of_an_earlier_day(api: TestClient,
                                                        portfolio: dict[str, str]) -> None:
    aging = ok(api.get("/v1/reports/ar_aging"))
    # F's invoices due Mar 15, Apr 15, May 15 and Jun 15, seen on July 1
    assert (aging["over_90"], aging["61_90"], aging["31_60"], aging["1_30"],
            aging["current"]) == (10000, 10000, 10000, 10000, 0)
    assert aging["total"] == 40000
    assert [(row["name"], row["total"]) for row in aging["customers"]] == [("F", 40000)]
    # As known on March 1: January's was paid on Feb 5, February's (due Feb 15) was not.
    then = ok(api.get("/v1/reports/ar_aging", params={"as_of": ts(2026, 3, 1)}))
    assert (then["total"], then["1_30"]) == (10000, 10000)


def test_late_payers(api: TestClient, portfolio: dict[str, str]) -> None:
    [late] = report(api, "late_payers")["data"]
    # Due Jan 15, paid Feb 5 (21 days); due Feb 15, paid Mar 20 (33 days)
    assert (late["customer"], late["name"]) == (portfolio["F"], "F")
    assert (late["paid_invoices"], late["paid_late"], late["late_share"]) == (2, 2, "1.0000")
    assert late["average_days_late"] == "27.0"


def test_a_past_report_is_what_it_said_then(api: TestClient, portfolio: dict[str, str],
                                            clock: FrozenClock) -> None:
    then = report(api, "mrr", as_of=ts(2026, 4, 1), to="2026-03")
    assert column(then, "mrr") == [60000, 70000, 80000]
    later_refund = ok(api.get("/v1/payments", params={"customer": portfolio["A"]}))["data"][0]
    ok(api.post("/v1/refunds", json={"payment": later_refund["id"], "amount": 100}))
    assert report(api, "mrr", as_of=ts(2026, 4, 1), to="2026-03") == then


def test_csv_export_and_bad_input(api: TestClient, portfolio: dict[str, str]) -> None:
    response = api.get("/v1/reports/mrr", params={"from": "2026-01", "to": "2026-06",
                                                  "format": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:3] == ["month", "mrr", "arr"]
    assert [row[1] for row in rows[1:]] == ["60000", "70000", "80000", "90000", "80000",
                                            "80000"]
    for params, param in (({"from": "2026-13"}, "from"),
                          ({"from": "2026-05", "to": "2026-01"}, "to"),
                          ({"from": "2016-01", "to": "2026-06"}, "to"),
                          ({"from": "2026-08", "to": "2026-09"}, "from")):
        bad = api.get("/v1/reports/mrr", params=params)
        assert bad.status_code == 400 and bad.json()["error"]["param"] == param
    assert api.get("/v1/reports/everything").status_code == 404




def test_the_dashboard_home_shows_the_same_figures(api: TestClient, kassa: Kassa,
                                                   org: NewOrganization,
                                                   portfolio: dict[str, str]) -> None:
    client = signed_in(kassa, org.organization.id, "support")
    page = client.get("/dashboard")
    assert page.status_code == 200
    figures = dict(re.findall(r'id="figure-([a-z]+)">([^<]+)<', page.text))
    # July: no movement yet; MRR is June's €800 (A 300, B 100, C 100, D 100, E 100, F 100)
    assert figures == {"mrr": "€800.00", "arr": "€9,600.00", "paying": "6",
                       "arpa": "€133.33"}
    assert page.text.count('<rect') >= 12 + 8 + 5  # MRR chart, waterfall, aging chart
    assert "<title>Jun 26: 800</title>" in page.text
    assert "Receivables aging: €400.00" in page.text  # F: March to June
    assert re.search(r'Over 90 days</th><td class="num">€100.00', page.text)


def _read_only(url: str) -> str:
    """The same database, opened so that any write fails: a stand-in for a read replica."""
    if url.startswith("sqlite"):
        return f"sqlite:///file:{url.removeprefix('sqlite:///')}?mode=ro&uri=true"
    return f"{url}?options=-c%20default_transaction_read_only%3Don"


def test_reports_read_from_the_reports_replica(api: TestClient, portfolio: dict[str, str],
                                               kassa: Kassa, database_url: str) -> None:
    """With KASSA_REPORTS_DATABASE_URL, reports are read there (they never write), and say
    what they say on the primary."""
    from kassa.store.db import make_engine, make_session_factory

    names = ["mrr", "customers", "retention", "cohorts", "unit_economics", "cash",
             "ar_aging", "late_payers", "trial_balance", "revenue_waterfall", "reconciliation"]
    params = {"from": "2026-01", "to": "2026-06", "as_of": ts(2026, 6, 30)}
    primary = {name: report(api, name, **params) for name in names}
    replica = make_engine(_read_only(database_url))
    kassa.__dict__["reports_session_factory"] = make_session_factory(replica)
    try:
        with replica.connect() as connection, pytest.raises(Exception, match=r"read.?only"):
            connection.exec_driver_sql("UPDATE organizations SET name = 'x'")
        for name in names:
            assert report(api, name, **params) == primary[name], name
        journal = api.get("/v1/ledger/journal", params={"from": "2026-01", "to": "2026-06"})
        assert journal.status_code == 200 and journal.text.count("\n") > 10
        balance = ok(api.get("/v1/ledger/trial_balance",
                             params={"from": "2026-01", "to": "2026-06"}))
        assert balance["balanced"] is True
    finally:
        del kassa.__dict__["reports_session_factory"]
        replica.dispose()
