"""The ledger against random billing histories made through the HTTP API: customers on a test
clock (monthly and yearly prices, Dutch, German and American tax, a discount, a card that
declines, one paying by invoice) go through any sequence of clock advances, subscriptions,
plan changes, payments, refunds, credit notes, write-offs, voids and balance adjustments.
After every step, every entry balances, the ledger reconciles with the documents, deferred
plus recognized revenue is what was invoiced net of tax, and the revenue schedules agree with
the ledger; once a period has passed it is recognized in full."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from api.helpers import DAY, create_clock, ok, ts
from kassa.config import Kassa
from kassa.services import ledger_reports, organizations, recognition
from kassa.store import models as m

START = ts(2026, 1, 1)
MAX_OPERATIONS, MAX_DAYS = 8, 35
# Past every period a history can open: a year from its last advance at the latest.
END = ts(2027, 1, 8) + MAX_OPERATIONS * MAX_DAYS * DAY
WIDE = (date(2025, 1, 1), date(2030, 1, 1))
_orgs = itertools.count()

# (name, currency, country, card token or None for invoices sent by e-mail, coupon)
CUSTOMERS = [("nl", "eur", "NL", "pm_card_visa", False),
             ("de", "eur", "DE", "pm_card_visa", True),
             ("declined", "eur", "NL", "pm_card_chargeDeclined", False),
             ("invoiced", "eur", "NL", None, False),
             ("us", "usd", "US", "pm_card_visa", False)]
# (name, currency, unit amount, interval, tax behavior)
PRICES = [("Basic", "eur", 1999, "month", "exclusive"),
          ("Pro", "eur", 4999, "month", "inclusive"),
          ("Annual", "eur", 19900, "year", "exclusive"),
          ("Starter", "usd", 2500, "month", "exclusive"),
          ("Yearly", "usd", 24000, "year", "exclusive")]


@dataclass
class World:
    """One organization's test clock, customers and prices, and what the history did."""

    api: TestClient
    kassa: Kassa
    org_id: str
    clock: str
    now: int
    customers: list[tuple[str, str]]  # (id, currency)
    prices: dict[str, list[str]]  # currency -> price ids
    zone: ZoneInfo
    subscriptions: list[tuple[str, str]] = field(default_factory=list)  # (id, currency)
    outcomes: list[int] = field(default_factory=list)  # status codes of the changes made

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The JSON of a 200; None for a request the API refuses (4xx); a 5xx fails."""
        response = self.api.request(method, path, json=body)
        assert response.status_code < 500, f"{method} {path} {body}: {response.text}"
        if method != "GET" and not path.endswith("/preview"):
            self.outcomes.append(response.status_code)
        return response.json() if response.status_code == 200 else None

    @property
    def today(self) -> date:
        """The clock's day in the organization's timezone."""
        return datetime.fromtimestamp(self.now, self.zone).date()


def _world(api: TestClient, kassa: Kassa, timezone: str = "UTC") -> World:
    """A fresh organization (one per example, so histories never meet) and its portfolio."""
    with kassa.uow() as uow:
        org = organizations.create_organization(
            uow, kassa.pepper, name=f"Ledger {next(_orgs)}", country="NL", timezone=timezone,
            default_currency="eur", automatic_tax=True, draft_grace_seconds=0)
    api.headers["Authorization"] = f"Bearer {org.secret_key}"
    clock = create_clock(api, START)["id"]
    prices: dict[str, list[str]] = defaultdict(list)
    for name, currency, amount, interval, behavior in PRICES:
        price = ok(api.post("/v1/prices", json={
            "product_data": {"name": name}, "currency": currency, "unit_amount": amount,
            "recurring": {"interval": interval}, "tax_behavior": behavior}))
        prices[currency].append(price["id"])
    coupon = ok(api.post("/v1/coupons", json={"percent_off": 15, "duration": "forever"}))
    customers = []
    for name, currency, country, token, discounted in CUSTOMERS:
        customer = ok(api.post("/v1/customers", json={
            "name": name, "email": f"{name}@example.com", "test_clock": clock,
            "country": country, **({"coupon": coupon["id"]} if discounted else {})}))
        if token:
            ok(api.post("/v1/payment_methods", json={"customer": customer["id"],
                                                     "token": token}))
        customers.append((customer["id"], currency))
    return World(api, kassa, org.organization.id, clock, START, customers, prices,
                 ZoneInfo(timezone))


# ---------------------------------------------------------------------------------------------
# Operations: each picks its customer, price or document by index (modulo what exists).


def _pick(rows: list[Any], n: int) -> Any:
    return rows[n % len(rows)] if rows else None


def _invoices(world: World, *statuses: str) -> list[str]:
    with world.kassa.uow() as uow:
        return list(uow.session.scalars(
            select(m.Invoice.id).where(m.Invoice.org_id == world.org_id,
                                       m.Invoice.status.in_(statuses))
            .order_by(m.Invoice.number)))


def do_advance(world: World, days: int) -> None:
    world.now += days * DAY
    clock = world.call("POST", f"/v1/test_clocks/{world.clock}/advance",
                       {"frozen_time": world.now})
    assert clock["frozen_time"] == world.now and clock["status"] == "ready", clock


def do_subscribe(world: World, who: int, which: int) -> None:
    customer, currency = world.customers[who % len(world.customers)]
    price = _pick(world.prices[currency], which)
    body: dict[str, Any] = {"customer": customer, "items": [{"price": price}]}
    if CUSTOMERS[who % len(CUSTOMERS)][3] is None:
        body |= {"collection_method": "send_invoice", "days_until_due": 14}
    made = world.call("POST", "/v1/subscriptions", body)
    if made:
        world.subscriptions.append((made["id"], currency))


def _live_subscriptions(world: World) -> list[tuple[str, str]]:
    with world.kassa.uow() as uow:
        live = set(uow.session.scalars(select(m.Subscription.id).where(
            m.Subscription.org_id == world.org_id,
            m.Subscription.status.not_in(("canceled", "incomplete_expired")))))
    return [(id_, currency) for id_, currency in world.subscriptions if id_ in live]


def do_change(world: World, which: int, to: int, behavior: str) -> None:
    chosen = _pick(_live_subscriptions(world), which)
    current = chosen and world.call("GET", f"/v1/subscriptions/{chosen[0]}")
    if not current:
        return
    subscription, currency = chosen
    item = current["items"]["data"][0]["id"]
    world.call("POST", f"/v1/subscriptions/{subscription}", {
        "items": [{"id": item, "price": _pick(world.prices[currency], to)}],
        "proration_behavior": behavior})


def do_pay(world: World, which: int, how: str) -> None:
    invoice = _pick(_invoices(world, "open", "uncollectible"), which)
    if invoice is None:
        return
    if how == "out_of_band":
        world.call("POST", f"/v1/invoices/{invoice}/pay", {"paid_out_of_band": True})
    elif how == "card":
        world.call("POST", f"/v1/invoices/{invoice}/pay")
    else:  # half of what remains, by bank transfer
        remaining = world.call("GET", f"/v1/invoices/{invoice}")["amount_remaining"]
        world.call("POST", "/v1/payments", {"invoice": invoice, "method": "bank_transfer",
                                            "amount": max(remaining // 2, 1)})


def do_refund(world: World, which: int, percent: int) -> None:
    with world.kassa.uow() as uow:
        payments = list(uow.session.execute(
            select(m.Payment.id, m.Payment.amount - m.Payment.amount_refunded)
            .join(m.Invoice, m.Invoice.id == m.Payment.invoice_id)
            .where(m.Payment.org_id == world.org_id, m.Payment.status == "succeeded",
                   m.Payment.amount > m.Payment.amount_refunded)
            .order_by(m.Invoice.number, m.Payment.created, m.Payment.amount)))
    chosen = _pick(payments, which)
    if chosen:
        payment, left = chosen
        world.call("POST", "/v1/refunds", {"payment": payment,
                                           "amount": max(left * percent // 100, 1),
                                           "override_reason": "property test"})


def do_credit(world: World, which: int, settlement: str, percent: int) -> None:
    """A credit note for a share of what remains creditable (a lump sum, or a share of the
    first line), the part beyond what remains to be paid settled as `settlement`."""
    invoice_id = _pick(_invoices(world, "open", "paid"), which)
    invoice = invoice_id and world.call("GET", f"/v1/invoices/{invoice_id}")
    if not invoice:
        return
    body: dict[str, Any] = {"invoice": invoice_id}
    if settlement == "lines" and invoice["lines"]["data"]:
        line = invoice["lines"]["data"][0]
        body["lines"] = [{"type": "invoice_line_item", "invoice_line": line["id"],
                          "amount": max(abs(line["amount"]) * percent // 100, 1)}]
    else:
        body["amount"] = max(invoice["total"] * percent // 100, 1)
    preview = world.call("POST", "/v1/credit_notes/preview", body)
    if preview is None:
        return
    post_payment = preview["total"] - preview["pre_payment_amount"]
    if post_payment and settlement in ("credit", "refund", "out_of_band"):
        body[f"{settlement}_amount"] = post_payment
    world.call("POST", "/v1/credit_notes", body)


def do_void_credit_note(world: World, which: int) -> None:
    with world.kassa.uow() as uow:
        notes = list(uow.session.scalars(
            select(m.CreditNote.id).where(m.CreditNote.org_id == world.org_id,
                                          m.CreditNote.status != "void")
            .order_by(m.CreditNote.number)))
    note = _pick(notes, which)
    if note:
        world.call("POST", f"/v1/credit_notes/{note}/void")


def do_write_off(world: World, which: int) -> None:
    invoice = _pick(_invoices(world, "open"), which)
    if invoice:
        world.call("POST", f"/v1/invoices/{invoice}/mark_uncollectible")


def do_void(world: World, which: int) -> None:
    invoice = _pick(_invoices(world, "open", "uncollectible"), which)
    if invoice:
        world.call("POST", f"/v1/invoices/{invoice}/void")


def do_adjust_balance(world: World, who: int, amount: int) -> None:
    customer, currency = world.customers[who % len(world.customers)]
    world.call("POST", f"/v1/customers/{customer}/balance_transactions",
               {"amount": amount, "currency": currency, "description": "Goodwill"})


def do_cancel(world: World, which: int) -> None:
    chosen = _pick(_live_subscriptions(world), which)
    if chosen:
        world.call("DELETE", f"/v1/subscriptions/{chosen[0]}")


OPERATIONS = {"advance": do_advance, "subscribe": do_subscribe, "change": do_change,
              "pay": do_pay, "refund": do_refund, "credit": do_credit,
              "void_credit_note": do_void_credit_note, "write_off": do_write_off,
              "void": do_void, "adjust_balance": do_adjust_balance, "cancel": do_cancel}
index = st.integers(0, 9)
percent = st.sampled_from([1, 33, 50, 100])
advance_days = st.tuples(st.just("advance"), st.integers(1, MAX_DAYS))
change = st.tuples(st.just("change"), index, index,
                   st.sampled_from(["create_prorations", "always_invoice", "none"]))
operation = st.one_of(
    advance_days, advance_days, change, change,  # twice: time and plan changes matter most
    st.tuples(st.just("subscribe"), index, index),
    st.tuples(st.just("pay"), index, st.sampled_from(["out_of_band", "card", "partly"])),
    st.tuples(st.just("refund"), index, percent),
    st.tuples(st.just("credit"), index,
              st.sampled_from(["default", "credit", "refund", "out_of_band", "lines"]),
              percent),
    st.tuples(st.just("void_credit_note"), index),
    st.tuples(st.just("write_off"), index),
    st.tuples(st.just("void"), index),
    st.tuples(st.just("adjust_balance"), index,
              st.sampled_from([-5000, -1999, -1, 1, 700, 2500])),
    st.tuples(st.just("cancel"), index))
# Every history starts with some customers subscribed, so there is something to work on.
opening = st.lists(st.tuples(st.just("subscribe"), index, index), min_size=1, max_size=3)
histories = st.tuples(opening, st.lists(operation, min_size=3, max_size=MAX_OPERATIONS)).map(
    lambda parts: parts[0] + parts[1])


# ---------------------------------------------------------------------------------------------
# What must hold, read from the database.


def _role_balances(world: World, role: str, by_product: bool = False
                   ) -> dict[tuple[str | None, str], int]:
    """Credits minus debits on the accounts of a role, per (product, currency), the product
    None unless `by_product`; zeros left out."""
    line = m.JournalLine
    keys = (line.product_id, line.currency) if by_product else (line.currency,)
    with world.kassa.uow() as uow:
        rows = uow.session.execute(
            select(*keys, -func.sum(line.amount))
            .join(m.LedgerAccount, m.LedgerAccount.id == line.account_id)
            .where(line.org_id == world.org_id, m.LedgerAccount.role == role)
            .group_by(*keys)).all()
    return {(row[0] if by_product else None, row[-2]): int(row[-1])
            for row in rows if row[-1]}


def assert_every_entry_balances(world: World) -> None:
    line = m.JournalLine
    with world.kassa.uow() as uow:
        unbalanced = uow.session.execute(
            select(line.entry_id, line.currency, func.sum(line.amount))
            .where(line.org_id == world.org_id)
            .group_by(line.entry_id, line.currency)
            .having(func.sum(line.amount) != 0)).all()
        entries = uow.session.scalar(select(func.count()).select_from(m.JournalEntry)
                                     .where(m.JournalEntry.org_id == world.org_id))
        assert entries, "a history with a subscription posts entries"
    assert unbalanced == []


def assert_reconciles(world: World) -> None:
    with world.kassa.uow() as uow:
        report = ledger_reports.reconciliation(uow.session, world.org_id, *WIDE)
        balance = ledger_reports.trial_balance(uow.session, world.org_id, *WIDE)
    assert report["differences"] == [] and report["balanced"]
    assert balance["balanced"]


def assert_revenue_is_what_was_invoiced_net_of_tax(world: World) -> None:
    """Deferred plus recognized revenue equals the invoices standing (finalized, not void)
    less the credit notes standing, both net of tax, per currency."""
    expected: dict[tuple[None, str], int] = defaultdict(int)
    with world.kassa.uow() as uow:
        for currency, total, tax in uow.session.execute(
                select(m.Invoice.currency, m.Invoice.total, m.Invoice.tax)
                .where(m.Invoice.org_id == world.org_id, m.Invoice.finalized_at.is_not(None),
                       m.Invoice.status != "void")):
            expected[(None, currency)] += total - (tax or 0)
        for currency, total, tax in uow.session.execute(
                select(m.CreditNote.currency, m.CreditNote.total, m.CreditNote.tax)
                .where(m.CreditNote.org_id == world.org_id, m.CreditNote.status != "void")):
            expected[(None, currency)] -= total - (tax or 0)
    booked: dict[tuple[None, str], int] = defaultdict(int)
    for role in ("deferred_revenue", "revenue"):
        for key, amount in _role_balances(world, role).items():
            booked[key] += amount
    assert {k: v for k, v in booked.items() if v} == {k: v for k, v in expected.items() if v}


def assert_schedules_agree_with_the_ledger(world: World) -> None:
    """Per product and currency, deferred revenue is what the schedules have still to earn
    and revenue is what they have earned."""
    remaining: dict[tuple[str | None, str], int] = defaultdict(int)
    earned: dict[tuple[str | None, str], int] = defaultdict(int)
    with world.kassa.uow() as uow:
        for product, currency, amount, recognized in uow.session.execute(
                select(m.RevenueSchedule.product_id, m.RevenueSchedule.currency,
                       m.RevenueSchedule.amount, m.RevenueSchedule.recognized)
                .where(m.RevenueSchedule.org_id == world.org_id)):
            remaining[(product, currency)] += amount - recognized
            earned[(product, currency)] += recognized
    assert _role_balances(world, "deferred_revenue", by_product=True) == {
        k: v for k, v in remaining.items() if v}
    assert _role_balances(world, "revenue", by_product=True) == {
        k: v for k, v in earned.items() if v}


def assert_elapsed_periods_are_recognized(world: World, *, all_elapsed: bool) -> None:
    """Right after an advance: every schedule whose period ended by the clock's day is
    recognized in full (and, `all_elapsed`, that is every schedule)."""
    with world.kassa.uow() as uow:
        schedules = list(uow.session.scalars(
            select(m.RevenueSchedule).where(m.RevenueSchedule.org_id == world.org_id)))
    for schedule in schedules:
        if schedule.end_day <= world.today:
            assert (schedule.recognized, schedule.done) == (schedule.amount, True), (
                schedule.kind, schedule.amount, schedule.first_day, schedule.end_day)
        else:
            assert not all_elapsed, (schedule.first_day, schedule.end_day, world.today)


def assert_ledger_holds(world: World, *, advanced: bool = True,
                        all_elapsed: bool = False) -> None:
    assert_every_entry_balances(world)
    assert_reconciles(world)
    assert_revenue_is_what_was_invoiced_net_of_tax(world)
    assert_schedules_agree_with_the_ledger(world)
    if advanced:
        assert_elapsed_periods_are_recognized(world, all_elapsed=all_elapsed)


@settings(max_examples=25, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.sampled_from(["UTC", "Europe/Amsterdam", "America/New_York"]), histories)
def test_the_ledger_holds_after_any_history(api: TestClient, kassa: Kassa, timezone: str,
                                            history: list[tuple[Any, ...]]) -> None:
    world = _world(api, kassa, timezone)
    for name, *args in history:
        made = len(world.outcomes)
        OPERATIONS[name](world, *args)
        outcomes = world.outcomes[made:]
        event(f"{name}: " + ("done" if 200 in outcomes else "refused" if outcomes
                             else "nothing to do"))
        assert_ledger_holds(world, advanced=name == "advance")
    _let_every_period_pass(world)
    assert_ledger_holds(world, all_elapsed=True)


def _let_every_period_pass(world: World) -> None:
    """Nothing more billed, and the clock moved past the end of every service period."""
    for subscription, _ in _live_subscriptions(world):
        world.call("DELETE", f"/v1/subscriptions/{subscription}")
    do_advance(world, (max(world.now, END) - world.now) // DAY)


# ---------------------------------------------------------------------------------------------
# Posting once.


def _entries(kassa: Kassa, org_id: str) -> list[tuple[str, str]]:
    with kassa.uow() as uow:
        return sorted(uow.session.execute(
            select(m.JournalEntry.kind, m.JournalEntry.source_id)
            .where(m.JournalEntry.org_id == org_id)).all())


def test_paying_an_invoice_twice_posts_one_payment(api: TestClient, kassa: Kassa) -> None:
    world = _world(api, kassa)
    do_subscribe(world, 3, 0)  # sent by e-mail: the first invoice stays open
    [invoice] = _invoices(world, "open")
    ok(api.post(f"/v1/invoices/{invoice}/pay", json={"paid_out_of_band": True}))
    posted = _entries(kassa, world.org_id)
    again = api.post(f"/v1/invoices/{invoice}/pay", json={"paid_out_of_band": True})
    assert again.status_code == 400
    assert _entries(kassa, world.org_id) == posted
    assert [kind for kind, _ in posted].count("payment.succeeded") == 1
    assert_ledger_holds(world)


def test_voiding_a_credit_note_twice_reverses_it_once(api: TestClient, kassa: Kassa) -> None:
    world = _world(api, kassa)
    do_subscribe(world, 0, 0)
    [invoice] = _invoices(world, "paid")
    note = ok(api.post("/v1/credit_notes", json={"invoice": invoice, "amount": 500}))
    ok(api.post(f"/v1/credit_notes/{note['id']}/void"))
    posted = _entries(kassa, world.org_id)
    assert api.post(f"/v1/credit_notes/{note['id']}/void").status_code == 400
    assert _entries(kassa, world.org_id) == posted
    assert [kind for kind, source in posted if source == note["id"]] == [
        "credit_note.issued", "credit_note.voided"]
    assert_ledger_holds(world)


def test_recognizing_again_posts_nothing_more(api: TestClient, kassa: Kassa) -> None:
    world = _world(api, kassa)
    do_subscribe(world, 1, 2)  # a year, recognized day by day
    do_advance(world, 40)
    posted = _entries(kassa, world.org_id)
    assert ("revenue.recognized" in [kind for kind, _ in posted])
    now = datetime.fromtimestamp(world.now, UTC)
    with kassa.uow() as uow:
        assert recognition.recognize(uow.session, world.org_id, now,
                                     customer_ids=[c for c, _ in world.customers]) == 0
        uow.commit()
    do_advance(world, 0)
    assert _entries(kassa, world.org_id) == posted
    assert_ledger_holds(world)


# ---------------------------------------------------------------------------------------------
# Written off, then changed: histories the property found, pinned (the invoice's unpaid part
# sits in bad debt from its write-off on, whatever happens to it after).


def _written_off_with_a_credit_note(api: TestClient, world: World) -> tuple[str, str]:
    """An invoice sent by e-mail (24.19 with Dutch VAT), credited 5.00 before payment, then
    written off; its id and the credit note's."""
    do_subscribe(world, 3, 0)
    [invoice] = _invoices(world, "open")
    note = ok(api.post("/v1/credit_notes", json={"invoice": invoice, "amount": 500}))
    ok(api.post(f"/v1/invoices/{invoice}/mark_uncollectible"))
    assert_ledger_holds(world, advanced=False)
    return invoice, note["id"]


