"""The hosted invoice page's pay button: the customer goes to the gateway's own page, enters a
card there, comes back, and the invoice is paid; the button is gone afterwards."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from fastapi.testclient import TestClient

from api.helpers import create_customer, create_price, ok, subscribe


def _path(url: str) -> str:
    parsed = urlparse(url)
    return parsed.path + (f"?{parsed.query}" if parsed.query else "")


def test_the_pay_button_takes_a_card_on_the_gateways_page_and_pays(api: TestClient) -> None:
    customer = create_customer(api)
    sub = subscribe(api, customer["id"], create_price(api, 4200)["id"],
                    collection_method="send_invoice", days_until_due=14)
    invoice = ok(api.get(f"/v1/invoices/{sub['latest_invoice']}"))
    page_url = invoice["hosted_invoice_path"]
    public = TestClient(api.app)  # no API key: the page is public

    page = public.get(page_url)
    assert page.status_code == 200 and "Pay now" in page.text
    to_gateway = public.get(f"{page_url}/pay", follow_redirects=False)
    assert to_gateway.status_code == 303
    checkout = urlparse(to_gateway.headers["location"])
    assert checkout.path == "/sandbox/checkout"
    form = {key: values[0] for key, values in parse_qs(checkout.query).items()}
    assert form["return_url"].endswith(f"{page_url}/paid")

    back = public.post("/sandbox/checkout", data={
        **form, "method": "card", "number": "4242 4242 4242 4242", "exp": "12 / 30",
        "cvc": "123"}, follow_redirects=False)
    assert back.status_code == 303
    done = public.get(_path(back.headers["location"]), follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (303, page_url)

    paid = ok(api.get(f"/v1/invoices/{invoice['id']}"))
    assert (paid["status"], paid["amount_paid"]) == ("paid", 4200)
    [method] = ok(api.get("/v1/payment_methods", params={"customer": customer["id"]}))["data"]
    assert method["card"]["last4"] == "4242"
    assert "Pay now" not in public.get(page_url).text
    # Coming back a second time charges nothing more.
    public.get(_path(back.headers["location"]), follow_redirects=False)
    assert len(ok(api.get("/v1/payments", params={"invoice": invoice["id"]}))["data"]) == 1
