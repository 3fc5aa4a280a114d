"""The ledger's worked example: an annual plan paid up front, upgraded mid-year, partly
refunded. Every figure is worked out by hand (EUR cents, no tax, organization in UTC, a test
clock from 2026-01-01 00:00):

  2026-01-01  Annual Basic, €1,200 a year, invoiced and paid by card at once.
  2026-08-08  Upgraded to Annual Pro, €2,400 a year, invoiced at once (always_invoice) and
              paid by card. 146 of the year's 365 days are left (Aug 24 + Sep 30 + Oct 31
              + Nov 30 + Dec 31), so the share is 146/365 = 2/5:
                unused Basic    -120000 x 2/5 =  -48000
                remaining Pro    240000 x 2/5 =   96000
                invoice                            48000
  2026-08-08  €300 of that payment refunded: a credit note of 30000 (refund_amount), which
              names no lines and so is taken off the invoice's only charge, the Pro line.
  2027-01-01  The subscription renews as Pro (240000); the clock stops on Jan 2.

Revenue is deferred and earned straight-line per day: a period of D days has earned
amount * k // D after k days (towards zero for a credit).

  Basic 120000 over 365 days, days elapsed at each month's end 31, 59, 90, 120, 151, 181,
  212, and 219 on Aug 7 (the day before the upgrade):
    [120000 * k // 365 for k in (0, 31, 59, 90, 120, 151, 181, 212, 219)]
      = [0, 10191, 19397, 29589, 39452, 49643, 59506, 69698, 72000]
    per month: 10191, 9206, 10192, 9863, 10191, 9863, 10192, Aug 1-7 2302 (= 72000)
    From Aug 8, Basic's remaining 120000 * k // 365 and the unused-time credit's
    -48000 * k // 146 are the same fraction, so Basic earns exactly nothing more.

  Pro 96000 and the credit note's -30000 over the 146 days from Aug 8, days elapsed at each
  month's end 24, 54, 85, 115, 146:
    [96000 * k // 146 for k in ...] = [15780, 35506, 55890, 75616, 96000]
    [30000 * k // 146 for k in ...] = [4931, 11095, 17465, 23630, 30000]
    per month: 15780 - 4931 = 10849, 19726 - 6164 = 13562, 20384 - 6370 = 14014,
               19726 - 6165 = 13561, 20384 - 6370 = 14014 (= 66000 = 96000 - 30000)

  Revenue for 2026: 72000 + 66000 = 138000 = 120000 + 48000 (upgrade) - 30000 (refund), the
  money kept at the gateway: 120000 + 48000 - 30000. Deferred revenue is empty at year end.
  On Jan 1 2027 the renewal earns 240000 * 1 // 365 = 657.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.helpers import advance, create_clock, create_price, invoices_of, ok, ts
from kassa.config import Kassa
from kassa.services import ledger_reports
from kassa.services.organizations import NewOrganization
from kassa.store import models as m

YEAR_START, YEAR_END = date(2026, 1, 1), date(2027, 1, 1)


@pytest.fixture
def worked_example(api: TestClient) -> dict[str, Any]:
    ok(api.post("/v1/organization", json={"draft_grace_seconds": 0, "timezone": "UTC"}))
    basic = create_price(api, 120000, interval="year", name="Basic")["id"]
    pro = create_price(api, 240000, interval="year", name="Pro")["id"]
    clock = create_clock(api, ts(2026, 1, 1))["id"]
    customer = ok(api.post("/v1/customers", json={"name": "Ada", "email": "ada@example.com",
                                                  "test_clock": clock}))["id"]
    ok(api.post("/v1/payment_methods", json={"customer": customer, "token": "pm_card_visa"}))
    sub = ok(api.post("/v1/subscriptions", json={"customer": customer,
                                                 "items": [{"price": basic}]}))

    advance(api, clock, ts(2026, 8, 8))
    [item] = ok(api.get(f"/v1/subscriptions/{sub['id']}"))["items"]["data"]
    ok(api.post(f"/v1/subscriptions/{sub['id']}", json={
        "items": [{"id": item["id"], "price": pro}], "proration_behavior": "always_invoice"}))
    advance(api, clock, ts(2026, 8, 8, 1))  # the card is charged
    upgrade = invoices_of(api, customer)[1]
    [payment] = ok(api.get("/v1/payments", params={"invoice": upgrade["id"]}))["data"]
    ok(api.post("/v1/refunds", json={"payment": payment["id"], "amount": 30000}))

    advance(api, clock, ts(2027, 1, 2))
    return {"customer": customer, "upgrade": upgrade}


def journal(kassa: Kassa, org_id: str) -> list[tuple[str, str, list[tuple[Any, ...]]]]:
    """Every entry in the order posted: date, kind, and per line the account, the product
    and the debit or credit."""
    with kassa.uow() as uow:
        codes = dict(uow.session.execute(select(m.LedgerAccount.id, m.LedgerAccount.code)
                                         .where(m.LedgerAccount.org_id == org_id)).all())
        products = dict(uow.session.execute(select(m.Product.id, m.Product.name)
                                            .where(m.Product.org_id == org_id)).all())
        entries = uow.session.scalars(select(m.JournalEntry)
                                      .where(m.JournalEntry.org_id == org_id)
                                      .order_by(m.JournalEntry.posted_on, m.JournalEntry.id))
        return [(entry.posted_on.isoformat(), entry.kind,
                 [(codes[line.account_id], products.get(line.product_id),
                   "Dr" if line.amount > 0 else "Cr", abs(line.amount))
                  for line in entry.lines])
                for entry in entries]


def recognized(amount: int, product: str) -> list[tuple[Any, ...]]:
    return [("2400", product, "Dr", amount), ("4000", product, "Cr", amount)]


def test_the_upgrade_invoice_credits_unused_basic_and_charges_remaining_pro(
        api: TestClient, worked_example: dict[str, Any]) -> None:
    upgrade = worked_example["upgrade"]
    assert [line["amount"] for line in upgrade["lines"]["data"]] == [-48000, 96000]
    assert (upgrade["total"], upgrade["tax"]) == (48000, 0)
    [note] = ok(api.get("/v1/credit_notes", params={"invoice": upgrade["id"]}))["data"]
    assert (note["amount"], note["refund_amount"], note["tax"]) == (30000, 30000, 0)


def test_every_entry_of_the_example(kassa: Kassa, org: NewOrganization,
                                    worked_example: dict[str, Any]) -> None:
    assert journal(kassa, org.organization.id) == [
        ("2026-01-01", "invoice.finalized", [("1200", None, "Dr", 120000),
                                             ("2400", "Basic", "Cr", 120000)]),
        ("2026-01-01", "payment.succeeded", [("1100-SANDBOX", None, "Dr", 120000),
                                             ("1200", None, "Cr", 120000)]),
        ("2026-01-31", "revenue.recognized", recognized(10191, "Basic")),
        ("2026-02-28", "revenue.recognized", recognized(9206, "Basic")),
        ("2026-03-31", "revenue.recognized", recognized(10192, "Basic")),
        ("2026-04-30", "revenue.recognized", recognized(9863, "Basic")),
        ("2026-05-31", "revenue.recognized", recognized(10191, "Basic")),
        ("2026-06-30", "revenue.recognized", recognized(9863, "Basic")),
        ("2026-07-31", "revenue.recognized", recognized(10192, "Basic")),
        # The clock stopped on Aug 8: August so far is posted as of the day before.
        ("2026-08-07", "revenue.recognized", recognized(2302, "Basic")),
        ("2026-08-08", "invoice.finalized", [("1200", None, "Dr", 48000),
                                             ("2400", "Basic", "Dr", 48000),
                                             ("2400", "Pro", "Cr", 96000)]),
        ("2026-08-08", "payment.succeeded", [("1100-SANDBOX", None, "Dr", 48000),
                                             ("1200", None, "Cr", 48000)]),
        ("2026-08-08", "credit_note.issued", [("2400", "Pro", "Dr", 30000),
                                              ("2350", None, "Cr", 30000)]),
        ("2026-08-08", "refund.issued", [("2350", None, "Dr", 30000),
                                         ("1100-SANDBOX", None, "Cr", 30000)]),
        # Basic earns nothing more: its schedule and the unused-time credit cancel out.
        ("2026-08-31", "revenue.recognized", recognized(10849, "Pro")),
        ("2026-09-30", "revenue.recognized", recognized(13562, "Pro")),
        ("2026-10-31", "revenue.recognized", recognized(14014, "Pro")),
        ("2026-11-30", "revenue.recognized", recognized(13561, "Pro")),
        ("2026-12-31", "revenue.recognized", recognized(14014, "Pro")),
        ("2027-01-01", "invoice.finalized", [("1200", None, "Dr", 240000),
                                             ("2400", "Pro", "Cr", 240000)]),
        ("2027-01-01", "payment.succeeded", [("1100-SANDBOX", None, "Dr", 240000),
                                             ("1200", None, "Cr", 240000)]),
        ("2027-01-01", "revenue.recognized", recognized(657, "Pro")),
    ]


def test_revenue_recognized_month_by_month(kassa: Kassa, org: NewOrganization,
                                           worked_example: dict[str, Any]) -> None:
    with kassa.uow() as uow:
        rows = ledger_reports.revenue_waterfall(uow.session, org.organization.id,
                                                YEAR_START, YEAR_END)["data"]
    by_product: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_product.setdefault(row["product_name"], []).append(row)
    basic, pro = by_product["Basic"], by_product["Pro"]
    assert [row["recognized"] for row in basic] == [
        10191, 9206, 10192, 9863, 10191, 9863, 10192, 2302, 0, 0, 0, 0]
    assert [row["recognized"] for row in pro] == [0] * 7 + [10849, 13562, 14014, 13561, 14014]
    assert sum(row["recognized"] for row in basic + pro) == 138000  # 120000 + 48000 - 30000
    # Billed into deferred revenue: the year's Basic, then the upgrade's -48000 on Basic and
    # its 96000 less the refund's 30000 on Pro.
    assert [row["billed"] for row in basic if row["billed"]] == [120000, -48000]
    assert [row["billed"] for row in pro if row["billed"]] == [66000]
    assert (basic[-1]["deferred_closing"], pro[-1]["deferred_closing"]) == (0, 0)


def test_the_trial_balance_at_year_end(kassa: Kassa, org: NewOrganization,
                                       worked_example: dict[str, Any]) -> None:
    with kassa.uow() as uow:
        balance = ledger_reports.trial_balance(uow.session, org.organization.id,
                                               YEAR_START, YEAR_END)
        matched = ledger_reports.reconciliation(uow.session, org.organization.id,
                                                YEAR_START, YEAR_END)
    assert balance["balanced"] and matched["balanced"]
    assert [(row["account"], row["debits"], row["credits"], row["closing"])
            for row in balance["data"]] == [
        ("1100-SANDBOX", 168000, 30000, 138000),  # 120000 + 48000 paid, 30000 refunded
        ("1200", 168000, 168000, 0),
        ("2350", 30000, 30000, 0),
        # 48000 unused Basic + 30000 refund + 138000 recognized; 120000 Basic + 96000 Pro
        ("2400", 216000, 216000, 0),
        ("4000", 0, 138000, -138000),
    ]
    assert balance["totals"] == {"eur": {"debits": 582000, "credits": 582000,
                                         "closing_debits": 138000,
                                         "closing_credits": 138000}}
