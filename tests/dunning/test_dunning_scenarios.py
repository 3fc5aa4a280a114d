"""Dunning end to end, through the API and a test clock (services/dunning.py): a soft decline
recovered on the third retry, the month-start rule for insufficient funds, a hard decline that
stops retries and goes to the customer, a new card retried at once, suspension of service and
its restoration on payment, each final action, and the reminders of an invoice sent to the
customer."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api.helpers import (
    advance,
    create_clock,
    create_customer,
    create_price,
    event_types,
    invoices_of,
    list_all,
    ok,
    subscribe,
    ts,
)

DAY = 86400


def policy(api: TestClient, **fields: Any) -> dict[str, Any]:
    return ok(api.post("/v1/dunning_policies",  # type: ignore[no-any-return]
                       json={"name": "Test policy", **fields}))


def paying_customer(api: TestClient, clock: dict[str, Any], token: str,
                    **fields: Any) -> dict[str, Any]:
    customer = create_customer(api, test_clock=clock["id"], timezone="Europe/Amsterdam",
                               email="billing@acme.example", **fields)
    ok(api.post("/v1/payment_methods", json={"customer": customer["id"], "token": token}))
    return customer


def payments_of(api: TestClient, invoice: str) -> list[dict[str, Any]]:
    return sorted(list_all(api, "/v1/payments", invoice=invoice),
                  key=lambda p: (p["attempt"], p["created"]))


def case_of(api: TestClient, invoice: str) -> dict[str, Any]:
    [case] = ok(api.get("/v1/dunning_cases", params={"invoice": invoice}))["data"]
    return case  # type: ignore[no-any-return]


def mails(api: TestClient, customer: str, kind: str | None = None) -> list[dict[str, Any]]:
    rows = list_all(api, "/v1/email_messages", customer=customer)
    return sorted((row for row in rows if kind is None or row["kind"] == kind),
                  key=lambda row: row["dedupe_key"])


def test_a_soft_decline_is_recovered_on_the_third_retry(api: TestClient) -> None:
    # The card has money only from the 1st to the 5th of a month; the policy retries on its
    # schedule (days 1, 3, 5), without the month-start rule.
    clock = create_clock(api, ts(2026, 1, 27, 8))
    plain = policy(api, retry_schedule=[1, 3, 5, 7], insufficient_funds_retry="schedule")
    customer = paying_customer(api, clock, "pm_card_fundsAtMonthStart",
                               dunning_policy=plain["id"])
    sub = subscribe(api, customer["id"], create_price(api, 4900)["id"])
    invoice = sub["latest_invoice"]
    case = case_of(api, invoice)
    assert (case["status"], case["decline_code"], case["payment_method_type"]) == (
        "active", "insufficient_funds", "card")
    assert case["next_retry_at"] == ts(2026, 1, 28, 9)  # 10:00 in Amsterdam
    assert ok(api.get(f"/v1/subscriptions/{sub['id']}"))["status"] == "past_due"

    advance(api, clock["id"], ts(2026, 2, 3))

    tried = payments_of(api, invoice)
    assert [(p["attempt"], p["status"], p["created"]) for p in tried] == [
        (1, "failed", ts(2026, 1, 27, 8)), (2, "failed", ts(2026, 1, 28, 9)),
        (3, "failed", ts(2026, 1, 30, 9)), (4, "succeeded", ts(2026, 2, 1, 9))]
    case = case_of(api, invoice)
    assert (case["status"], case["recovered_attempt"], case["failed_attempts"]) == (
        "recovered", 4, 3)
    assert case["ended_at"] == ts(2026, 2, 1, 9)
    assert [step["type"] for step in case["steps"]] == ["attempt_failed"] * 3 + ["recovered"]
    assert ok(api.get(f"/v1/invoices/{invoice}"))["status"] == "paid"
    assert ok(api.get(f"/v1/subscriptions/{sub['id']}"))["status"] == "active"
    # one e-mail per failed attempt, each naming the next try; then the receipt
    failed = mails(api, customer["id"], "payment_failed")
    assert len(failed) == 3
    assert "We will try again on January 28, 2026." in failed[0]["text"]
    assert "We will try again on February 1, 2026." in failed[2]["text"]
    assert mails(api, customer["id"], "payment_receipt")
    assert event_types(api).count("dunning.step") >= 4


def test_insufficient_funds_late_in_the_month_is_retried_on_the_first(
        api: TestClient) -> None:
    clock = create_clock(api, ts(2026, 1, 27, 8))
    customer = paying_customer(api, clock, "pm_card_fundsAtMonthStart")
    invoice = subscribe(api, customer["id"], create_price(api, 4900)["id"])["latest_invoice"]
    assert case_of(api, invoice)["next_retry_at"] == ts(2026, 2, 1, 9)

    advance(api, clock["id"], ts(2026, 2, 2))

    assert [(p["attempt"], p["status"]) for p in payments_of(api, invoice)] == [
        (1, "failed"), (2, "succeeded")]
    assert case_of(api, invoice)["recovered_attempt"] == 2


def test_a_hard_decline_stops_retries_and_goes_straight_to_the_customer(
        api: TestClient) -> None:
    clock = create_clock(api, ts(2026, 3, 2, 8))
    ending = policy(api, final_action="cancel_subscription")
    customer = paying_customer(api, clock, "pm_card_chargeDeclinedStolenCard",
                               dunning_policy=ending["id"])
    sub = subscribe(api, customer["id"], create_price(api, 1500)["id"])
    invoice = sub["latest_invoice"]

    case = case_of(api, invoice)
    assert (case["retries_stopped"], case["next_retry_at"]) == ("hard_decline", None)
    assert case["give_up_at"] == ts(2026, 3, 16, 9)  # when the last retry would have been
    [told] = mails(api, customer["id"], "payment_failed")
    assert "We will not charge this payment method again." in told["text"]
    assert "We will try again" not in told["text"]
    page = ok(api.get(f"/v1/invoices/{invoice}"))["hosted_invoice_path"]
    assert f"{page}/payment_method" in told["text"] and f"{page}\n" in told["text"]
    assert "your subscription will be canceled" in told["text"]
    assert "March 16, 2026" in told["text"]

    advance(api, clock["id"], ts(2026, 3, 16, 8))
    assert len(payments_of(api, invoice)) == 1  # never tried again
    assert ok(api.get(f"/v1/subscriptions/{sub['id']}"))["status"] == "past_due"

    advance(api, clock["id"], ts(2026, 3, 16, 10))
    ended = ok(api.get(f"/v1/subscriptions/{sub['id']}"))
    assert ended["status"] == "canceled"
    assert ended["cancellation_details"] == {"reason": "payment_failed", "feedback": None,
                                             "comment": None}
    assert ended["ended_at"] == ts(2026, 3, 16, 9)
    case = case_of(api, invoice)
    assert (case["status"], case["final_action"], case["canceled_subscriptions"]) == (
        "exhausted", "cancel_subscription", 1)
    assert mails(api, customer["id"], "subscription_canceled")
    assert "customer.subscription.deleted" in event_types(api)


def test_a_new_card_is_retried_at_once_and_recovers_the_invoice(api: TestClient) -> None:
    clock = create_clock(api, ts(2026, 3, 2, 8))
    customer = paying_customer(api, clock, "pm_card_chargeDeclinedLostCard")
    invoice = subscribe(api, customer["id"], create_price(api, 1500)["id"])["latest_invoice"]
    assert case_of(api, invoice)["retries_stopped"] == "hard_decline"

    # No set_default and no advance: a card given while in dunning is the one to charge.
    card = ok(api.post("/v1/payment_methods", json={"customer": customer["id"],
                                                    "token": "pm_card_visa"}))

    assert [(p["attempt"], p["status"], p["payment_method"]) for p in
            payments_of(api, invoice)][1] == (2, "succeeded", card["id"])
    assert ok(api.get(f"/v1/invoices/{invoice}"))["status"] == "paid"
    case = case_of(api, invoice)
    assert (case["status"], case["recovered_attempt"], case["ended_at"]) == (
        "recovered", 2, ts(2026, 3, 2, 8))


def test_the_update_link_in_the_email_adds_a_card_that_pays_at_once(
        api: TestClient) -> None:
    clock = create_clock(api, ts(2026, 3, 2, 8))
    customer = paying_customer(api, clock, "pm_card_chargeDeclined")
    sub = subscribe(api, customer["id"], create_price(api)["id"])
    invoice = ok(api.get(f"/v1/invoices/{sub['latest_invoice']}"))
    page = invoice["hosted_invoice_path"]

    to_gateway = api.get(f"{page}/payment_method", follow_redirects=False)
    assert to_gateway.status_code == 303
    assert to_gateway.headers["location"].startswith("/sandbox/checkout?")
    back = api.get(f"{page}/payment_method/done", params={"token": "pm_card_mastercard"},
                   follow_redirects=False)
    assert (back.status_code, back.headers["location"]) == (303, page)

    assert ok(api.get(f"/v1/invoices/{invoice['id']}"))["status"] == "paid"
    assert [p["status"] for p in payments_of(api, invoice["id"])] == ["failed", "succeeded"]
    # a made-up token changes nothing
    assert api.get(f"{page}/payment_method/done", params={"token": "pm_nonsense"},
                   follow_redirects=False).status_code == 400


def _feature_product_price(api: TestClient) -> str:
    feature = ok(api.post("/v1/entitlements/features",
                          json={"name": "Reports", "lookup_key": "reports"}))
    product = ok(api.post("/v1/products", json={"name": "Pro"}))
    ok(api.post(f"/v1/products/{product['id']}/features",
                json={"entitlement_feature": feature["id"]}))
    price = ok(api.post("/v1/prices", json={"product": product["id"], "currency": "eur",
                                             "unit_amount": 3000,
                                             "recurring": {"interval": "month"}}))
    return str(price["id"])


def _entitled(api: TestClient, customer: str) -> list[str]:
    found = ok(api.get("/v1/entitlements/active_entitlements",
                       params={"customer": customer}))["data"]
    return [row["lookup_key"] for row in found]


def test_service_is_suspended_after_n_days_and_restored_at_once_on_payment(
        api: TestClient) -> None:
    clock = create_clock(api, ts(2026, 3, 2, 8))
    strict = policy(api, suspend_after_days=3)
    customer = paying_customer(api, clock, "pm_card_chargeDeclined",
                               dunning_policy=strict["id"])
    sub = subscribe(api, customer["id"], _feature_product_price(api))
    invoice = sub["latest_invoice"]
    assert _entitled(api, customer["id"]) == ["reports"]  # past due still grants service
    assert case_of(api, invoice)["suspend_at"] == ts(2026, 3, 5, 8)
    assert "access to your subscription will be suspended on March 5, 2026" in mails(
        api, customer["id"], "payment_failed")[0]["text"]

    advance(api, clock["id"], ts(2026, 3, 5, 7, 59))
    assert _entitled(api, customer["id"]) == ["reports"]
    advance(api, clock["id"], ts(2026, 3, 5, 8))

    assert _entitled(api, customer["id"]) == []
    suspended = ok(api.get(f"/v1/subscriptions/{sub['id']}"))
    assert (suspended["status"], suspended["suspended_at"]) == ("past_due", ts(2026, 3, 5, 8))
    assert mails(api, customer["id"], "service_suspended")
    updates = [e for e in list_all(api, "/v1/events", type="customer.subscription.updated")
               if e["data"].get("previous_attributes", {}).get("suspended_at", 0) is None]
    assert updates, "the suspension is an event"

    # Paid by transfer, seen by finance: service is back in the same request.
    ok(api.post("/v1/payments", json={"invoice": invoice, "method": "bank_transfer"}))
    assert _entitled(api, customer["id"]) == ["reports"]
    restored = ok(api.get(f"/v1/subscriptions/{sub['id']}"))
    assert (restored["status"], restored["suspended_at"]) == ("active", None)
    case = case_of(api, invoice)
    assert (case["status"], case["recovered_attempt"]) == ("recovered", None)
    # and the sequence stops: no more charges
    tried = len(payments_of(api, invoice))
    advance(api, clock["id"], ts(2026, 3, 20))
    assert len(payments_of(api, invoice)) == tried


def test_after_the_last_retry_the_subscription_is_canceled(api: TestClient) -> None:
    clock = create_clock(api, ts(2026, 3, 2, 8))
    ending = policy(api, final_action="cancel_subscription")
    customer = paying_customer(api, clock, "pm_card_chargeDeclined",
                               dunning_policy=ending["id"])
    sub = subscribe(api, customer["id"], create_price(api, 2000)["id"])
    invoice = sub["latest_invoice"]

    advance(api, clock["id"], ts(2026, 3, 20))

    tried = payments_of(api, invoice)
    assert len(tried) == 8  # the default: eight attempts within two weeks
    assert [p["created"] for p in tried[1:]] == [
        ts(2026, 3, day, 9) for day in (3, 5, 7, 9, 11, 13, 16)]
    assert all(p["status"] == "failed" for p in tried)
    ended = ok(api.get(f"/v1/subscriptions/{sub['id']}"))
    assert (ended["status"], ended["ended_at"]) == ("canceled", ts(2026, 3, 16, 9))
    case = case_of(api, invoice)
    assert (case["status"], case["final_action"], case["failed_attempts"]) == (
        "exhausted", "cancel_subscription", 8)
    assert len(mails(api, customer["id"], "payment_failed")) == 8


def test_the_final_action_can_write_the_invoice_off_or_leave_it_past_due(
        api: TestClient) -> None:
    clock = create_clock(api, ts(2026, 3, 2, 8))
    write_off = policy(api, retry_schedule=[1], final_action="mark_uncollectible")
    leave = policy(api, retry_schedule=[1], final_action="leave_past_due")
    first = paying_customer(api, clock, "pm_card_chargeDeclined",
                            dunning_policy=write_off["id"])
    second = paying_customer(api, clock, "pm_card_chargeDeclined", dunning_policy=leave["id"])
    sub1 = subscribe(api, first["id"], create_price(api)["id"])
    sub2 = subscribe(api, second["id"], create_price(api)["id"])

    advance(api, clock["id"], ts(2026, 3, 4))

    assert ok(api.get(f"/v1/invoices/{sub1['latest_invoice']}"))["status"] == "uncollectible"
    assert ok(api.get(f"/v1/subscriptions/{sub1['id']}"))["status"] == "active"
    assert ok(api.get(f"/v1/invoices/{sub2['latest_invoice']}"))["status"] == "open"
    assert ok(api.get(f"/v1/subscriptions/{sub2['id']}"))["status"] == "past_due"
    assert [case_of(api, s["latest_invoice"])["final_action"] for s in (sub1, sub2)] == [
        "mark_uncollectible", "leave_past_due"]


def test_a_sent_invoice_gets_its_reminders_then_suspension_then_cancellation(
        api: TestClient) -> None:
    clock = create_clock(api, ts(2026, 4, 1, 6))
    rules = policy(api, reminder_schedule=[-3, 0, 3, 7], suspend_after_days=5,
                   final_action="cancel_subscription", final_action_after_days=10)
    customer = create_customer(api, test_clock=clock["id"], timezone="Europe/Amsterdam",
                               email="ap@acme.example", locale="nl",
                               dunning_policy=rules["id"])
    sub = subscribe(api, customer["id"], create_price(api, 12000)["id"],
                    collection_method="send_invoice", days_until_due=14)
    invoice = ok(api.get(f"/v1/invoices/{sub['latest_invoice']}"))
    assert invoice["due_date"] == ts(2026, 4, 15, 6)

    def kinds() -> list[str]:
        return [row["dedupe_key"].split(":")[0] + ":" + row["dedupe_key"].split(":")[-1]
                for row in mails(api, customer["id"])
                if row["kind"] in ("invoice_reminder", "invoice_overdue")]

    # Reminders at 10:00 Amsterdam (08:00 UTC in April) on Apr 12 and Apr 15.
    advance(api, clock["id"], ts(2026, 4, 12, 7, 59))
    assert kinds() == []
    advance(api, clock["id"], ts(2026, 4, 12, 8))
    assert kinds() == ["invoice_reminder:-3"]
    [reminder] = mails(api, customer["id"], "invoice_reminder")
    assert reminder["locale"] == "nl" and "vervalt op 15 april 2026" in reminder["text"]
    assert ok(api.get(f"/v1/subscriptions/{sub['id']}"))["status"] == "active"
    advance(api, clock["id"], ts(2026, 4, 15, 8))
    assert kinds() == ["invoice_reminder:-3", "invoice_reminder:0"]

    # Past due at 06:00 on the 15th, when the case opens.
    case = case_of(api, invoice["id"])
    assert (case["started_at"], case["payment_method_type"], case["decline_code"]) == (
        ts(2026, 4, 15, 6), "send_invoice", None)
    assert ok(api.get(f"/v1/subscriptions/{sub['id']}"))["status"] == "past_due"

    advance(api, clock["id"], ts(2026, 4, 18, 8))
    assert "invoice_overdue:3" in kinds()
    overdue = mails(api, customer["id"], "invoice_overdue")[0]["text"]
    assert "3 dagen" in overdue and "20 april 2026" in overdue and "25 april 2026" in overdue

    advance(api, clock["id"], ts(2026, 4, 20, 6))  # five days past due
    assert ok(api.get(f"/v1/subscriptions/{sub['id']}"))["suspended_at"] == ts(2026, 4, 20, 6)
    assert mails(api, customer["id"], "service_suspended")

    advance(api, clock["id"], ts(2026, 4, 26))
    assert sorted(kinds()) == ["invoice_overdue:3", "invoice_overdue:7",
                               "invoice_reminder:-3", "invoice_reminder:0"]
    ended = ok(api.get(f"/v1/subscriptions/{sub['id']}"))
    assert (ended["status"], ended["ended_at"]) == ("canceled", ts(2026, 4, 25, 6))
    case = case_of(api, invoice["id"])
    assert [step["type"] for step in case["steps"]] == [
        "overdue", "reminder", "reminder", "suspended", "reminder", "final_action"]
    assert [s.get("days") for s in case["steps"] if s["type"] == "reminder"] == [0, 3, 7]


def test_a_sent_invoice_paid_before_its_due_date_gets_no_more_reminders(
        api: TestClient) -> None:
    clock = create_clock(api, ts(2026, 4, 1, 6))
    customer = create_customer(api, test_clock=clock["id"], email="ap@acme.example")
    sub = subscribe(api, customer["id"], create_price(api, 12000)["id"],
                    collection_method="send_invoice", days_until_due=14)
    advance(api, clock["id"], ts(2026, 4, 13))
    assert len(mails(api, customer["id"], "invoice_reminder")) == 1  # 3 days ahead (default)
    ok(api.post("/v1/payments", json={"invoice": sub["latest_invoice"],
                                      "method": "bank_transfer"}))
    advance(api, clock["id"], ts(2026, 5, 10))
    assert len(mails(api, customer["id"], "invoice_reminder")) == 1
    assert mails(api, customer["id"], "invoice_overdue") == []
    assert ok(api.get("/v1/dunning_cases", params={"invoice": sub["latest_invoice"]}))[
        "data"] == []


def test_a_voided_invoice_closes_its_case_and_lifts_the_suspension(api: TestClient) -> None:
    clock = create_clock(api, ts(2026, 3, 2, 8))
    strict = policy(api, suspend_after_days=1)
    customer = paying_customer(api, clock, "pm_card_chargeDeclined",
                               dunning_policy=strict["id"])
    sub = subscribe(api, customer["id"], create_price(api)["id"])
    advance(api, clock["id"], ts(2026, 3, 3, 12))
    assert ok(api.get(f"/v1/subscriptions/{sub['id']}"))["suspended_at"] is not None

    ok(api.post(f"/v1/invoices/{sub['latest_invoice']}/void"))

    assert ok(api.get(f"/v1/subscriptions/{sub['id']}"))["suspended_at"] is None
    advance(api, clock["id"], ts(2026, 3, 3, 13))
    case = case_of(api, sub["latest_invoice"])
    assert (case["status"], case["steps"][-1]["type"]) == ("closed", "closed")
    assert len(payments_of(api, sub["latest_invoice"])) == 2  # no retry after the void
    assert invoices_of(api, customer["id"])[0]["status"] == "void"


def test_an_invoice_written_off_by_hand_is_not_charged_again(api: TestClient) -> None:
    clock = create_clock(api, ts(2026, 3, 2, 8))
    customer = paying_customer(api, clock, "pm_card_chargeDeclined")
    sub = subscribe(api, customer["id"], create_price(api)["id"])
    advance(api, clock["id"], ts(2026, 3, 3, 12))
    tried = len(payments_of(api, sub["latest_invoice"]))
    written_off = ok(api.post(f"/v1/invoices/{sub['latest_invoice']}/mark_uncollectible"))
    assert written_off["next_payment_attempt"] is None
    advance(api, clock["id"], ts(2026, 3, 20))
    assert len(payments_of(api, sub["latest_invoice"])) == tried
