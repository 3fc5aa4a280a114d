"""The portal in a real browser: Debian's Chromium (headless, --no-sandbox) driven by
Playwright against Kassa served by uvicorn. A customer signs in through a session link, sees
their plan and an overdue invoice with its pay button, downloads an invoice PDF, changes
their VAT number (a wrong one is refused in the form), adds a card on the gateway's page
which pays the overdue invoice at once, and cannot open another customer's invoice; then
upgrades by keyboard with the proration shown (htmx) and billed as shown, cancels at period
end with a reason and undoes it, and reads the usage chart.
Screenshots of each page go to test-output/portal/."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect

from api.helpers import create_customer, create_price, ok, subscribe
from kassa.config import Kassa
from kassa.core.clock import FrozenClock
from portal.test_portal_self_service import api_calls_price

SHOTS = Path(__file__).parents[2] / "test-output" / "portal"

def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_a_customer_uses_the_portal_in_chromium(api: TestClient, kassa: Kassa,
                                                live_server: str, chromium: Browser) -> None:
    # Links Kassa makes (the gateway page's way back) point at the server under test.
    kassa.settings = dataclasses.replace(kassa.settings, public_url=live_server)
    ok(api.post("/v1/organization", json={"brand_color": "#0f766e"}))
    ada = create_customer(api, name="Ada Lovelace", email="ada@example.com", locale="en")
    ok(api.post("/v1/payment_methods", json={"customer": ada["id"],
                                             "token": "pm_card_chargeDeclined"}))
    sub = subscribe(api, ada["id"], create_price(api, 4900)["id"])
    invoice = ok(api.get(f"/v1/invoices/{sub['latest_invoice']}"))
    bob = create_customer(api, name="Bob")
    bobs = subscribe(api, bob["id"], create_price(api)["id"],
                     collection_method="send_invoice")["latest_invoice"]
    url = ok(api.post("/v1/billing_portal/sessions", json={
        "customer": ada["id"], "return_url": "https://app.example/account"}))["url"]
    path = "/" + url.split("/", 3)[3]

    page = chromium.new_page()
    page.goto(live_server + path)
    assert page.url == f"{live_server}/portal"
    expect(page.get_by_role("heading", name="Ada Lovelace")).to_be_visible()
    alert = page.get_by_role("alert")
    assert "€49.00" in alert.inner_text() and invoice["number"] in alert.inner_text()
    assert page.get_by_role("link", name="Pay now").get_attribute("href") == \
        f"{invoice['hosted_invoice_path']}/pay"
    expect(page.get_by_role("link", name="Back to Acme Cloud")).to_be_visible()
    shot(page, "1-overview")

    page.get_by_role("link", name="Invoices").click()
    expect(page.get_by_role("cell", name=invoice["number"], exact=True)).to_be_visible()
    shot(page, "2-invoices")
    with page.expect_download() as download:
        page.get_by_role("link", name="PDF").first.click()
    saved = download.value.path()
    assert saved is not None and Path(saved).read_bytes()[:5] == b"%PDF-"

    page.get_by_role("link", name="Billing details").click()
    save = page.get_by_role("button", name="Save")
    where = save.bounding_box()
    # The number is checked as it is typed. The message has a line of its own, kept for it,
    # so the form does not move: a click on Save while it appears is not lost.
    page.get_by_label("VAT number").fill("NL123")
    expect(page.locator("#vat-check")).to_contain_text("Not a valid Dutch VAT number")
    assert save.bounding_box() == where
    save.click()
    assert "VAT" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("VAT number").get_attribute("aria-invalid") == "true"
    shot(page, "3-details-refused")
    page.get_by_label("VAT number").fill("NL000099998B57")
    expect(page.locator("#vat-check")).to_contain_text("Valid VAT number: NL000099998B57")
    page.get_by_label("Country (ISO code)").fill("NL")
    page.get_by_role("button", name="Save").click()
    assert page.get_by_role("status").inner_text() == "Your billing details were saved."
    shot(page, "4-details-saved")
    assert ok(api.get(f"/v1/customers/{ada['id']}"))["vat_id"] == "NL000099998B57"

    # A working card, entered on the gateway's own page, pays what is overdue at once.
    page.get_by_role("link", name="Payment methods").click()
    expect(page.get_by_role("cell", name="Visa •••• 0002 (12/2099) (default)")).to_be_visible()
    page.get_by_role("link", name="Add a card or bank account").click()
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry (MM / YY)").fill("12 / 34")
    page.get_by_label("Security code").fill("123")
    page.get_by_role("button", name="Save card").click()
    assert page.url == f"{live_server}/portal/payment_methods?added=true"
    assert "was added" in page.get_by_role("status").inner_text()
    expect(page.get_by_role("cell", name="Visa •••• 4242 (12/2034) (default)")).to_be_visible()
    shot(page, "5-payment-methods")
    assert ok(api.get(f"/v1/invoices/{invoice['id']}"))["status"] == "paid"
    page.get_by_role("link", name="Overview").click()
    assert page.get_by_role("alert").count() == 0
    shot(page, "6-overview-paid")

    response = page.goto(f"{live_server}/portal/invoices/{bobs}/pdf")
    assert response is not None and response.status == 404
    shot(page, "7-other-customers-invoice")

    page.goto(f"{live_server}/portal")
    page.get_by_role("button", name="Sign out").click()
    assert "session has ended" in page.content()
    response = page.goto(f"{live_server}/portal")
    assert response is not None and response.status == 401
    page.close()


def test_a_customer_changes_plan_cancels_undoes_and_reads_usage_in_chromium(
        api: TestClient, kassa: Kassa, clock: FrozenClock, live_server: str,
        chromium: Browser) -> None:
    kassa.settings = dataclasses.replace(kassa.settings, public_url=live_server)
    basic = create_price(api, 1000, name="Basic")
    pro = create_price(api, 3000, name="Pro")
    ok(api.post("/v1/organization", json={"brand_color": "#7c3aed", "portal_settings": {
        "plan_prices": [basic["id"], pro["id"]]}}))
    calls = api_calls_price(api)
    ada = create_customer(api, name="Ada Lovelace", email="ada@example.com")
    ok(api.post("/v1/payment_methods", json={"customer": ada["id"], "token": "pm_card_visa"}))
    sub = subscribe(api, ada["id"], basic["id"], calls["id"])
    start = clock.now()
    clock.move_to(start + timedelta(days=15, hours=12))  # half of January's 31 days
    for day in range(15):
        ok(api.post("/v1/billing/meter_events", json={
            "event_name": "api_call", "identifier": f"call-{day}",
            "timestamp": int((start + timedelta(days=day, hours=2)).timestamp()),
            "payload": {"customer": ada["id"], "value": str(40 + 10 * day)}}))
    url = ok(api.post("/v1/billing_portal/sessions", json={"customer": ada["id"]}))["url"]

    page = chromium.new_page()
    page.goto(live_server + "/" + url.split("/", 3)[3])
    page.get_by_role("link", name="Manage Basic").click()
    expect(page.get_by_role("heading", name="Basic")).to_be_visible()
    # By keyboard: from the current plan, the arrow key picks Pro; htmx shows the price.
    page.get_by_role("radio", name="Basic · €10.00 per month (current)").focus()
    page.keyboard.press("ArrowDown")
    assert page.get_by_role("radio", name="Pro · €30.00 per month").is_checked()
    due = page.locator("#preview-due")
    due.wait_for()
    assert due.inner_text() == "Charged now: €10.00"
    expect(page.get_by_role("cell", name="-€5.00")).to_be_visible()
    shot(page, "8-plan-change-preview")
    page.get_by_role("button", name="Confirm change").click()
    assert page.get_by_role("status").inner_text() == "Your plan was changed."
    shot(page, "9-plan-changed")
    changed = ok(api.get(f"/v1/subscriptions/{sub['id']}"))
    billed = ok(api.get(f"/v1/invoices/{changed['latest_invoice']}"))
    assert (billed["amount_due"], billed["status"]) == (1000, "paid")  # as previewed

    page.get_by_role("link", name="Cancel subscription").click()
    page.get_by_label("Why are you leaving? (optional)").select_option("switched_service")
    page.get_by_label("Anything else you would like to tell us? (optional)").fill(
        "Moving to in-house billing.")
    shot(page, "10-cancel")
    page.get_by_role("button", name="Cancel at the end of the period").click()
    assert "will end on February 1, 2026" in page.get_by_role("status").first.inner_text()
    shot(page, "11-cancel-scheduled")
    details = ok(api.get(f"/v1/subscriptions/{sub['id']}"))["cancellation_details"]
    assert details["feedback"] == "switched_service"
    page.get_by_role("button", name="Don't cancel").click()
    assert page.get_by_role("status").inner_text() == "Your subscription continues."
    assert ok(api.get(f"/v1/subscriptions/{sub['id']}"))["cancel_at"] is None

    page.get_by_role("link", name="Usage").click()
    # 40 + 50 + ... + 180 = 1,650 calls in 15.5 days; 3,300 by the period's end.
    assert page.locator("dd.used").inner_text() == "1,650 calls"
    chart = page.get_by_role("img", name="API calls so far, day by day")
    expect(chart).to_be_visible()
    assert chart.locator("rect").count() == 16  # Jan 1 to today, the 16th
    assert chart.locator("rect title").last.text_content() == "16 Jan: 1,650"
    shot(page, "12-usage")
    page.close()
