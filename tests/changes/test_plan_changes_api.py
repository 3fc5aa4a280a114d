"""Plan changes through the API: worked examples with known answers."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api.helpers import (
    advance,
    assert_error,
    create_clock,
    create_customer,
    create_price,
    list_all,
    ok,
    snapshot,
    ts,
)


def _setup(api: TestClient, start: int, amount: int = 1000, currency: str = "usd",
           **customer: Any) -> tuple[str, dict[str, Any]]:
    clock = create_clock(api, start)
    cust = create_customer(api, test_clock=clock["id"], **customer)
    price = create_price(api, amount, currency=currency, name="Pro")
    return clock["id"], {"customer": cust, "price": price}


def _pending(api: TestClient, customer: str) -> list[dict[str, Any]]:
    return [item for item in list_all(api, "/v1/invoiceitems", customer=customer)
            if item["invoice"] is None]


def test_stripe_worked_example_10_to_20_halfway(api: TestClient) -> None:
    """Stripe's proration guide: $10 -> $20 exactly halfway gives -$5.00 and +$10.00."""
    clock, made = _setup(api, ts(2026, 4, 1))
    higher = create_price(api, 2000, currency="usd", name="Business")
    sub = ok(api.post("/v1/subscriptions", json={"customer": made["customer"]["id"],
                                                 "items": [{"price": made["price"]["id"]}]}))
    advance(api, clock, ts(2026, 4, 16))  # April has 30 days: exactly halfway
    item = sub["items"]["data"][0]["id"]
    ok(api.post(f"/v1/subscriptions/{sub['id']}",
                json={"items": [{"id": item, "price": higher["id"]}]}))
    lines = sorted((i["amount"], i["description"]) for i in _pending(api, made["customer"]["id"]))
    assert lines == [(-500, "Unused time on Pro after 16 Apr 2026"),
                     (1000, "Remaining time on Business after 16 Apr 2026")]
    advance(api, clock, ts(2026, 5, 1, 1))
    invoices = list_all(api, "/v1/invoices", customer=made["customer"]["id"])
    renewal = next(i for i in invoices if i["billing_reason"] == "subscription_cycle")
    assert sorted(line["amount"] for line in renewal["lines"]["data"]) == [-500, 1000, 2000]
    assert renewal["total"] == 2500


def _subscribe(api: TestClient, made: dict[str, Any], quantity: int = 1,
               **fields: Any) -> dict[str, Any]:
    return ok(api.post("/v1/subscriptions", json={
        "customer": made["customer"]["id"],
        "items": [{"price": made["price"]["id"], "quantity": quantity}], **fields}))


def _change(api: TestClient, sub: dict[str, Any], **body: Any) -> dict[str, Any]:
    return ok(api.post(f"/v1/subscriptions/{sub['id']}", json=body))


def _item(sub: dict[str, Any]) -> str:
    return str(sub["items"]["data"][0]["id"])


def _invoices(api: TestClient, customer: str) -> list[dict[str, Any]]:
    return list_all(api, "/v1/invoices", customer=customer)


def test_day_granularity_leaves_17_of_31_days(api: TestClient) -> None:
    """A change on Mar 15 in a Mar 1 - Apr 1 period leaves 17/31 of the period."""
    ok(api.post("/v1/organization", json={"proration_granularity": "day"}))
    clock, made = _setup(api, ts(2026, 3, 1), amount=3100, currency="eur")
    sub = _subscribe(api, made)
    advance(api, clock, ts(2026, 3, 15, 17, 45))  # the time of day does not matter
    double = create_price(api, 6200, currency="eur", name="Business")
    _change(api, sub, items=[{"id": _item(sub), "price": double["id"]}])
    pending = sorted(i["amount"] for i in _pending(api, made["customer"]["id"]))
    assert pending == [-1700, 3400]


