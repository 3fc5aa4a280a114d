"""What the dashboard shows, over HTTP: the customer 360 (profile, subscriptions with their
history, invoices, payments and refunds, credit notes, balance, dunning, this period's usage
per meter, a timeline of events and audit entries), the lists with their filters and pages,
the catalog and the home page's counts; bad filters are a 400 page that says what is
wrong."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from api.helpers import create_customer, create_price, list_all, ok, subscribe
from dashboard.world import add_operator, browser, post, sent_invoice, sign_in
from kassa.config import Kassa
from kassa.core.clock import FrozenClock
from kassa.services.organizations import NewOrganization
from portal.test_portal_self_service import api_calls_price


def _rows(html: str) -> int:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return body.count("<tr>")


def test_the_customer_360_shows_everything_about_the_customer(
        api: TestClient, kassa: Kassa, org: NewOrganization, clock: FrozenClock) -> None:
    ada = create_customer(api, name="Ada Lovelace", email="ada@example.com",
                          address={"line1": "1 Main St", "city": "Amsterdam",
                                   "country": "NL"})
    ok(api.post("/v1/payment_methods", json={"customer": ada["id"],
                                             "token": "pm_card_chargeDeclined"}))
    basic = create_price(api, 1000, name="Basic")
    unpaid = subscribe(api, ada["id"], basic["id"])  # declined: in dunning
    calls = api_calls_price(api)
    sent = subscribe(api, ada["id"], create_price(api, 3000, name="Pro")["id"], calls["id"],
                     collection_method="send_invoice", days_until_due=14)
    payment = ok(api.post("/v1/payments", json={"invoice": sent["latest_invoice"]}))
    refund = ok(api.post("/v1/refunds", json={"payment": payment["id"], "amount": 700,
                                              "reason": "requested_by_customer"}))
    ok(api.post(f"/v1/subscriptions/{sent['id']}", json={"cancel_at_period_end": True}))
    start = clock.now()
    clock.move_to(start + timedelta(days=3))
    for day in range(3):
        ok(api.post("/v1/billing/meter_events", json={
            "event_name": "api_call", "identifier": f"call-{day}",
            "timestamp": int((start + timedelta(days=day, hours=1)).timestamp()),
            "payload": {"customer": ada["id"], "value": "400"}}))
    create_customer(api, name="Bob Other")
    client = browser(kassa)
    sign_in(client, add_operator(kassa, org.organization.id, "finance"))
    assert post(client, f"/dashboard/customers/{ada['id']}/credit", amount="50",
                description="Goodwill").status_code == 303

    page = client.get(f"/dashboard/customers/{ada['id']}")
    assert page.status_code == 200
    text = page.text
    assert "<h1>Ada Lovelace</h1>" in text and "ada@example.com" in text
    assert "1 Main St" in text and "Amsterdam" in text and "Bob Other" not in text
    assert 'id="balance-figure">€50.00 credit<' in text
    # subscriptions and their history from the events
    for sub in (unpaid, sent):
        assert f"History of {sub['id']}" in text
    history = text.split(f"History of {sent['id']}")[1].split("</details>")[0]
    assert "customer.subscription.created" in history
    assert "customer.subscription.updated" in history
    assert "cancel_at_period_end: False → True" in history
    # invoices, payments, refunds, credit notes, balance transactions
    invoices = list_all(api, "/v1/invoices", customer=ada["id"])
    for invoice in invoices:
        assert invoice["number"] in text
    assert "failed: " in text and "succeeded" in text
    assert refund["id"] in text and "€7.00" in text
    [note] = list_all(api, "/v1/credit_notes", customer=ada["id"])
    assert note["number"] in text
    balance = text.split('id="balance">')[1].split("</section>")[0]
    assert "adjustment" in balance and "Goodwill" in balance and "-€50.00" in balance
    # dunning: the declined invoice's case
    dunning = text.split('id="dunning">')[1].split("</section>")[0]
    assert unpaid["latest_invoice"] in dunning and "<td>active</td>" in dunning
    assert "Visa •••• 0002 (12/2099) · sandbox · attached (default)" in dunning
    # usage this period, per metered item, with its chart
    usage = text.split('id="usage">')[1].split("</section>")[0]
    assert "API calls" in usage and '<dd class="used">1,200 calls</dd>' in usage
    assert 'role="img"' in usage and "API calls so far, day by day" in usage
    assert "Included</dt><dd>1,000 calls" in usage
    # the timeline: events and audit entries, the operator's change named
    timeline = text.split('id="timeline">')[1].split("</section>")[0]
    assert f"Audit: POST /dashboard/customers/{ada['id']}/credit" in timeline
    assert re.search(r"<td>operator op_\w+</td>", timeline)
    assert "customer.created" in timeline and "invoice.payment_failed" in timeline
    assert re.search(r"<td>api_key key_\w+</td>", timeline)
    # the finance role sees the credit form; the invoice list link keeps the filter
    assert f'action="/dashboard/customers/{ada["id"]}/credit"' in text
    assert f'href="/dashboard/invoices?customer={ada["id"]}"' in text


def test_support_reads_the_360_without_the_forms_it_may_not_use(
        api: TestClient, kassa: Kassa, org: NewOrganization) -> None:
    invoice = sent_invoice(api, email="ada@example.com")
    client = browser(kassa)
    sign_in(client, add_operator(kassa, org.organization.id, "support"))
    customer = client.get(f"/dashboard/customers/{invoice['customer']}").text
    assert f'{invoice["customer"]}/credit"' not in customer and invoice["number"] in customer
    assert "Add credit" not in customer
    page = client.get(f"/dashboard/invoices/{invoice['id']}").text
    assert "Send payment reminder" in page
    for hidden in ("Void invoice", "Mark paid out of band", "Mark uncollectible",
                   "Issue a credit note"):
        assert hidden not in page, hidden


def test_lists_filter_by_status_customer_and_days_and_page_through(
        api: TestClient, kassa: Kassa, org: NewOrganization, clock: FrozenClock) -> None:
    first = sent_invoice(api, name="Early Bird")  # 2026-01-01
    clock.move_to(clock.now() + timedelta(days=10))
    second = sent_invoice(api, name="Late Comer")  # 2026-01-11
    ok(api.post("/v1/payments", json={"invoice": second["id"]}))
    client = browser(kassa)
    sign_in(client, add_operator(kassa, org.organization.id, "support"))

    def invoice_ids(**params: str) -> set[str]:
        page = client.get("/dashboard/invoices", params=params)
        assert page.status_code == 200, page.text
        return {i for i in (first["id"], second["id"]) if i in page.text}

    assert invoice_ids() == {first["id"], second["id"]}
    assert invoice_ids(status="open") == {first["id"]}
    assert invoice_ids(status="paid") == {second["id"]}
    assert invoice_ids(customer=second["customer"]) == {second["id"]}
    assert invoice_ids(**{"from": "2026-01-02"}) == {second["id"]}
    assert invoice_ids(**{"to": "2026-01-10"}) == {first["id"]}
    assert invoice_ids(**{"from": "2026-01-01", "to": "2026-01-01"}) == {first["id"]}
    payments = client.get("/dashboard/payments", params={"status": "succeeded"}).text
    assert "Late Comer" in payments and "Early Bird" not in payments
    assert "Late Comer" not in client.get("/dashboard/payments",
                                          params={"status": "failed"}).text

    for index in range(26):  # 28 customers: two pages of 25
        create_customer(api, name=f"Bulk {index:02d}")
    page = client.get("/dashboard/customers")
    assert _rows(page.text) == 25 and "Bulk 25" in page.text and "Early Bird" not in page.text
    older = re.search(r'href="(/dashboard/customers\?starting_after=cus_\w+)">Older', page.text)
    assert older is not None and "Newer" not in page.text
    second_page = client.get(older.group(1).replace("&amp;", "&"))
    assert _rows(second_page.text) == 3 and "Early Bird" in second_page.text
    assert "Older" not in second_page.text
    newer = re.search(r'href="(/dashboard/customers\?ending_before=cus_\w+)">', second_page.text)
    assert newer is not None
    back = client.get(newer.group(1))
    assert _rows(back.text) == 25 and "Bulk 25" in back.text and "Older" in back.text
    found = client.get("/dashboard/customers", params={"q": "BULK 0"})
    assert _rows(found.text) == 10  # Bulk 00 to Bulk 09, any case
    assert _rows(client.get("/dashboard/customers", params={"q": "%"}).text) == 0
    assert _rows(client.get("/dashboard/customers",
                            params={"q": first["customer"]}).text) == 1


def test_bad_filters_are_a_page_that_says_what_is_wrong(
        kassa: Kassa, org: NewOrganization) -> None:
    client = browser(kassa)
    sign_in(client, add_operator(kassa, org.organization.id, "support"))
    for path, params, message in (
            ("/dashboard/invoices", {"status": "lost"}, "Status is one of draft, open"),
            ("/dashboard/payments", {"from": "2026-02-30"}, "not a valid date"),
            ("/dashboard/credit_notes", {"from": "yesterday"}, "a day such as 2026-03-01"),
            ("/dashboard/bank_transactions", {"from": "2026-03-02", "to": "2026-03-01"},
             "The first day comes after the last"),
            ("/dashboard/invoices", {"customer": "c" * 41}, "at most 40 characters"),
            ("/dashboard/invoices", {"starting_after": "x", "ending_before": "y"},
             "not both"),
            ("/dashboard/customers", {"q": "q" * 201}, "at most 200 characters")):
        page = client.get(path, params=params)
        assert page.status_code == 400, (path, params)
        assert message in page.text, (path, params, page.text[-2000:])
        assert 'role="alert"' in page.text
    assert client.get("/dashboard/invoices/in_nope").status_code == 404
    assert client.get("/dashboard/no/such/page").status_code == 404


def test_the_catalog_and_home_page(api: TestClient, kassa: Kassa,
                                   org: NewOrganization) -> None:
    create_price(api, 4900, name="Pro", nickname="Monthly")
    calls = api_calls_price(api)
    coupon = ok(api.post("/v1/coupons", json={"name": "Launch", "percent_off": 25,
                                              "duration": "repeating",
                                              "duration_in_months": 3}))
    ok(api.post("/v1/promotion_codes", json={"coupon": coupon["id"], "code": "LAUNCH25"}))
    sent_invoice(api)
    client = browser(kassa)
    sign_in(client, add_operator(kassa, org.organization.id, "support"))
    page = client.get("/dashboard/catalog").text
    for text in ("Pro", "49 EUR per month (Monthly)", "tiered (graduated) per month, metered",
                 calls["id"], "API calls", "<code>api_call</code>", "Launch", "25%",
                 "repeating (3 months)", "LAUNCH25"):
        assert text in page, text
    home = client.get("/dashboard").text
    counts: dict[str, Any] = dict(re.findall(r'id="count-([a-z-]+)">(\d+)<', home))
    assert counts == {"customers": "1", "subscriptions": "1", "open-invoices": "1"}


def test_invoice_and_credit_note_pdfs_and_a_draft_without_one(
        api: TestClient, kassa: Kassa, org: NewOrganization) -> None:
    invoice = sent_invoice(api, 5000)
    note = ok(api.post("/v1/credit_notes", json={"invoice": invoice["id"], "amount": 100}))
    draft = ok(api.post("/v1/invoices", json={"customer": invoice["customer"]}))
    client = browser(kassa)
    sign_in(client, add_operator(kassa, org.organization.id, "support"))
    for path, number in ((f"/dashboard/invoices/{invoice['id']}/pdf", invoice["number"]),
                         (f"/dashboard/credit_notes/{note['id']}/pdf", note["number"])):
        pdf = client.get(path)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
        assert pdf.headers["content-disposition"] == f'attachment; filename="{number}.pdf"'
    refused = client.get(f"/dashboard/invoices/{draft['id']}/pdf")
    assert refused.status_code == 409 and "A draft has no PDF yet." in refused.text
    assert client.get(f"/dashboard/invoices/{draft['id']}").status_code == 200
