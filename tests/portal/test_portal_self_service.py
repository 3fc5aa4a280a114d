"""What a customer does to their own subscription in the portal, over HTTP: a plan change
previewed to the cent and then billed exactly as previewed, seats, a downgrade at period end,
cancel at period end with a reason and undo, the usage page, credit notes and UBL, the
organization's portal settings, and the login page that e-mails a sign-in link (through a
real SMTP server)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from api.helpers import assert_error, create_customer, create_price, ok, subscribe
from kassa.config import Kassa
from kassa.core.clock import FrozenClock
from kassa.services.emails import deliver_due
from portal.test_portal_sessions import browser, csrf, portal_link
from smtp_server import SmtpServer

HALF_OF_JANUARY = timedelta(days=15, hours=12)  # the period is 31 days from Jan 1 09:00


def plans(api: TestClient, *prices: str, **settings: Any) -> None:
    ok(api.post("/v1/organization", json={"portal_settings": {"plan_prices": list(prices),
                                                              **settings}}))


def signed_in(api: TestClient, kassa: Kassa, customer: str) -> TestClient:
    client = browser(kassa)
    client.get("/" + portal_link(api, customer))
    return client


def card_customer(api: TestClient, **fields: Any) -> Any:
    customer = create_customer(api, **fields)
    ok(api.post("/v1/payment_methods", json={"customer": customer["id"],
                                             "token": "pm_card_visa"}))
    return customer


def api_calls_price(api: TestClient) -> Any:
    """API calls (a sum of the events' values): the first 1,000 a month included, then 2
    cents each."""
    meter = ok(api.post("/v1/billing/meters", json={
        "display_name": "API calls", "event_name": "api_call",
        "default_aggregation": {"formula": "sum"}}))
    return ok(api.post("/v1/prices", json={
        "product_data": {"name": "API", "unit_label": "calls"}, "currency": "eur",
        "recurring": {"interval": "month", "usage_type": "metered", "meter": meter["id"]},
        "billing_scheme": "tiered", "tiers_mode": "graduated",
        "tiers": [{"up_to": 1000, "unit_amount": 0}, {"up_to": "inf", "unit_amount": 2}]}))


def test_an_upgrade_is_previewed_to_the_cent_then_billed_and_paid_as_previewed(
        api: TestClient, kassa: Kassa, clock: FrozenClock) -> None:
    basic = create_price(api, 1000, name="Basic")
    pro = create_price(api, 3000, name="Pro")
    plans(api, basic["id"], pro["id"])
    customer = card_customer(api)
    sub = subscribe(api, customer["id"], basic["id"])
    clock.move_to(clock.now() + HALF_OF_JANUARY)
    client = signed_in(api, kassa, customer["id"])

    page = client.get(f"/portal/subscriptions/{sub['id']}")
    assert page.status_code == 200
    assert "Basic · €10.00 per month (current)" in page.text
    assert "Pro · €30.00 per month" in page.text
    assert 'hx-get="/portal/subscriptions/' in page.text  # htmx swaps the preview in

    # The fragment htmx asks for: half a month of Pro minus half a month of Basic.
    fragment = client.get(f"/portal/subscriptions/{sub['id']}/preview",
                          params={"price": pro["id"], "quantity": "1"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "Charged now: €10.00" in fragment.text
    assert "-€5.00" in fragment.text and "€15.00" in fragment.text
    # Without script the form asks for the page with the same preview in it.
    assert "Charged now: €10.00" in client.get(
        f"/portal/subscriptions/{sub['id']}", params={"price": pro["id"]}).text
    assert ok(api.get(f"/v1/subscriptions/{sub['id']}"))["items"]["data"][0]["price"][
        "id"] == basic["id"]  # a preview writes nothing

    done = client.post(f"/portal/subscriptions/{sub['id']}/change", follow_redirects=False,
                       data={"csrf_token": csrf(page.text), "price": pro["id"],
                             "quantity": "1"})
    assert (done.status_code, done.headers["location"]) == (
        303, f"/portal/subscriptions/{sub['id']}?notice=changed")
    after = ok(api.get(f"/v1/subscriptions/{sub['id']}"))
    assert after["items"]["data"][0]["price"]["id"] == pro["id"]
    invoice = ok(api.get(f"/v1/invoices/{after['latest_invoice']}"))
    assert (invoice["billing_reason"], invoice["amount_due"], invoice["status"]) == (
        "subscription_update", 1000, "paid")
    assert sorted(line["amount"] for line in invoice["lines"]["data"]) == [-500, 1500]
    assert "Your plan was changed." in client.get(done.headers["location"]).text
    [entry] = [e for e in ok(api.get("/v1/audit_log"))["data"]
               if e["request"]["path"].endswith("/change")]
    assert entry["actor"] == {"type": "portal_customer", "id": customer["id"]}


def test_seats_are_prorated_and_can_be_turned_off(api: TestClient, kassa: Kassa,
                                                   clock: FrozenClock) -> None:
    seat = create_price(api, 1000, name="Team")
    plans(api, seat["id"], proration_behavior="create_prorations")
    customer = card_customer(api)
    sub = ok(api.post("/v1/subscriptions", json={
        "customer": customer["id"], "items": [{"price": seat["id"], "quantity": 3}]}))
    clock.move_to(clock.now() + HALF_OF_JANUARY)
    client = signed_in(api, kassa, customer["id"])
    preview = client.get(f"/portal/subscriptions/{sub['id']}/preview",
                         params={"price": seat["id"], "quantity": "5"}).text
    # create_prorations: the two extra seats for half a month go on the next invoice,
    # on Feb 1 with the next month of 5 seats: 1000 + 5000.
    assert "On your next invoice on February 1, 2026: €60.00" in preview
    page = client.get(f"/portal/subscriptions/{sub['id']}").text
    ok_change = client.post(f"/portal/subscriptions/{sub['id']}/change",
                            data={"csrf_token": csrf(page), "price": seat["id"],
                                  "quantity": "5"}, follow_redirects=False)
    assert ok_change.status_code == 303
    assert ok(api.get(f"/v1/subscriptions/{sub['id']}"))["items"]["data"][0]["quantity"] == 5
    assert ok(api.get("/v1/invoices/upcoming", params={"customer": customer["id"]}))[
        "amount_due"] == 6000

    for quantity, message in (("0", "The quantity is from 1 to 10000."),
                              ("lots", "The quantity is a whole number."),
                              ("5", "That is your current plan.")):
        refused = client.post(f"/portal/subscriptions/{sub['id']}/change",
                              data={"csrf_token": csrf(page), "price": seat["id"],
                                    "quantity": quantity})
        assert refused.status_code == 400 and message in refused.text
    plans(api, seat["id"], quantity_changes=False)
    refused = client.post(f"/portal/subscriptions/{sub['id']}/change",
                          data={"csrf_token": csrf(page), "price": seat["id"],
                                "quantity": "9"})
    assert refused.status_code == 400
    assert ok(api.get(f"/v1/subscriptions/{sub['id']}"))["items"]["data"][0]["quantity"] == 5


def test_a_downgrade_waits_for_the_period_end_and_charges_nothing_now(
        api: TestClient, kassa: Kassa, clock: FrozenClock) -> None:
    basic = create_price(api, 1000, name="Basic")
    pro = create_price(api, 3000, name="Pro")
    plans(api, basic["id"], pro["id"])  # downgrades: period_end (the default)
    customer = card_customer(api)
    sub = subscribe(api, customer["id"], pro["id"])
    clock.move_to(clock.now() + HALF_OF_JANUARY)
    client = signed_in(api, kassa, customer["id"])
    preview = client.get(f"/portal/subscriptions/{sub['id']}/preview",
                         params={"price": basic["id"]}).text
    assert "From February 1, 2026 your plan is Basic, quantity 1; nothing is charged now." \
        in preview
    assert "On your next invoice on February 1, 2026: €10.00" in preview
    page = client.get(f"/portal/subscriptions/{sub['id']}").text
    client.post(f"/portal/subscriptions/{sub['id']}/change",
                data={"csrf_token": csrf(page), "price": basic["id"], "quantity": "1"})
    after = ok(api.get(f"/v1/subscriptions/{sub['id']}"))
    assert after["items"]["data"][0]["price"]["id"] == pro["id"]  # until the period ends
    assert after["latest_invoice"] == sub["latest_invoice"]  # nothing billed now
    assert "From February 1, 2026: Basic, quantity 1." in client.get(
        f"/portal/subscriptions/{sub['id']}").text

    plans(api, basic["id"], pro["id"], downgrades="now")
    other = card_customer(api, email="bo@example.com")
    now_sub = subscribe(api, other["id"], pro["id"])
    client = signed_in(api, kassa, other["id"])
    preview = client.get(f"/portal/subscriptions/{now_sub['id']}/preview",
                         params={"price": basic["id"]}).text
    # Subscribed today: the whole month of Pro is credited, the month of Basic charged.
    assert "nothing is charged now" not in preview and "-€30.00" in preview
    assert "Charged now: €0.00" in preview
    assert "€20.00 goes to your credit balance and pays your next invoices." in preview


def test_a_customer_only_reaches_offered_plans_and_their_own_subscriptions(
        api: TestClient, kassa: Kassa) -> None:
    basic = create_price(api, 1000, name="Basic")
    hidden = create_price(api, 500, name="Secret deal")
    customer = card_customer(api)
    sub = subscribe(api, customer["id"], basic["id"])
    other = subscribe(api, card_customer(api, email="x@example.com")["id"], basic["id"])
    client = signed_in(api, kassa, customer["id"])
    page = client.get(f"/portal/subscriptions/{sub['id']}").text
    assert "Change plan" in page and "Secret deal" not in page  # seats only, by default
    plans(api, quantity_changes=False)  # and no prices offered: nothing to change
    assert "Change plan" not in client.get(f"/portal/subscriptions/{sub['id']}").text
    plans(api, basic["id"], quantity_changes=True)
    token = csrf(page)
    for price in (hidden["id"], "price_nope"):
        refused = client.post(f"/portal/subscriptions/{sub['id']}/change",
                              data={"csrf_token": token, "price": price, "quantity": "1"})
        assert refused.status_code == 400 and "Choose one of the plans offered." in refused.text
    for path in (f"/portal/subscriptions/{other['id']}",
                 f"/portal/subscriptions/{other['id']}/preview",
                 f"/portal/subscriptions/{other['id']}/cancel"):
        assert client.get(path).status_code == 404
    for action in ("change", "cancel", "renew"):
        assert client.post(f"/portal/subscriptions/{other['id']}/{action}",
                           data={"csrf_token": token, "price": basic["id"]}
                           ).status_code == 404
    without = client.post(f"/portal/subscriptions/{sub['id']}/change",
                          data={"price": basic["id"], "quantity": "2"})
    assert without.status_code == 400
    assert ok(api.get(f"/v1/subscriptions/{sub['id']}"))["items"]["data"][0]["quantity"] == 1
    assert_error(api.post("/v1/organization", json={"portal_settings": {
        "plan_prices": [hidden["id"], "price_nope"]}}), 400,
        param="portal_settings[plan_prices][1]")
    assert_error(api.post("/v1/organization", json={"portal_settings": {
        "downgrades": "never"}}), 400, param="portal_settings[downgrades]")


def test_cancel_at_period_end_with_a_reason_and_undo(api: TestClient, kassa: Kassa) -> None:
    customer = card_customer(api)
    sub = subscribe(api, customer["id"], create_price(api, 1000, name="Basic")["id"])
    client = signed_in(api, kassa, customer["id"])
    form = client.get(f"/portal/subscriptions/{sub['id']}/cancel").text
    assert "stays active until February 1, 2026" in form
    assert '<option value="too_expensive">It is too expensive</option>' in form
    done = client.post(f"/portal/subscriptions/{sub['id']}/cancel", follow_redirects=False,
                       data={"csrf_token": csrf(form), "feedback": "too_expensive",
                             "comment": "  Cheaper elsewhere.  "})
    assert done.status_code == 303
    after = ok(api.get(f"/v1/subscriptions/{sub['id']}"))
    assert after["cancel_at_period_end"] is True
    assert after["cancel_at"] == after["current_period_end"]
    assert after["cancellation_details"] == {"reason": "cancellation_requested",
                                             "feedback": "too_expensive",
                                             "comment": "Cheaper elsewhere."}
    page = client.get(done.headers["location"]).text
    assert "Your subscription will end on February 1, 2026." in page
    assert "Don&#39;t cancel" in page or "Don't cancel" in page
    assert client.post(f"/portal/subscriptions/{sub['id']}/cancel",
                       data={"csrf_token": csrf(page)}).status_code == 400  # already ends

    undone = client.post(f"/portal/subscriptions/{sub['id']}/renew", follow_redirects=False,
                         data={"csrf_token": csrf(page)})
    assert undone.status_code == 303
    after = ok(api.get(f"/v1/subscriptions/{sub['id']}"))
    assert (after["cancel_at_period_end"], after["cancel_at"]) == (False, None)
    assert after["cancellation_details"] == {"reason": None, "feedback": None, "comment": None}
    assert "Your subscription continues." in client.get(undone.headers["location"]).text

    ok(api.post("/v1/organization", json={"portal_settings": {"cancellation": "off"}}))
    page = client.get(f"/portal/subscriptions/{sub['id']}").text
    assert "Cancel subscription" not in page
    assert client.post(f"/portal/subscriptions/{sub['id']}/cancel",
                       data={"csrf_token": csrf(page)}).status_code == 400
    assert ok(api.get(f"/v1/subscriptions/{sub['id']}"))["cancel_at"] is None


def test_the_usage_page_shows_usage_per_day_included_units_and_projected_cost(
        api: TestClient, kassa: Kassa, clock: FrozenClock) -> None:
    price = api_calls_price(api)
    customer = card_customer(api)
    subscribe(api, customer["id"], price["id"])
    start = clock.now()
    clock.move_to(start + timedelta(days=3))
    for day, value in ((0, 100), (1, 250), (2, 300), (2, 50)):
        ok(api.post("/v1/billing/meter_events", json={
            "event_name": "api_call", "identifier": f"e{day}-{value}",
            "timestamp": int((start + timedelta(days=day, hours=1)).timestamp()),
            "payload": {"customer": customer["id"], "value": str(value)}}))
    # 3 of January's 31 days have gone by: 700 calls so far, 7,233 projected (700 × 31/3),
    # of which 1,000 are included: 6,233 × €0.02 = €124.66.
    page = signed_in(api, kassa, customer["id"]).get("/portal/usage")
    assert page.status_code == 200
    text = page.text
    assert '<dd class="used">700 calls</dd>' in text
    assert "1,000 calls" in text and "7,233 calls" in text
    assert '<dd class="projected-cost">€124.66</dd>' in text
    svg = text[text.index("<svg"):text.index("</svg>")]
    assert 'role="img"' in svg and "<title" in svg
    bars = re.findall(r"<rect [^>]*><title>([^<]*)</title>", svg)
    # Each bar is the total so far at the day's end (today: so far).
    assert bars == ["1 Jan: 100", "2 Jan: 350", "3 Jan: 700", "4 Jan: 700"]
    assert "<td>Jan 2, 2026</td><td class=\"num\">250</td>" in text  # the table: each day


def test_credit_notes_and_ubl_are_listed_and_downloadable_by_their_customer_only(
        api: TestClient, kassa: Kassa) -> None:
    other = create_customer(api, email="o@example.com")  # billed without tax: no e-invoice
    other_invoice = subscribe(api, other["id"], create_price(api, 1000)["id"],
                              collection_method="send_invoice")["latest_invoice"]
    other_note = ok(api.post("/v1/credit_notes", json={"invoice": other_invoice,
                                                       "amount": 100}))
    street = {"line1": "Damrak 1", "postal_code": "1012 LG", "city": "Amsterdam",
              "country": "NL"}
    ok(api.post("/v1/organization", json={
        "automatic_tax": True, "legal_name": "Acme Cloud B.V.", "address": street,
        "iban": "NL91ABNA0417164300"}))
    customer = create_customer(api, address=street, vat_id="NL000099998B57")
    invoice = subscribe(api, customer["id"], create_price(api, 1000)["id"],
                        collection_method="send_invoice")["latest_invoice"]
    note = ok(api.post("/v1/credit_notes", json={"invoice": invoice, "amount": 400}))
    client = signed_in(api, kassa, customer["id"])
    listing = client.get("/portal/invoices").text
    assert note["number"] in listing and other_note["number"] not in listing
    pdf = client.get(f"/portal/credit_notes/{note['id']}/pdf")
    assert pdf.content[:5] == b"%PDF-"
    ubl = client.get(f"/portal/credit_notes/{note['id']}/ubl")
    assert ubl.headers["content-type"].startswith("application/xml"), ubl.text
    assert b"<CreditNote" in ubl.content and note["number"].encode() in ubl.content
    invoice_ubl = client.get(f"/portal/invoices/{invoice}/ubl")
    assert b"<Invoice" in invoice_ubl.content
    for path in (f"/portal/credit_notes/{other_note['id']}/pdf",
                 f"/portal/credit_notes/{other_note['id']}/ubl",
                 f"/portal/invoices/{other_invoice}/ubl",
                 f"/portal/invoices/{invoice}/exe"):
        assert client.get(path).status_code == 404
    # Without a tax decision (no country) there is no e-invoice: said plainly, no error 500.
    client = signed_in(api, kassa, other["id"])
    refused = client.get(f"/portal/invoices/{other_invoice}/ubl")
    assert refused.status_code == 409 and "no tax decision" in refused.text


def test_the_language_and_a_live_vat_check_in_billing_details(api: TestClient,
                                                              kassa: Kassa) -> None:
    customer = create_customer(api)
    client = signed_in(api, kassa, customer["id"])
    checked = client.get("/portal/details/vat_check", params={"vat_id": "NL000099998B57"})
    assert checked.text == "✓ Valid VAT number: NL000099998B57"
    refused = client.get("/portal/details/vat_check", params={"vat_id": "NL000099998B58"})
    assert 'class="error"' in refused.text
    page = client.get("/portal/details").text
    saved = client.post("/portal/details", follow_redirects=False, data={
        "csrf_token": csrf(page), "name": "Ada", "email": "ada@example.com", "locale": "de"})
    assert saved.status_code == 303
    assert ok(api.get(f"/v1/customers/{customer['id']}"))["preferred_locales"] == ["de"]
    assert "Rechnungsdaten" in client.get("/portal/details").text
    assert client.post("/portal/details", data={"csrf_token": csrf(page),
                                                "locale": "xx"}).status_code == 400


def test_the_login_page_e_mails_a_one_time_link(api: TestClient, kassa: Kassa,
                                                smtp: SmtpServer) -> None:
    customer = create_customer(api, name="Ada", email="Ada@Example.com")
    config = ok(api.get("/v1/billing_portal/configuration"))
    assert config["login_page"] is False and config["login_page_url"] is None
    ok(api.post("/v1/organization", json={"portal_settings": {"login_page": True}}))
    url = ok(api.get("/v1/billing_portal/configuration"))["login_page_url"]
    path = "/" + url.split("://", 1)[1].split("/", 1)[1]
    assert browser(kassa).get(path[:-4] + "0000").status_code == 404  # not its code

    client = browser(kassa)
    form = client.get(path)
    assert form.status_code == 200 and "E-mail me a link" in form.text
    assert client.post(path, data={"email": "ada@example.com"}).status_code == 400  # no CSRF
    token = csrf(form.text)
    answer = client.post(path, data={"csrf_token": token, "email": " ada@example.COM "})
    assert "a sign-in link is on its way" in answer.text
    unknown = client.post(path, data={"csrf_token": token, "email": "eve@example.com"})
    assert unknown.text.replace("eve", "ada") == answer.text  # the same answer

    counts = deliver_due(kassa.session_factory, kassa.clock, smtp.mailer,
                         public_url="https://billing.example")
    assert counts.sent == 1
    [message] = smtp.messages
    assert message["To"] == "Ada@Example.com"
    body = message.get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"https://billing\.example(/portal/session/[\w-]+)", body)
    assert link is not None
    # The outbox's copy loses the link once it is sent.
    [stored] = ok(api.get("/v1/email_messages", params={"customer": customer["id"]}))["data"]
    assert "/portal/session/(removed after sending)" in stored["text"]

    reader = browser(kassa)
    assert reader.get(link.group(1), follow_redirects=False).status_code == 303
    assert "Ada" in reader.get("/portal").text
    assert browser(kassa).get(link.group(1)).status_code == 401  # once only

    for _ in range(2):
        client.post(path, data={"csrf_token": token, "email": "ada@example.com"})
    limited = client.post(path, data={"csrf_token": token, "email": "ada@example.com"})
    assert limited.status_code == 429 and "Too many links" in limited.text

    ok(api.post("/v1/organization", json={"portal_settings": {"login_page": False}}))
    assert client.get(path).status_code == 404