def test_subscription_overrides_the_organization_granularity(api: TestClient) -> None:
    clock, made = _setup(api, ts(2026, 3, 1), amount=3100, currency="eur")
    sub = _subscribe(api, made, proration_granularity="day")
    assert sub["proration_granularity"] == "day"
    advance(api, clock, ts(2026, 3, 15, 12))
    _change(api, sub, items=[{"id": _item(sub), "quantity": 2}])
    assert sorted(i["amount"] for i in _pending(api, made["customer"]["id"])) == [-1700, 3400]
    # By the second (the default), in the organization's Amsterdam time: the period ends
    # Apr 1 01:00 CEST = Mar 31 23:00 UTC and is 743 hours long (summer time starts on
    # Mar 29); 395 hours remain after noon UTC on Mar 15: 3100 x 395/743 = 1648.05.
    clock2, made2 = _setup(api, ts(2026, 3, 1), amount=3100, currency="eur")
    sub2 = _subscribe(api, made2)
    advance(api, clock2, ts(2026, 3, 15, 12))
    _change(api, sub2, items=[{"id": _item(sub2), "quantity": 2}])
    assert sorted(i["amount"] for i in _pending(api, made2["customer"]["id"])) == [-1648, 3296]


def test_seat_change_describes_the_seats(api: TestClient) -> None:
    clock = create_clock(api, ts(2026, 3, 1))
    cust = create_customer(api, test_clock=clock["id"])
    price = ok(api.post("/v1/prices", json={
        "product_data": {"name": "Pro", "unit_label": "seat"}, "currency": "eur",
        "unit_amount": 1000, "recurring": {"interval": "month"}}))
    sub = ok(api.post("/v1/subscriptions", json={
        "customer": cust["id"], "items": [{"price": price["id"], "quantity": 10}],
        "proration_granularity": "day"}))
    advance(api, clock["id"], ts(2026, 3, 15))
    _change(api, sub, items=[{"id": _item(sub), "quantity": 12}])
    described = sorted((i["amount"], i["description"]) for i in _pending(api, cust["id"]))
    # 17 of 31 days remain: 10 seats credited (10,000 x 17/31 = 5,483.87), 12 charged.
    assert described == [(-5484, "Unused time on Pro (10 seats) after 15 Mar 2026"),
                         (6581, "Remaining time on Pro (12 seats) after 15 Mar 2026")]


def test_change_on_the_first_day_swaps_the_whole_period(api: TestClient) -> None:
    clock, made = _setup(api, ts(2026, 4, 1))
    sub = _subscribe(api, made)
    higher = create_price(api, 2000, currency="usd", name="Business")
    _change(api, sub, items=[{"id": _item(sub), "price": higher["id"]}])
    assert sorted(i["amount"] for i in _pending(api, made["customer"]["id"])) == [-1000, 2000]
    advance(api, clock, ts(2026, 5, 1, 1))
    advance(api, clock, ts(2026, 6, 1, 1))
    billed = [line["amount"] for invoice in _invoices(api, made["customer"]["id"])
              for line in invoice["lines"]["data"]]
    # First invoice 1000, credit -1000 and +2000 on May's invoice with May's 2000, June 2000.
    assert sorted(billed) == [-1000, 1000, 2000, 2000, 2000]


def test_same_day_double_change_never_double_bills(api: TestClient) -> None:
    clock, made = _setup(api, ts(2026, 4, 1))
    sub = _subscribe(api, made)
    mid = create_price(api, 2000, currency="usd", name="Business")
    top = create_price(api, 3000, currency="usd", name="Enterprise")
    advance(api, clock, ts(2026, 4, 16))
    _change(api, sub, items=[{"id": _item(sub), "price": mid["id"]}])
    advance(api, clock, ts(2026, 4, 16, 6))  # six hours later: 14.75 days of 30 remain
    _change(api, sub, items=[{"id": _item(sub), "price": top["id"]}])
    pending = sorted((i["amount"], i["description"])
                     for i in _pending(api, made["customer"]["id"]))
    assert pending == [
        (-500, "Unused time on Pro after 16 Apr 2026"),
        (17, "Time on Business from 16 Apr 2026 until 16 Apr 2026"),  # 2000 x 0.25/30
        (1475, "Remaining time on Enterprise after 16 Apr 2026"),
    ]
    # Held: Pro 15 days, Business 6 hours, Enterprise 14.75 days = 500 + 16.67 + 1475.
    charged = 1000 + sum(amount for amount, _ in pending)
    assert charged == 1992


