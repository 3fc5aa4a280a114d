"""The sandbox's hosted pages, through HTTP on an app with just their router."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kassa.adapters.gateways.sandbox import SandboxGateway
from kassa.adapters.gateways.sandbox_page import router

SECRET = b"sandbox-page-test-secret-01234"
NUMBER = "4242424242424242"
RETURN = "https://shop.example/return?step=2"
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def gateway() -> SandboxGateway:
    return SandboxGateway(SECRET, public_url="https://kassa.test")


@pytest.fixture
def client(gateway: SandboxGateway) -> TestClient:
    app = FastAPI()
    app.include_router(router(gateway, creditor="Acme B.V."))
    return TestClient(app, follow_redirects=False)


def post(client: TestClient, path: str, fields: dict[str, str]) -> httpx.Response:
    return client.post(path, content=urlencode(fields), headers=FORM)


def card_form(**changes: str) -> dict[str, str]:
    return {"return_url": RETURN, "state": "s-1", "methods": "card,sepa_debit",
            "method": "card", "number": "4242 4242 4242 4242", "exp": "12 / 30", "cvc": "123",
            **changes}


def redirect_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 303
    target = urlsplit(response.headers["location"])
    assert (target.scheme, target.netloc, target.path) == ("https", "shop.example", "/return")
    return {key: values[0] for key, values in parse_qs(target.query).items()}


def customer(gateway: SandboxGateway) -> str:
    return gateway.create_customer(email=None, name=None, idempotency_key="c")


def test_checkout_form_is_accessible_and_self_contained(client: TestClient) -> None:
    response = client.get("/sandbox/checkout", params={"return_url": RETURN, "state": "s-1"})
    assert response.status_code == 200
    page = response.text
    for attribute in ('autocomplete="cc-number"', 'autocomplete="cc-exp"',
                      'autocomplete="cc-csc"', '<label for="number">', '<label for="iban">',
                      '<html lang="en">'):
        assert attribute in page
    assert "you authorise Acme B.V. and the sandbox payment service" in page
    assert "<script" not in page and "<link" not in page and "src=" not in page
    assert response.headers["cache-control"] == "no-store"


def test_checkout_offers_only_the_methods_asked_for(client: TestClient) -> None:
    page = client.get("/sandbox/checkout", params={"return_url": RETURN,
                                                   "methods": "sepa_debit"}).text
    assert 'name="iban"' in page and 'name="number"' not in page
    response = client.get("/sandbox/checkout", params={"return_url": RETURN,
                                                       "methods": "card,paypal"})
    assert response.status_code == 400


def test_values_are_escaped(client: TestClient) -> None:
    page = client.get("/sandbox/checkout", params={
        "return_url": RETURN, "state": '"><script>alert(1)</script>',
        "creditor": "<b>Evil</b>"}).text
    assert "<script>alert" not in page and "<b>Evil" not in page
    assert "&lt;b&gt;Evil&lt;/b&gt;" in page


def test_posted_card_redirects_with_a_token_that_attaches_as_visa(
        client: TestClient, gateway: SandboxGateway) -> None:
    response = post(client, "/sandbox/checkout", card_form())
    params = redirect_params(response)
    assert params["step"] == "2" and params["state"] == "s-1"
    token = params["token"]
    assert token.startswith("tok_")
    method = gateway.attach_payment_method(customer_ref=customer(gateway), token=token,
                                           idempotency_key="a")
    assert (method.brand, method.last4, method.exp_month, method.exp_year) == (
        "visa", "4242", 12, 2030)
    for text in (response.text, response.headers["location"], token, method.ref,
                 str(method)):
        assert NUMBER not in text


def test_posted_iban_redirects_with_a_token_carrying_the_mandate(
        client: TestClient, gateway: SandboxGateway) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    params = redirect_params(post(client, "/sandbox/checkout", {
        "return_url": RETURN, "state": "s-2", "methods": "sepa_debit", "method": "sepa_debit",
        "iban": "NL91 ABNA 0417 1643 00", "account_holder": "Ann Example"}))
    method = gateway.attach_payment_method(customer_ref=customer(gateway),
                                           token=params["token"], idempotency_key="a")
    assert (method.type, method.last4, method.bank_code) == ("sepa_debit", "4300", "ABNA")
    assert method.mandate_reference
    assert method.mandate_signed_at is not None and method.mandate_signed_at >= before


def test_invalid_card_shows_the_form_again_without_the_number(client: TestClient) -> None:
    response = post(client, "/sandbox/checkout", card_form(number="4242 4242 4242 4241"))
    assert response.status_code == 400
    assert "Your card number is incorrect." in response.text
    assert 'role="alert"' in response.text
    assert "4242424242424241" not in response.text
    assert "4242 4242 4242 4241" not in response.text


def test_expired_card_is_refused_with_a_message(client: TestClient) -> None:
    response = post(client, "/sandbox/checkout", card_form(exp="01 / 20"))
    assert response.status_code == 400
    assert "Your card has expired." in response.text
    assert NUMBER not in response.text


def test_a_method_not_offered_is_refused(client: TestClient) -> None:
    response = post(client, "/sandbox/checkout", card_form(methods="sepa_debit"))
    assert response.status_code == 400


@pytest.mark.parametrize("return_url", [
    "javascript:alert(1)", "data:text/html,hi", "//shop.example/x", "/relative", "",
    "ftp://shop.example/"])
def test_a_return_url_that_is_not_http_is_refused(client: TestClient, return_url: str) -> None:
    assert client.get("/sandbox/checkout",
                      params={"return_url": return_url}).status_code == 400
    response = post(client, "/sandbox/checkout", card_form(return_url=return_url))
    assert response.status_code == 400
    assert "location" not in response.headers


def test_checkout_wants_a_urlencoded_form(client: TestClient) -> None:
    response = client.post("/sandbox/checkout", json=card_form())
    assert response.status_code == 400


@pytest.mark.parametrize(("decision", "status"), [("approve", "succeeded"), ("fail", "failed")])
def test_authentication_page_redirects_with_the_resulting_charge(
        client: TestClient, gateway: SandboxGateway, decision: str, status: str) -> None:
    cus = customer(gateway)
    method = gateway.attach_payment_method(customer_ref=cus,
                                           token="pm_card_authenticationRequired",
                                           idempotency_key="a")
    pending = gateway.charge(customer_ref=cus, method_ref=method.ref, amount=1999,
                             currency="eur", idempotency_key="c", description="", metadata={})
    assert pending.next_action_url
    path = urlsplit(pending.next_action_url).path
    page = client.get(path, params={"return_url": RETURN, "state": "s-3"})
    assert page.status_code == 200
    assert "19.99 EUR" in page.text and 'value="approve"' in page.text

    params = redirect_params(post(client, path, {"return_url": RETURN, "state": "s-3",
                                                  "decision": decision}))
    assert params["state"] == "s-3"
    result = gateway.retrieve_charge(charge_ref=params["charge"], now=datetime.now(UTC))
    assert result.status == status
    assert gateway.charge_id(result.ref) == gateway.charge_id(pending.ref)
    # answered once: the new ref does not await authentication any more
    assert client.get(f"/sandbox/authenticate/{result.ref}",
                      params={"return_url": RETURN}).status_code == 400


def test_authentication_of_an_unknown_charge_is_404(client: TestClient) -> None:
    response = client.get("/sandbox/authenticate/ch_sbx_forged.xyz",
                          params={"return_url": RETURN})
    assert response.status_code == 404
    response = post(client, "/sandbox/authenticate/ch_sbx_forged.xyz",
                    {"return_url": RETURN, "decision": "approve"})
    assert response.status_code == 404


def test_authentication_refuses_a_bad_return_url(client: TestClient,
                                                 gateway: SandboxGateway) -> None:
    response = post(client, "/sandbox/authenticate/ch_sbx_x.y",
                    {"return_url": "javascript:alert(1)", "decision": "approve"})
    assert response.status_code == 400
