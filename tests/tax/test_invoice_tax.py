"""Tax on real invoices through the API: a Dutch seller billing customers across the EU and
beyond, with the tax, its breakdown and its legal note on each invoice."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.helpers import advance, create_clock, create_price, list_all, ok, ts


@pytest.fixture
def taxed(api: TestClient) -> TestClient:
    ok(api.post("/v1/organization", json={"automatic_tax": True}))
    return api


def _customer(api: TestClient, **fields: Any) -> dict[str, Any]:
    return ok(api.post("/v1/customers", json={"name": "Customer", **fields}))


def _first_invoice(api: TestClient, customer: dict[str, Any], price: str) -> dict[str, Any]:
    sub = ok(api.post("/v1/subscriptions", json={"customer": customer["id"],
                                                 "items": [{"price": price}]}))
    return ok(api.get(f"/v1/invoices/{sub['latest_invoice']}"))


def _breakdown(invoice: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(g["category"], g["rate"], g["country"], g["taxable_amount"], g["tax_amount"])
            for g in invoice["tax_breakdown"]]


EU_CASES = [
    ("NL consumer: Dutch VAT", {"country": "NL"}, ("S", "21", "NL", 10000, 2100), 12100, None),
    ("NL business: Dutch VAT", {"country": "NL", "vat_id": "NL004495445B01"},
     ("S", "21", "NL", 10000, 2100), 12100, None),
    ("DE business: reverse charge, note in German",
     {"country": "DE", "vat_id": "DE136695976", "preferred_locales": ["de"]},
     ("AE", "0", "DE", 10000, 0), 10000, "Steuerschuldnerschaft"),
    ("BE business: reverse charge, note in Dutch",
     {"country": "BE", "vat_id": "BE0776091951", "preferred_locales": ["nl"]},
     ("AE", "0", "BE", 10000, 0), 10000, "BTW verlegd"),
    ("DE consumer: German VAT through OSS", {"country": "DE"},
     ("S", "19", "DE", 10000, 1900), 11900, None),
    ("FR consumer: French VAT through OSS", {"country": "FR"},
     ("S", "20", "FR", 10000, 2000), 12000, None),
    ("US customer: outside the scope of EU VAT", {"country": "US"},
     ("O", "0", "US", 10000, 0), 10000, "Outside the scope of EU VAT"),
    ("exempt customer", {"country": "DE", "tax_exempt": "exempt"},
     ("E", "0", "DE", 10000, 0), 10000, "Customer exempt"),
]


@pytest.mark.parametrize(("case", "fields", "group", "total", "note"), EU_CASES,
                         ids=[c[0] for c in EU_CASES])
def test_eu_vat_on_the_first_invoice(taxed: TestClient, case: str, fields: dict[str, Any],
                                     group: tuple[Any, ...], total: int,
                                     note: str | None) -> None:
    price = create_price(taxed, 10000, name="Pro")["id"]
    customer = _customer(taxed, **{k: v for k, v in fields.items()
                                   if k != "preferred_locales"},
                         **({"locale": fields["preferred_locales"][0]}
                            if "preferred_locales" in fields else {}))
    invoice = _first_invoice(taxed, customer, price)
    assert _breakdown(invoice) == [group]
    assert invoice["total"] == total and invoice["amount_due"] == total
    assert invoice["total_excluding_tax"] == 10000 and invoice["tax"] == group[4]
    [line] = invoice["lines"]["data"]
    assert line["tax_amounts"][0]["category"] == group[0]
    assert line["amount_excluding_tax"] == 10000
    shown = invoice["tax_breakdown"][0]["note"]
    assert (shown is None) if note is None else shown.startswith(note)


def test_inclusive_price_keeps_what_the_customer_pays(taxed: TestClient) -> None:
    price = create_price(taxed, 12100, name="Pro", tax_behavior="inclusive")["id"]
    invoice = _first_invoice(taxed, _customer(taxed, country="NL"), price)
    assert (invoice["total"], invoice["tax"], invoice["total_excluding_tax"]) == \
        (12100, 2100, 10000)
    # The same inclusive price to a German consumer: German VAT extracted from 121.00.
    invoice = _first_invoice(taxed, _customer(taxed, country="DE"), price)
    assert (invoice["total"], invoice["tax"], invoice["total_excluding_tax"]) == \
        (12100, 1932, 10168)


def test_many_small_lines_are_taxed_once_per_rate(taxed: TestClient) -> None:
    customer = _customer(taxed, country="NL")
    for _ in range(10):
        ok(taxed.post("/v1/invoiceitems", json={"customer": customer["id"], "amount": 5,
                                                "currency": "eur"}))
    invoice = ok(taxed.post("/v1/invoices", json={"customer": customer["id"]}))
    # 10 x 0.05 = 0.50 at 21% = 0.105 -> 0.11 once (per line it would be 0.10).
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == (50, 11, 61)
    assert sum(line["tax_amounts"][0]["amount"] for line in invoice["lines"]["data"]) == 11


@pytest.mark.parametrize(("currency", "amount", "tax"), [("jpy", 1999, 420),
                                                           ("kwd", 12345, 2592)])
def test_currencies_with_other_exponents(taxed: TestClient, currency: str, amount: int,
                                         tax: int) -> None:
    """JPY has no minor unit (tax rounds to whole yen), KWD has three decimals (fils)."""
    price = create_price(taxed, amount, currency=currency, name="Pro")["id"]
    invoice = _first_invoice(taxed, _customer(taxed, country="NL"), price)
    assert invoice["currency"] == currency
    assert (invoice["tax"], invoice["total"]) == (tax, amount + tax)


def test_rate_change_applies_from_its_date(taxed: TestClient) -> None:
    """Finland raised its standard rate from 24% to 25.5% on 1 September 2024: a Finnish
    consumer's August invoice carries 24%, September's 25.5%."""
    clock = create_clock(taxed, ts(2024, 8, 15, 12))["id"]
    customer = _customer(taxed, country="FI", test_clock=clock, timezone="Europe/Helsinki")
    price = create_price(taxed, 10000, name="Pro")["id"]
    ok(taxed.post("/v1/subscriptions", json={"customer": customer["id"],
                                             "items": [{"price": price}]}))
    advance(taxed, clock, ts(2024, 9, 16))
    invoices = list_all(taxed, "/v1/invoices", customer=customer["id"])
    assert sorted((i["tax_breakdown"][0]["rate"], i["tax"]) for i in invoices) == \
        [("24", 2400), ("25.5", 2550)]


def test_prorations_and_discounts_are_taxed_after_the_discount(taxed: TestClient) -> None:
    coupon = ok(taxed.post("/v1/coupons", json={"percent_off": 50, "duration": "forever"}))
    customer = _customer(taxed, country="NL", coupon=coupon["id"])
    price = create_price(taxed, 10000, name="Pro")["id"]
    invoice = _first_invoice(taxed, customer, price)
    assert (invoice["total_discount"], invoice["total_excluding_tax"], invoice["tax"],
            invoice["total"]) == (5000, 5000, 1050, 6050)


def test_upcoming_invoice_shows_the_tax(taxed: TestClient) -> None:
    customer = _customer(taxed, country="FR")
    price = create_price(taxed, 10000, name="Pro")["id"]
    _first_invoice(taxed, customer, price)
    upcoming = ok(taxed.get("/v1/invoices/upcoming", params={"customer": customer["id"]}))
    assert (upcoming["tax"], upcoming["total"]) == (2000, 12000)
    assert _breakdown(upcoming) == [("S", "20", "FR", 10000, 2000)]


def test_automatic_tax_off_means_no_tax(api: TestClient) -> None:
    price = create_price(api, 10000, name="Pro")["id"]
    invoice = _first_invoice(api, _customer(api, country="NL"), price)
    assert (invoice["tax"], invoice["total"], invoice["tax_breakdown"]) == (0, 10000, [])


def test_credit_note_gives_back_the_tax_too(taxed: TestClient) -> None:
    price = create_price(taxed, 10000, name="Pro")["id"]
    invoice = _first_invoice(taxed, _customer(taxed, country="DE"), price)
    ok(taxed.post(f"/v1/invoices/{invoice['id']}/pay", json={"paid_out_of_band": True}))
    [line] = invoice["lines"]["data"]
    note = ok(taxed.post("/v1/credit_notes", json={
        "invoice": invoice["id"], "reason": "product_unsatisfactory",
        "lines": [{"type": "invoice_line_item", "invoice_line": line["id"], "amount": 4000}]}))
    # 40.00 of the 100.00 line, with its 19% German VAT: 7.60.
    assert (note["subtotal"], note["tax"], note["total"], note["credit_amount"]) == \
        (4000, 760, 4760, 4760)
    assert note["lines"]["data"][0]["tax_amounts"] == [
        {"amount": 760, "category": "S", "rate": "19"}]
    # The rest of the invoice (60.00 + 11.40) can still be credited, not more.
    rest = ok(taxed.post("/v1/credit_notes/preview", json={"invoice": invoice["id"],
                                                           "amount": 7140}))
    assert (rest["total"], rest["tax"]) == (7140, 1140)
    over = taxed.post("/v1/credit_notes", json={"invoice": invoice["id"], "amount": 7141})
    assert over.status_code == 400


def test_seller_rates_for_canada_and_the_us(taxed: TestClient) -> None:
    for body in ({"display_name": "GST", "tax_type": "gst", "country": "CA",
                  "percentage": "5"},
                 {"display_name": "PST (BC)", "tax_type": "pst", "country": "CA",
                  "state": "BC", "percentage": "7"},
                 {"display_name": "HST (ON)", "tax_type": "hst", "country": "CA",
                  "state": "ON", "percentage": "13"},
                 {"display_name": "California sales tax", "tax_type": "sales_tax",
                  "country": "US", "state": "CA", "percentage": "7.25"}):
        ok(taxed.post("/v1/tax_rates", json=body))
    price = create_price(taxed, 10000, currency="usd", name="Pro")["id"]
    cases = [({"line1": "1 Main", "state": "BC", "country": "CA"}, [("5", 500), ("7", 700)]),
             ({"line1": "1 Bay St", "state": "ON", "country": "CA"}, [("13", 1300)]),
             ({"line1": "1 Market", "state": "CA", "country": "US"}, [("7.25", 725)]),
             # No rate for Oregon: outside the scope of EU VAT (the seller is Dutch).
             ({"line1": "1 Pine", "state": "OR", "country": "US"}, [("0", 0)])]
    for address, expected in cases:
        customer = _customer(taxed, address=address)
        invoice = _first_invoice(taxed, customer, price)
        assert [(g["rate"], g["tax_amount"]) for g in invoice["tax_breakdown"]] == expected
        assert invoice["total"] == 10000 + sum(amount for _, amount in expected)


def test_oss_return_from_real_invoices(taxed: TestClient) -> None:
    """A mixed first quarter: domestic, OSS to Germany and France, a Belgian business
    (reverse charge) and an American (outside scope). Only the OSS sales are in the return."""
    price = create_price(taxed, 10000, name="Pro")["id"]
    for fields in ({"country": "NL"}, {"country": "DE"}, {"country": "DE"},
                   {"country": "FR"}, {"country": "BE", "vat_id": "BE0776091951"},
                   {"country": "US"}):
        _first_invoice(taxed, _customer(taxed, **fields), price)
    report = ok(taxed.get("/v1/tax_reports/oss", params={"year": 2026, "quarter": 1}))
    assert [(row["country"], row["rate"], row["taxable_amount"], row["tax_amount"])
            for row in report["data"]] == [("DE", "19", 20000, 3800), ("FR", "20", 10000, 2000)]
    assert report["tax_amount"] == 5800 and report["complete"] is True
    summary = ok(taxed.get("/v1/tax_reports/vat_summary",
                           params={"from": "2026-01-01", "to": "2026-03-31"}))
    assert sorted((g["category"], g["rate"], g["country"], g["taxable_amount"],
                   g["tax_amount"]) for g in summary["data"]) == [
        ("AE", "0", "BE", 10000, 0), ("O", "0", "US", 10000, 0),
        ("S", "19", "DE", 20000, 3800), ("S", "20", "FR", 10000, 2000),
        ("S", "21", "NL", 10000, 2100)]