def test_upgrade_then_downgrade_credits_what_was_charged(api: TestClient) -> None:
    """After an upgrade was invoiced, a downgrade credits the upgrade's remaining charge."""
    clock, made = _setup(api, ts(2026, 4, 1))
    sub = _subscribe(api, made)
    higher = create_price(api, 2000, currency="usd", name="Business")
    advance(api, clock, ts(2026, 4, 11))
    upgraded = _change(api, sub, items=[{"id": _item(sub), "price": higher["id"]}],
                       proration_behavior="always_invoice")
    now_invoice = ok(api.get(f"/v1/invoices/{upgraded['latest_invoice']}"))
    assert now_invoice["status"] == "open" and now_invoice["billing_reason"] == \
        "subscription_update"
    assert sorted(line["amount"] for line in now_invoice["lines"]["data"]) == [-667, 1333]
    advance(api, clock, ts(2026, 4, 21))
    _change(api, sub, items=[{"id": _item(sub), "price": made["price"]["id"]}])
    pending = sorted(i["amount"] for i in _pending(api, made["customer"]["id"]))
    # 10 days of Business credited, 10 days of Pro charged. The credit is capped by what the
    # item's ledger holds for those 10 days: Pro 1000 x 10/30 - 667 x 10/20 + 1333 x 10/20
    # = 666.33, less than Business's 666.67 at list price.
    assert pending == [-666, 333]
    # Over April: Pro 10 days + Business 10 days + Pro 10 days = 333.33 + 666.67 + 333.33.
    assert 1000 - 667 + 1333 + sum(pending) == 1333


def test_coupon_credit_never_exceeds_what_was_paid(api: TestClient) -> None:
    clock, made = _setup(api, ts(2026, 4, 1))
    coupon = ok(api.post("/v1/coupons", json={"percent_off": 50, "duration": "once"}))
    sub = _subscribe(api, made, coupon=coupon["id"])
    first = ok(api.get(f"/v1/invoices/{sub['latest_invoice']}"))
    assert first["total"] == 500
    higher = create_price(api, 2000, currency="usd", name="Business")
    advance(api, clock, ts(2026, 4, 16))
    _change(api, sub, items=[{"id": _item(sub), "price": higher["id"]}])
    # Half of Pro is unused, but only 500 was paid for all of it: 250 comes back, not 500.
    assert sorted(i["amount"] for i in _pending(api, made["customer"]["id"])) == [-250, 1000]


def test_forever_coupon_discounts_the_new_charge_not_the_credit(api: TestClient) -> None:
    clock, made = _setup(api, ts(2026, 4, 1))
    coupon = ok(api.post("/v1/coupons", json={"percent_off": 50, "duration": "forever"}))
    sub = _subscribe(api, made, coupon=coupon["id"])
    higher = create_price(api, 2000, currency="usd", name="Business")
    advance(api, clock, ts(2026, 4, 16))
    _change(api, sub, items=[{"id": _item(sub), "price": higher["id"]}],
            proration_behavior="always_invoice")
    latest = ok(api.get(f"/v1/subscriptions/{sub['id']}"))["latest_invoice"]
    invoice = ok(api.get(f"/v1/invoices/{latest}"))
    # Credit 250 (what was paid for the unused half), charge 1000 less 50% = 500.
    assert invoice["subtotal"] == 750 and invoice["total"] == 250


def test_downgrade_on_a_paid_invoice_becomes_balance(api: TestClient) -> None:
    clock, made = _setup(api, ts(2026, 4, 1), amount=2000)
    sub = _subscribe(api, made)
    ok(api.post(f"/v1/invoices/{sub['latest_invoice']}/pay", json={"paid_out_of_band": True}))
    lower = create_price(api, 1000, currency="usd", name="Basic")
    advance(api, clock, ts(2026, 4, 16))
    changed = _change(api, sub, items=[{"id": _item(sub), "price": lower["id"]}],
                      proration_behavior="always_invoice")
    credit = ok(api.get(f"/v1/invoices/{changed['latest_invoice']}"))
    assert credit["total"] == -500 and credit["amount_due"] == 0 and credit["status"] == "paid"
    customer = ok(api.get(f"/v1/customers/{made['customer']['id']}"))
    assert customer["balance"] == -500
    txns = ok(api.get(f"/v1/customers/{made['customer']['id']}/balance_transactions"))
    assert txns["data"][0]["type"] == "invoice_credit"
    # The credit pays most of May's 1000.
    advance(api, clock, ts(2026, 5, 1, 2))
    may = next(i for i in _invoices(api, made["customer"]["id"])
               if i["billing_reason"] == "subscription_cycle")
    assert may["total"] == 1000 and may["amount_due"] == 500


