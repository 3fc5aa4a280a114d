"""The operator dashboard in a real browser: Debian's Chromium (headless, --no-sandbox)
driven by Playwright against Kassa served by uvicorn. An admin, a finance and a support
operator each sign in by keyboard, find a customer, open the customer 360 and an invoice,
see the actions their role allows (and not the others), and do one: support e-mails a
payment reminder, finance issues a credit note, the admin voids an invoice and adds an
operator. Screenshots of the home page, a customer 360 page and the invoice page per role go
to test-output/dashboard/."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect

from api.helpers import create_customer, create_price, list_all, ok, subscribe
from dashboard.world import PASSWORD, add_operator
from kassa.config import Kassa
from kassa.core.clock import FrozenClock
from kassa.services.organizations import NewOrganization
from portal.test_portal_self_service import api_calls_price

SHOTS = Path(__file__).parents[2] / "test-output" / "dashboard"

def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _sign_in(chromium: Browser, base: str, email: str) -> Page:
    """A fresh browser (own cookies) signed in by keyboard."""
    page = chromium.new_context().new_page()
    page.goto(f"{base}/dashboard")
    assert page.url == f"{base}/dashboard/login"
    page.keyboard.press("Tab")  # the first stop: the skip link, with a visible outline
    focused = page.locator(":focus")
    assert focused.inner_text() == "Skip to content"
    assert focused.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/dashboard")
    return page


INVOICE_BUTTONS = {  # what each role sees on an open invoice of a customer with a card
    "admin": {"Retry payment now", "Send payment reminder", "Mark paid out of band",
              "Mark uncollectible", "Void invoice", "Issue credit note"},
    "finance": {"Retry payment now", "Send payment reminder", "Mark paid out of band",
                "Mark uncollectible", "Void invoice", "Issue credit note"},
    "support": {"Retry payment now", "Send payment reminder"},
}
ALL_BUTTONS = set().union(*INVOICE_BUTTONS.values())


def test_each_role_uses_the_dashboard_in_chromium(
        api: TestClient, kassa: Kassa, org: NewOrganization, clock: FrozenClock,
        live_server: str, chromium: Browser) -> None:
    org_id = org.organization.id
    ok(api.post("/v1/organization", json={"brand_color": "#0f766e"}))
    ada = create_customer(api, name="Ada Lovelace", email="ada@example.com")
    ok(api.post("/v1/payment_methods", json={"customer": ada["id"],
                                             "token": "pm_card_chargeDeclined"}))
    in_dunning = subscribe(api, ada["id"], create_price(api, 1000, name="Basic")["id"],
                           api_calls_price(api)["id"])["latest_invoice"]
    sent = [subscribe(api, ada["id"], create_price(api, 5000 + n, name=f"Add-on {n}")["id"],
                      collection_method="send_invoice", days_until_due=14)["latest_invoice"]
            for n in range(3)]
    start = clock.now()
    clock.move_to(start + timedelta(days=5, hours=12))
    for day in range(5):
        ok(api.post("/v1/billing/meter_events", json={
            "event_name": "api_call", "identifier": f"call-{day}",
            "timestamp": int((start + timedelta(days=day, hours=3)).timestamp()),
            "payload": {"customer": ada["id"], "value": str(150 + 40 * day)}}))
    create_customer(api, name="Bob Builder")
    emails = {role: add_operator(kassa, org_id, role, f"{role}@acme.example")
              for role in ("admin", "finance", "support")}

    for role, invoice_id in (("support", sent[0]), ("finance", sent[1]), ("admin", sent[2])):
        page = _sign_in(chromium, live_server, emails[role])
        expect(page.get_by_role("heading", name="Acme Cloud")).to_be_visible()
        assert page.locator("#count-customers").inner_text() == "2"
        assert page.locator("#count-open-invoices").inner_text() == "4"
        if role == "admin":
            shot(page, "home")

        page.get_by_role("link", name="Customers", exact=True).click()
        page.get_by_label("Name, e-mail or id").fill("ada")
        page.keyboard.press("Enter")
        page.get_by_role("link", name="Ada Lovelace").click()
        expect(page.get_by_role("heading", name="Ada Lovelace", level=1)).to_be_visible()
        expect(page.get_by_role("img", name="API calls so far, day by day")).to_be_visible()
        assert page.get_by_role("button", name="Add credit").count() == (
            0 if role == "support" else 1)
        if role == "admin":
            shot(page, "customer-360")

        page.goto(f"{live_server}/dashboard/invoices/{invoice_id}")
        visible = {name for name in ALL_BUTTONS
                   if page.get_by_role("button", name=name, exact=True).count()}
        assert visible == INVOICE_BUTTONS[role], role
        shot(page, f"invoice-{role}")
        if role == "support":  # retrying the declined card is theirs too
            page.goto(f"{live_server}/dashboard/invoices/{in_dunning}")
            expect(page.get_by_role("button", name="Retry payment now")).to_be_visible()
            assert page.get_by_role("button", name="Void invoice").count() == 0
            page.goto(f"{live_server}/dashboard/invoices/{invoice_id}")
            page.get_by_role("button", name="Send payment reminder").click()
            assert page.get_by_role("status").inner_text() == \
                "The payment reminder was e-mailed to the customer."
        elif role == "finance":
            page.get_by_label("Amount (EUR)").fill("10.01")
            page.get_by_label("Reason").select_option("order_change")
            page.get_by_label("Memo (on the credit note)").fill("Seat removed")
            page.get_by_role("button", name="Issue credit note").click()
            assert page.get_by_role("status").inner_text() == "The credit note was issued."
            assert page.locator("#amount-remaining").inner_text() == "€40.00"
        else:
            page.get_by_role("button", name="Void invoice").click()
            assert page.locator("#invoice-status").inner_text() == "void"
            page.get_by_role("link", name="Operators", exact=True).click()
            page.get_by_label("E-mail").fill("new.colleague@example.com")
            page.get_by_label("Role", exact=True).select_option("support")
            page.get_by_role("button", name="Add operator").click()
            assert "Password for new.colleague@example.com" in \
                page.locator("#new-password").inner_text()
            shot(page, "operators")

        page.get_by_role("link", name="Operators", exact=True).click()
        assert page.get_by_role("button", name="Add operator").count() == (
            1 if role == "admin" else 0)
        page.get_by_role("button", name="Sign out").click()
        assert "You are signed out." in page.get_by_role("status").inner_text()
        response = page.goto(f"{live_server}/dashboard/customers/{ada['id']}")
        assert response is not None and page.url == f"{live_server}/dashboard/login"
        page.context.close()

    assert [e["kind"] for e in list_all(api, "/v1/email_messages", kind="invoice_reminder")] \
        == ["invoice_reminder"]
    [note] = list_all(api, "/v1/credit_notes")
    assert (note["invoice"], note["amount"], note["reason"]) == (sent[1], 1001, "order_change")
    assert ok(api.get(f"/v1/invoices/{sent[2]}"))["status"] == "void"
    actors = {e["actor"]["type"] for e in ok(api.get("/v1/audit_log"))["data"]
              if e["request"]["path"].startswith("/dashboard/")}
    assert actors == {"operator"}
