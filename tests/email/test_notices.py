"""Notices ahead of what happens to a subscription (services/notices.py): a renewal reminder,
a trial ending, a scheduled change; and the payment-failed message. Sent once at their moment
on a test clock (the billing run wakes up for them), in the customer's language, and
delivered to a real SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime
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
    subscribe,
    ts,
)
from kassa.config import Kassa
from kassa.services import emails
from kassa.services.emails import deliver_due
from kassa.store import models as m
from smtp_server import SmtpServer

JAN_1 = ts(2026, 1, 1, 9)
DAY = 86400


def notices(api: TestClient, kind: str) -> list[dict[str, Any]]:
    return list_all(api, "/v1/email_messages", kind=kind)


def settings(api: TestClient, **email_settings: Any) -> dict[str, Any]:
    return ok(api.post("/v1/organization",  # type: ignore[no-any-return]
                       json={"email_settings": email_settings}))


def clocked(api: TestClient, interval: str = "month", unit_amount: int = 1999,
            **customer: Any) -> tuple[str, dict[str, Any]]:
    """A UTC customer on a new clock at JAN_1 with a send_invoice subscription."""
    clock = create_clock(api, JAN_1)["id"]
    cust = create_customer(api, test_clock=clock, timezone="UTC", **customer)["id"]
    price = create_price(api, interval=interval, unit_amount=unit_amount)["id"]
    return clock, subscribe(api, cust, price, collection_method="send_invoice")


def deliver(kassa: Kassa, smtp: SmtpServer) -> emails.DeliveryCounts:
    return deliver_due(kassa.session_factory, kassa.clock, smtp.mailer,
                       public_url="https://billing.example")


# --- settings ------------------------------------------------------------------------------

def test_the_organization_shows_the_effective_email_settings_and_merges_changes(
        api: TestClient) -> None:
    org = ok(api.get("/v1/organization"))
    assert org["support_email"] is None
    assert org["email_settings"] == {
        "disabled": [], "renewal_reminder_days": 7, "renewal_reminders_for": "yearly",
        "trial_ending_days": 3, "change_notice_days": 14}

    settings(api, renewal_reminder_days=10, disabled=["payment_receipt"])
    org = ok(api.post("/v1/organization", json={
        "support_email": "help@acme.example", "email_settings": {"trial_ending_days": 5}}))

    assert org["support_email"] == "help@acme.example"
    assert org["email_settings"] == {
        "disabled": ["payment_receipt"], "renewal_reminder_days": 10,
        "renewal_reminders_for": "yearly", "trial_ending_days": 5, "change_notice_days": 14}
    assert settings(api, renewal_reminder_days=None)["email_settings"][
        "renewal_reminder_days"] == 7
    assert ok(api.get("/v1/organization"))["email_settings"]["trial_ending_days"] == 5


def test_invalid_email_settings_are_refused_naming_the_key_and_nothing_is_written(
        api: TestClient) -> None:
    before = settings(api, change_notice_days=30)
    cases = [
        ({"disabled": ["invoice_issued", "postcard"]}, "email_settings[disabled][1]"),
        ({"disabled": "renewal_reminder"}, "email_settings[disabled]"),
        ({"color": "red"}, "email_settings[color]"),
        ({"renewal_reminder_days": 0}, "email_settings[renewal_reminder_days]"),
        ({"renewal_reminder_days": 61}, "email_settings[renewal_reminder_days]"),
        ({"trial_ending_days": 31}, "email_settings[trial_ending_days]"),
        ({"change_notice_days": True}, "email_settings[change_notice_days]"),
        ({"change_notice_days": "14"}, "email_settings[change_notice_days]"),
        ({"renewal_reminders_for": "monthly"}, "email_settings[renewal_reminders_for]"),
    ]
    for body, param in cases:
        response = api.post("/v1/organization",
                            json={"name": "Renamed", "email_settings": body})
        assert_error(response, 400, param=param)
    assert_error(api.post("/v1/organization", json={"support_email": "not an address"}),
                 400, param="support_email")
    assert ok(api.get("/v1/organization")) == before


# --- renewal reminders ---------------------------------------------------------------------

def test_a_yearly_subscription_is_reminded_once_seven_days_before_renewal_in_dutch(
        api: TestClient) -> None:
    clock, sub = clocked(api, interval="year", unit_amount=19900, locale="nl")
    renewal = ts(2027, 1, 1, 9)

    advance(api, clock, renewal - 7 * DAY - 1)
    assert notices(api, "renewal_reminder") == []
    advance(api, clock, renewal - 7 * DAY)  # the billing run wakes up at the moment
    [reminder] = notices(api, "renewal_reminder")
    advance(api, clock, renewal - 2 * DAY)
    advance(api, clock, renewal + DAY)

    assert [n["id"] for n in notices(api, "renewal_reminder")] == [reminder["id"]]
    assert reminder["locale"] == "nl" and reminder["customer"] == sub["customer"]
    assert reminder["subject"] == "Uw abonnement op Pro wordt verlengd op 1 januari 2027"
    assert "Voor de verlenging wordt €\xa0199,00 gefactureerd." in reminder["text"]
    assert "opzeggen" in reminder["text"]


def test_a_subscription_created_inside_the_lead_is_reminded_at_once_and_never_after(
        api: TestClient) -> None:
    clock = create_clock(api, ts(2026, 1, 1, 9))["id"]
    customer = create_customer(api, test_clock=clock, timezone="UTC")["id"]
    price = create_price(api, interval="year")["id"]
    sub = subscribe(api, customer, price, collection_method="send_invoice",
                    billing_cycle_anchor=ts(2026, 1, 3, 9), proration_behavior="none")
    [reminder] = notices(api, "renewal_reminder")
    assert reminder["subject"] == "Your Pro subscription renews on January 3, 2026"
    advance(api, clock, ts(2026, 1, 4, 9))
    assert len(notices(api, "renewal_reminder")) == 1
    assert sub["status"] == "active"


def test_monthly_subscriptions_are_reminded_only_when_the_organization_asks_for_all(
        api: TestClient) -> None:
    clock, _ = clocked(api)
    advance(api, clock, ts(2026, 2, 1, 9))
    assert notices(api, "renewal_reminder") == []

    settings(api, renewal_reminders_for="all", renewal_reminder_days=3)
    advance(api, clock, ts(2026, 2, 26, 9) - 1)
    assert notices(api, "renewal_reminder") == []
    advance(api, clock, ts(2026, 3, 2, 9))
    [reminder] = notices(api, "renewal_reminder")
    assert reminder["subject"] == "Your Pro subscription renews on March 1, 2026"
    assert "The renewal will be billed at €19.99." in reminder["text"]


def test_no_reminder_for_a_subscription_that_cancels_at_period_end_or_a_disabled_kind(
        api: TestClient) -> None:
    clock, sub = clocked(api, interval="year")
    ok(api.post(f"/v1/subscriptions/{sub['id']}", json={"cancel_at_period_end": True}))
    settings(api, renewal_reminders_for="all")
    clock2, _ = clocked(api)
    settings(api, disabled=["renewal_reminder"])
    advance(api, clock, ts(2026, 12, 31, 9))
    advance(api, clock2, ts(2026, 2, 1, 9))
    assert notices(api, "renewal_reminder") == []


# --- trials and changes --------------------------------------------------------------------

def test_a_trial_is_told_three_days_before_it_ends_what_happens_then(
        api: TestClient) -> None:
    clock = create_clock(api, JAN_1)["id"]
    customer = create_customer(api, test_clock=clock, timezone="UTC", locale="de")["id"]
    price = create_price(api)["id"]
    ok(api.post("/v1/subscriptions", json={
        "customer": customer, "items": [{"price": price}], "trial_period_days": 14,
        "collection_method": "send_invoice"}))
    trial_end = ts(2026, 1, 15, 9)

    advance(api, clock, trial_end - 3 * DAY - 1)
    assert notices(api, "trial_ending") == []
    advance(api, clock, trial_end - 3 * DAY)
    [notice] = notices(api, "trial_ending")
    advance(api, clock, trial_end + DAY)

    assert len(notices(api, "trial_ending")) == 1
    assert notice["subject"] == "Ihr Testzeitraum für Pro endet am 15. Januar 2026"
    assert "Sie erhalten eine Rechnung über 19,99\xa0€." in notice["text"]
    assert notices(api, "renewal_reminder") == []


def test_a_price_migration_is_announced_change_notice_days_before_it_applies(
        api: TestClient) -> None:
    clock, sub = clocked(api, unit_amount=1000)
    new = create_price(api, unit_amount=1200)["id"]
    migration = ok(api.post("/v1/price_migrations", json={
        "from_price": sub["items"]["data"][0]["price"]["id"], "to_price": new,
        "notice_date": ts(2026, 2, 20)}))
    applies = ts(2026, 3, 1, 9)

    advance(api, clock, applies - 14 * DAY - 1)
    assert notices(api, "plan_change_notice") == []
    advance(api, clock, applies - 14 * DAY)
    [notice] = notices(api, "plan_change_notice")
    advance(api, clock, applies + DAY)

    assert len(notices(api, "plan_change_notice")) == 1
    assert notice["subject"] == "Your Pro subscription changes on March 1, 2026"
    assert ("On March 1, 2026, the price of your subscription to Pro changes from €10.00 "
            "to €12.00 per month.") in notice["text"]
    [entry] = list_all(api, f"/v1/price_migrations/{migration['id']}/entries")
    assert entry["notified_at"] == applies - 14 * DAY and entry["status"] == "applied"


def test_a_change_at_period_end_is_announced_with_the_plans_and_the_new_amount(
        api: TestClient) -> None:
    clock, sub = clocked(api, locale="fr")
    basic = create_price(api, unit_amount=900, name="Basic")["id"]
    ok(api.post(f"/v1/subscriptions/{sub['id']}", json={
        "items": [{"id": sub["items"]["data"][0]["id"], "price": basic, "quantity": 2}],
        "effective_at": "period_end"}))
    advance(api, clock, ts(2026, 1, 18, 9))

    [notice] = notices(api, "plan_change_notice")
    assert notice["subject"] == "Votre abonnement à Pro change le 1 février 2026"
    assert "Le 1 février 2026, votre abonnement passe de Pro à Basic × 2." in notice["text"]
    assert "Vous paierez ensuite 18,00\xa0€ par mois." in notice["text"]


# --- delivery ------------------------------------------------------------------------------

def test_notices_arrive_at_the_smtp_server(api: TestClient, kassa: Kassa,
                                           smtp: SmtpServer) -> None:
    clock, _ = clocked(api, interval="year", unit_amount=19900)
    advance(api, clock, ts(2026, 12, 25, 9))
    deliver(kassa, smtp)

    [message] = [msg for msg in smtp.messages if "renews" in msg["Subject"]]
    assert message["Subject"] == "Your Pro subscription renews on January 1, 2027"
    assert message["To"] == "ada@example.com"
    text = message.get_body(("plain",))
    assert text is not None and "€199.00" in text.get_content()


def test_a_failed_payment_is_mailed_once_per_attempt_with_the_link_to_pay(
        api: TestClient, kassa: Kassa, smtp: SmtpServer) -> None:
    customer = create_customer(api, locale="nl")["id"]
    sub = subscribe(api, customer, create_price(api)["id"], collection_method="send_invoice")
    retry_at = datetime(2026, 1, 4, 9, tzinfo=UTC)
    with kassa.uow() as uow:
        invoice = uow.session.get(m.Invoice, sub["latest_invoice"])
        assert invoice is not None
        org = uow.session.get(m.Organization, invoice.org_id)
        cust = uow.session.get(m.Customer, customer)
        assert org is not None and cust is not None
        for _ in range(2):
            emails.payment_failed(uow, org, cust, invoice, reason="Onvoldoende saldo",
                                  next_attempt_at=retry_at, attempt=1)
        emails.payment_failed(uow, org, cust, invoice, reason=None, next_attempt_at=None,
                              attempt=2)
        uow.commit()
        number, token = invoice.number, invoice.hosted_token
    failed = notices(api, "payment_failed")
    assert sorted(n["dedupe_key"] for n in failed) == [
        f"payment_failed:{sub['latest_invoice']}:1", f"payment_failed:{sub['latest_invoice']}:2"]

    deliver(kassa, smtp)

    [first, second] = sorted((msg for msg in smtp.messages if "mislukt" in msg["Subject"]),
                             key=lambda msg: "Reden" not in msg.get_body(("plain",)).get_content())
    assert first["Subject"] == f"Betaling van factuur {number} van Acme Cloud mislukt"
    text = first.get_body(("plain",)).get_content()
    assert "De betaling van €\xa019,99 voor factuur" in text
    assert "Reden: Onvoldoende saldo" in text
    assert f"https://billing.example/i/{token}" in text
    assert "We proberen het opnieuw op 4 januari 2026." in text
    later = second.get_body(("plain",)).get_content()
    assert "Reden" not in later and "opnieuw" not in later


def test_a_hard_decline_mail_arrives_branded_with_both_links(
        api: TestClient, kassa: Kassa, smtp: SmtpServer) -> None:
    ok(api.post("/v1/organization", json={"brand_color": "#0f766e"}))
    clock = create_clock(api, ts(2026, 3, 2, 8))
    customer = create_customer(api, test_clock=clock["id"], email="ada@example.com")
    ok(api.post("/v1/payment_methods", json={"customer": customer["id"],
                                             "token": "pm_card_chargeDeclinedStolenCard"}))
    invoice = subscribe(api, customer["id"], create_price(api)["id"])["latest_invoice"]
    page = ok(api.get(f"/v1/invoices/{invoice}"))["hosted_invoice_path"]

    deliver(kassa, smtp)

    [message] = [msg for msg in smtp.messages if "failed" in msg["Subject"]]
    text = message.get_body(("plain",)).get_content()
    assert f"Pay the invoice online: https://billing.example{page}\r\n" in text
    assert f"charge at once: https://billing.example{page}/payment_method" in text
    assert "We will not charge this payment method again." in text
    html = message.get_body(("html",)).get_content()
    assert "border-top:4px solid #0f766e" in html
    assert f'<a href="https://billing.example{page}/payment_method">' in html