def test_downgrade_at_period_end(api: TestClient) -> None:
    clock, made = _setup(api, ts(2026, 4, 1), amount=2000)
    sub = _subscribe(api, made)
    lower = create_price(api, 1000, currency="usd", name="Basic")
    advance(api, clock, ts(2026, 4, 10))
    changed = _change(api, sub, items=[{"id": _item(sub), "price": lower["id"]}],
                      effective_at="period_end")
    assert changed["items"]["data"][0]["price"]["id"] == made["price"]["id"]
    assert changed["items"]["data"][0]["pending_change"] == {
        "price": lower["id"], "quantity": 1, "effective_at": ts(2026, 5, 1)}
    assert _pending(api, made["customer"]["id"]) == []
    advance(api, clock, ts(2026, 5, 1, 2))
    may = next(i for i in _invoices(api, made["customer"]["id"])
               if i["billing_reason"] == "subscription_cycle")
    assert may["total"] == 1000
    after = ok(api.get(f"/v1/subscriptions/{sub['id']}"))
    assert after["items"]["data"][0]["price"]["id"] == lower["id"]


def test_cancel_now_with_prorate_and_invoice_now(api: TestClient) -> None:
    clock, made = _setup(api, ts(2026, 4, 1))
    sub = _subscribe(api, made)
    ok(api.post(f"/v1/invoices/{sub['latest_invoice']}/pay", json={"paid_out_of_band": True}))
    advance(api, clock, ts(2026, 4, 25))
    canceled = ok(api.delete(f"/v1/subscriptions/{sub['id']}",
                             params={"prorate": "true", "invoice_now": "true"}))
    assert canceled["status"] == "canceled"
    final = ok(api.get(f"/v1/invoices/{canceled['latest_invoice']}"))
    assert [line["amount"] for line in final["lines"]["data"]] == [-200]  # 6 of 30 days
    assert ok(api.get(f"/v1/customers/{made['customer']['id']}"))["balance"] == -200
    advance(api, clock, ts(2026, 6, 1))
    assert len(_invoices(api, made["customer"]["id"])) == 2


def test_pause_and_resume_of_service(api: TestClient) -> None:
    clock, made = _setup(api, ts(2026, 4, 1), amount=3000)
    sub = _subscribe(api, made)
    advance(api, clock, ts(2026, 4, 11))
    paused = ok(api.post(f"/v1/subscriptions/{sub['id']}/pause", json={}))
    assert paused["status"] == "paused"
    assert [i["amount"] for i in _pending(api, made["customer"]["id"])] == [-2000]
    assert_error(api.post(f"/v1/subscriptions/{sub['id']}/pause", json={}), 400,
                 code="subscription_paused")
    advance(api, clock, ts(2026, 5, 16))  # nothing is billed while paused
    assert len(_invoices(api, made["customer"]["id"])) == 1
    resumed = ok(api.post(f"/v1/subscriptions/{sub['id']}/resume", json={}))
    assert resumed["status"] == "active"
    assert (resumed["current_period_start"], resumed["current_period_end"]) == \
        (ts(2026, 5, 16), ts(2026, 6, 1))
    restart = ok(api.get(f"/v1/invoices/{resumed['latest_invoice']}"))
    # 16 of 31 May days at 3000, and the credit for April's unused 20 days.
    assert sorted(line["amount"] for line in restart["lines"]["data"]) == [-2000, 1548]
    advance(api, clock, ts(2026, 6, 1, 2))
    june = _invoices(api, made["customer"]["id"])[0]
    assert june["total"] == 3000


def test_monthly_to_yearly_starts_a_new_cycle_now(api: TestClient) -> None:
    clock, made = _setup(api, ts(2026, 4, 1))
    sub = _subscribe(api, made)
    yearly = create_price(api, 10000, currency="usd", interval="year", name="Pro yearly")
    advance(api, clock, ts(2026, 4, 16))
    changed = _change(api, sub, items=[{"id": _item(sub), "price": yearly["id"]}])
    assert changed["billing_cycle_anchor"] == ts(2026, 4, 16)
    assert (changed["current_period_start"], changed["current_period_end"]) == \
        (ts(2026, 4, 16), ts(2027, 4, 16))
    invoice = ok(api.get(f"/v1/invoices/{changed['latest_invoice']}"))
    assert sorted(line["amount"] for line in invoice["lines"]["data"]) == [-500, 10000]
    assert invoice["status"] == "open"
    advance(api, clock, ts(2026, 12, 1))
    assert len(_invoices(api, made["customer"]["id"])) == 2