def test_voiding_a_credit_note_of_a_written_off_invoice_adds_to_its_bad_debt(
        api: TestClient, kassa: Kassa) -> None:
    world = _world(api, kassa)
    invoice, note = _written_off_with_a_credit_note(api, world)
    ok(api.post(f"/v1/credit_notes/{note}/void"))
    after = ok(api.get(f"/v1/invoices/{invoice}"))
    assert (after["status"], after["amount_remaining"]) == ("uncollectible", 2419)
    assert_ledger_holds(world, advanced=False)
    ok(api.post(f"/v1/invoices/{invoice}/void"))  # the bad debt goes with the invoice
    assert_ledger_holds(world, advanced=False)
    assert _role_balances(world, "bad_debt") == {}


def test_a_written_off_invoice_paid_then_reopened_is_recovered_from_bad_debt(
        api: TestClient, kassa: Kassa) -> None:
    world = _world(api, kassa)
    invoice, note = _written_off_with_a_credit_note(api, world)
    ok(api.post(f"/v1/invoices/{invoice}/pay", json={"paid_out_of_band": True}))
    ok(api.post(f"/v1/credit_notes/{note}/void"))  # 5.00 owed again
    after = ok(api.get(f"/v1/invoices/{invoice}"))
    assert (after["status"], after["amount_remaining"]) == ("open", 500)
    assert_ledger_holds(world, advanced=False)
    ok(api.post(f"/v1/invoices/{invoice}/pay", json={"paid_out_of_band": True}))
    assert_ledger_holds(world, advanced=False)
    assert _role_balances(world, "bad_debt") == {}


def test_voiding_a_written_off_invoice_gives_back_the_credit_it_used(
        api: TestClient, kassa: Kassa) -> None:
    world = _world(api, kassa)
    customer = world.customers[3][0]
    do_adjust_balance(world, 3, -500)
    do_subscribe(world, 3, 0)
    [invoice] = _invoices(world, "open")
    assert ok(api.get(f"/v1/invoices/{invoice}"))["amount_remaining"] == 2419 - 500
    ok(api.post(f"/v1/invoices/{invoice}/mark_uncollectible"))
    ok(api.post(f"/v1/invoices/{invoice}/void"))
    assert ok(api.get(f"/v1/customers/{customer}"))["balance"] == -500
    assert_ledger_holds(world, advanced=False)
    assert _role_balances(world, "bad_debt") == {}