def test_billing_cycle_anchor_now_credits_and_restarts(api: TestClient) -> None:
    clock, made = _setup(api, ts(2026, 4, 1))
    sub = _subscribe(api, made)
    advance(api, clock, ts(2026, 4, 16))
    changed = _change(api, sub, billing_cycle_anchor="now")
    invoice = ok(api.get(f"/v1/invoices/{changed['latest_invoice']}"))
    assert sorted(line["amount"] for line in invoice["lines"]["data"]) == [-500, 1000]
    assert changed["current_period_end"] == ts(2026, 5, 16)


def test_backdated_seat_added_a_week_ago(api: TestClient) -> None:
    """A seat added effective Mar 27, recorded on Apr 3: March's last 5 days and all of
    April (already invoiced) are billed for two seats; nothing else changes."""
    clock, made = _setup(api, ts(2026, 3, 1), amount=3100, currency="eur")
    sub = _subscribe(api, made)
    advance(api, clock, ts(2026, 4, 3))
    _change(api, sub, items=[{"id": _item(sub), "quantity": 2}],
            effective_at=ts(2026, 3, 27))
    pending = sorted((i["amount"], i["period"]["start"])
                     for i in _pending(api, made["customer"]["id"]))
    # Periods run from 01:00 Amsterdam time: March's ends Mar 31 23:00 UTC, 743 hours in
    # all (summer time), 119 of them after Mar 27 00:00 UTC: 3100 x 119/743 = 496.5 for one
    # seat, 993 for two. April (already invoiced) is credited and charged in full.
    april = ts(2026, 3, 31, 23)
    assert pending == [(-3100, april), (-497, ts(2026, 3, 27)), (993, ts(2026, 3, 27)),
                       (6200, april)]
    assert_error(api.post(f"/v1/subscriptions/{sub['id']}", json={
        "items": [{"id": _item(sub), "quantity": 3}], "effective_at": ts(2026, 3, 20)}), 400,
        param="effective_at")


def test_rerunning_billing_after_changes_creates_nothing(api: TestClient) -> None:
    clock, made = _setup(api, ts(2026, 4, 1))
    sub = _subscribe(api, made)
    higher = create_price(api, 2000, currency="usd", name="Business")
    advance(api, clock, ts(2026, 4, 16))
    _change(api, sub, items=[{"id": _item(sub), "price": higher["id"]}])
    advance(api, clock, ts(2026, 5, 1, 2))
    before = snapshot(api)
    advance(api, clock, ts(2026, 5, 1, 3))
    advance(api, clock, ts(2026, 5, 2))
    assert snapshot(api) == before


def test_bad_changes_write_nothing(api: TestClient) -> None:
    clock, made = _setup(api, ts(2026, 4, 1))
    sub = _subscribe(api, made)
    eur = create_price(api, 1000, currency="eur", name="Euro plan")
    advance(api, clock, ts(2026, 4, 10))
    before = snapshot(api)
    path = f"/v1/subscriptions/{sub['id']}"
    assert_error(api.post(path, json={"items": [{"id": _item(sub), "price": eur["id"]}]}),
                 400, code="currency_mismatch")
    assert_error(api.post(path, json={"items": [{"id": _item(sub), "quantity": 2}],
                                      "proration_date": ts(2026, 3, 20)}), 400,
                 code="proration_date_out_of_period")
    assert_error(api.post(path, json={"items": [{"id": _item(sub), "quantity": 2}],
                                      "effective_at": ts(2026, 5, 20)}), 400,
                 param="effective_at")
    assert_error(api.post(path, json={"items": [{"id": "si_nope", "quantity": 2}]}), 400,
                 param="items[0][id]")
    assert_error(api.post(path, json={"items": [{"id": _item(sub), "deleted": True}]}), 400,
                 param="items")
    assert_error(api.post(f"{path}/resume", json={}), 400, code="subscription_not_paused")
    assert snapshot(api) == before
    ok(api.delete(path))
    before = snapshot(api)
    assert_error(api.post(path, json={"items": [{"id": _item(sub), "quantity": 2}]}), 400)
    assert_error(api.post(f"{path}/pause", json={}), 400)
    assert snapshot(api) == before


def test_upcoming_invoice_previews_a_change_exactly(api: TestClient) -> None:
    clock, made = _setup(api, ts(2026, 4, 1))
    sub = _subscribe(api, made)
    higher = create_price(api, 2000, currency="usd", name="Business")
    advance(api, clock, ts(2026, 4, 16))
    before = snapshot(api)
    preview = ok(api.get("/v1/invoices/upcoming", params={
        "customer": made["customer"]["id"], "subscription": sub["id"],
        "subscription_items[0][id]": _item(sub),
        "subscription_items[0][price]": higher["id"],
        "subscription_proration_date": ts(2026, 4, 16)}))
    assert snapshot(api) == before
    previewed = sorted((line["amount"], line["description"])
                       for line in preview["lines"]["data"])
    assert previewed == [(-500, "Unused time on Pro after 16 Apr 2026"),
                         (1000, "Remaining time on Business after 16 Apr 2026"),
                         (2000, "1 × Business")]
    _change(api, sub, items=[{"id": _item(sub), "price": higher["id"]}],
            proration_date=ts(2026, 4, 16))
    actual = ok(api.get("/v1/invoices/upcoming", params={"customer": made["customer"]["id"]}))
    assert sorted((line["amount"], line["description"]) for line in actual["lines"]["data"]) \
        == previewed
    assert actual["total"] == preview["total"] == 2500


def test_pause_collection_behaviors(api: TestClient) -> None:
    statuses = {}
    for behavior in ("keep_as_draft", "mark_uncollectible", "void"):
        clock, made = _setup(api, ts(2026, 4, 1))
        sub = _subscribe(api, made)
        paused = _change(api, sub, pause_collection={"behavior": behavior})
        assert paused["pause_collection"] == {"behavior": behavior, "resumes_at": None}
        assert_error(api.post(f"/v1/subscriptions/{sub['id']}",
                              json={"pause_collection": {"behavior": behavior}}), 400,
                     code="subscription_paused")
        advance(api, clock, ts(2026, 5, 2))
        may = next(i for i in _invoices(api, made["customer"]["id"])
                   if i["billing_reason"] == "subscription_cycle")
        statuses[behavior] = may["status"]
        # Lifting the pause: June's invoice is collected normally again.
        _change(api, sub, pause_collection="")
        advance(api, clock, ts(2026, 6, 2))
        june = _invoices(api, made["customer"]["id"])[0]
        assert june["status"] == "open" and june["period_start"] >= ts(2026, 5, 31)
    assert statuses == {"keep_as_draft": "draft", "mark_uncollectible": "uncollectible",
                        "void": "void"}


def test_pause_collection_resumes_by_itself(api: TestClient) -> None:
    clock, made = _setup(api, ts(2026, 4, 1))
    sub = _subscribe(api, made)
    _change(api, sub, pause_collection={"behavior": "void", "resumes_at": ts(2026, 5, 15)})
    advance(api, clock, ts(2026, 6, 2))
    statuses = [i["status"] for i in _invoices(api, made["customer"]["id"])]
    assert statuses == ["open", "void", "open"]  # June, May, April (newest first)
    assert ok(api.get(f"/v1/subscriptions/{sub['id']}"))["pause_collection"] is None


def test_pause_with_scheduled_resume(api: TestClient) -> None:
    clock, made = _setup(api, ts(2026, 4, 1), amount=3000)
    sub = _subscribe(api, made)
    advance(api, clock, ts(2026, 4, 11))
    paused = ok(api.post(f"/v1/subscriptions/{sub['id']}/pause",
                         json={"resumes_at": ts(2026, 5, 16)}))
    assert paused["resumes_at"] == ts(2026, 5, 16)
    advance(api, clock, ts(2026, 5, 20))
    resumed = ok(api.get(f"/v1/subscriptions/{sub['id']}"))
    assert resumed["status"] == "active" and resumed["paused_at"] is None
    restart = ok(api.get(f"/v1/invoices/{resumed['latest_invoice']}"))
    assert restart["period_start"] == ts(2026, 5, 16)
    assert sorted(line["amount"] for line in restart["lines"]["data"]) == [-2000, 1548]


def test_reactivation_before_the_period_ends(api: TestClient) -> None:
    clock, made = _setup(api, ts(2026, 4, 1), amount=2000)
    sub = _subscribe(api, made)
    lower = create_price(api, 1000, currency="usd", name="Basic")
    advance(api, clock, ts(2026, 4, 10))
    _change(api, sub, cancel_at_period_end=True)
    _change(api, sub, items=[{"id": _item(sub), "price": lower["id"]}],
            effective_at="period_end")
    advance(api, clock, ts(2026, 4, 20))
    # The customer stays after all, on the plan they have.
    _change(api, sub, cancel_at_period_end=False)
    kept = _change(api, sub, items=[{"id": _item(sub), "price": made["price"]["id"]}],
                   effective_at="period_end")
    assert kept["cancel_at"] is None and kept["items"]["data"][0]["pending_change"] is None
    advance(api, clock, ts(2026, 5, 1, 2))
    may = next(i for i in _invoices(api, made["customer"]["id"])
               if i["billing_reason"] == "subscription_cycle")
    assert may["total"] == 2000
    assert ok(api.get(f"/v1/subscriptions/{sub['id']}"))["status"] == "active"


def test_removing_a_metered_item_still_bills_its_usage_so_far(api: TestClient) -> None:
    """Usage is never lost: a metered item removed on Mar 16 bills what its meter measured
    until then (on the invoice at the period's end); usage after the removal is not billed."""
    clock = create_clock(api, ts(2026, 3, 1))["id"]
    cust = create_customer(api, test_clock=clock, timezone="UTC")
    meter = ok(api.post("/v1/billing/meters", json={
        "display_name": "API calls", "event_name": "api_call",
        "default_aggregation": {"formula": "sum"}}))
    base = create_price(api, 4900, name="Platform")
    calls = ok(api.post("/v1/prices", json={
        "product_data": {"name": "API calls"}, "currency": "eur", "unit_amount": 2,
        "recurring": {"interval": "month", "usage_type": "metered", "meter": meter["id"]}}))
    sub = ok(api.post("/v1/subscriptions", json={
        "customer": cust["id"], "items": [{"price": base["id"]}, {"price": calls["id"]}]}))

    def send(day: int, value: int) -> None:
        ok(api.post("/v1/billing/meter_events", json={
            "event_name": "api_call", "identifier": f"call-{day}", "timestamp": ts(2026, 3, day),
            "payload": {"customer": cust["id"], "value": value}}))

    advance(api, clock, ts(2026, 3, 16))
    send(10, 300)
    metered = next(i["id"] for i in sub["items"]["data"] if i["price"]["id"] == calls["id"])
    changed = _change(api, sub, items=[{"id": metered, "deleted": True}])
    assert [i["price"]["id"] for i in changed["items"]["data"]] == [base["id"]]
    advance(api, clock, ts(2026, 3, 20))
    send(18, 500)  # after the removal: not billed
    advance(api, clock, ts(2026, 4, 1, 2))
    april = _invoices(api, cust["id"])[0]
    usage = [line for line in april["lines"]["data"] if line["type"] == "usage"]
    assert [(line["quantity"], line["amount"]) for line in usage] == [(300, 600)]
    advance(api, clock, ts(2026, 5, 1, 2))
    may = _invoices(api, cust["id"])[0]
    assert [line["type"] for line in may["lines"]["data"]] == ["subscription"]


def test_a_voided_paused_invoice_gives_back_the_credit_it_used(api: TestClient) -> None:
    """Collection paused with `void`: the renewal invoice is voided, and the credit balance
    finalization applied to it goes back to the customer, as any void does."""
    clock, made = _setup(api, ts(2026, 4, 1))
    sub = _subscribe(api, made)
    customer = made["customer"]["id"]
    ok(api.post(f"/v1/customers/{customer}/balance_transactions",
                json={"amount": -300, "currency": "usd"}))
    _change(api, sub, pause_collection={"behavior": "void"})
    advance(api, clock, ts(2026, 5, 2))
    may = next(i for i in _invoices(api, customer) if i["billing_reason"] == "subscription_cycle")
    assert may["status"] == "void" and may["starting_balance"] == -300
    assert ok(api.get(f"/v1/customers/{customer}"))["balance"] == -300
