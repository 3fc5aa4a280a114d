"""The OSS return and the VAT summary of a mixed quarter, checked to the cent: a domestic
sale in the Netherlands, consumers in Germany and France (one billed in dollars), a Belgian
business reverse charged, customers outside the EU, a credit note, and invoices that must
not count (void, draft, supplied in another quarter in the seller's timezone)."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.helpers import assert_error, auth, create_customer, ok
from kassa.config import Kassa
from kassa.services import organizations

from .world import Taxed, at, credit_note, invoice, invoice_of_line

Q1 = {"year": 2026, "quarter": 1}


@pytest.fixture
def quarter(api: TestClient, kassa: Kassa, org: organizations.NewOrganization) -> None:
    org_id = org.organization.id

    def customer(country: str) -> str:
        return str(create_customer(api, address={"country": country})["id"])

    nl, de, fr, be, us, jp = (customer(c) for c in ("NL", "DE", "FR", "BE", "US", "JP"))
    invoice(kassa, org_id, nl, "eur", Taxed("S", "21", "NL", 10000, 2100),
            supply=at(2026, 1, 15, 12))
    invoice(kassa, org_id, de, "eur", Taxed("S", "19", "DE", 5000, 950),
            supply=at(2026, 2, 10, 12), status="open")
    # 2025-12-31 23:30 UTC is already 1 January 2026 in Amsterdam: in this quarter.
    invoice(kassa, org_id, de, "eur", Taxed("S", "19", "DE", 100, 19),
            supply=at(2025, 12, 31, 23, 30))
    [fr_line] = invoice(kassa, org_id, fr, "eur", Taxed("S", "20", "FR", 2500, 500),
                        supply=at(2026, 3, 5, 12))
    # No supply date: the finalization time counts.
    invoice(kassa, org_id, fr, "eur", Taxed("S", "20", "FR", 500, 100), supply=None,
            finalized=at(2026, 2, 1, 12), status="uncollectible")
    invoice(kassa, org_id, be, "eur", Taxed("AE", "0", "BE", 20000, 0),
            supply=at(2026, 3, 2, 12))
    invoice(kassa, org_id, us, "eur", Taxed("O", "0", "US", 8000, 0),
            supply=at(2026, 1, 20, 12))
    invoice(kassa, org_id, jp, "jpy", Taxed("O", "0", "JP", 5000, 0),
            supply=at(2026, 1, 21, 12))
    invoice(kassa, org_id, de, "usd", Taxed("S", "19", "DE", 10000, 1900),
            supply=at(2026, 3, 20, 12))
    credit_note(kassa, org_id, fr, fr_line, invoice_of_line(kassa, fr_line), "eur",
                Taxed("S", "20", None, 1000, 200), created=at(2026, 3, 20, 12))
    # None of these count in Q1 2026.
    invoice(kassa, org_id, de, "eur", Taxed("S", "19", "DE", 1000, 190),
            supply=at(2026, 2, 1, 12), status="void")
    invoice(kassa, org_id, de, "eur", Taxed("S", "19", "DE", 1000, 190),
            supply=at(2026, 2, 1, 12), status="draft")
    invoice(kassa, org_id, de, "eur", Taxed("S", "19", "DE", 1000, 190),
            supply=at(2026, 3, 31, 22, 30))  # 1 April in Amsterdam
    invoice(kassa, org_id, fr, "eur", Taxed("S", "20", "FR", 1000, 200),
            supply=at(2026, 4, 2, 12))
    credit_note(kassa, org_id, fr, fr_line, invoice_of_line(kassa, fr_line), "eur",
                Taxed("S", "20", None, 300, 60), created=at(2026, 3, 21, 12), status="void")
    ok(api.post("/v1/exchange_rates", json={"date": "2026-03-31", "base": "eur",
                                            "currency": "usd", "rate": "1.08"}))


def rows(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.text)))


def test_the_oss_return_sums_consumers_in_other_member_states_in_euros(
        api: TestClient, quarter: None) -> None:
    report = ok(api.get("/v1/tax_reports/oss", params=Q1))
    assert {k: report[k] for k in ("object", "period", "country", "currency",
                                   "exchange_rate_date", "complete",
                                   "missing_exchange_rates", "tax_amount")} == {
        "object": "tax_report.oss_return", "period": {"from": "2026-01-01", "to": "2026-03-31"},
        "country": "NL", "currency": "eur", "exchange_rate_date": "2026-03-31",
        "complete": True, "missing_exchange_rates": [], "tax_amount": 2728 + 400}
    # DE 19 %: 50.00 + 1.00 EUR, and 100.00 USD / 1.08 = 92.59 EUR (VAT 19.00 / 1.08 = 17.59).
    # FR 20 %: 25.00 + 5.00 - 10.00 (the credit note) EUR.
    assert report["data"] == [
        {"country": "DE", "rate": "19", "taxable_amount": 14359, "tax_amount": 2728,
         "by_currency": [
             {"currency": "eur", "taxable_amount": 5100, "tax_amount": 969,
              "exchange_rate": "1", "exchange_rate_dates": [], "taxable_amount_eur": 5100,
              "tax_amount_eur": 969},
             {"currency": "usd", "taxable_amount": 10000, "tax_amount": 1900,
              "exchange_rate": "1.08", "exchange_rate_dates": ["2026-03-31"],
              "taxable_amount_eur": 9259, "tax_amount_eur": 1759}]},
        {"country": "FR", "rate": "20", "taxable_amount": 2000, "tax_amount": 400,
         "by_currency": [
             {"currency": "eur", "taxable_amount": 2000, "tax_amount": 400,
              "exchange_rate": "1", "exchange_rate_dates": [], "taxable_amount_eur": 2000,
              "tax_amount_eur": 400}]}]
    assert report["totals"] == [
        {"country": "DE", "taxable_amount": 14359, "tax_amount": 2728},
        {"country": "FR", "taxable_amount": 2000, "tax_amount": 400}]


def test_the_oss_return_as_csv_has_amounts_in_major_units(api: TestClient,
                                                           quarter: None) -> None:
    assert rows(api.get("/v1/tax_reports/oss", params={**Q1, "format": "csv"})) == [
        ["country", "rate", "currency", "taxable_amount", "tax_amount", "exchange_rate",
         "taxable_amount_eur", "tax_amount_eur"],
        ["DE", "19", "EUR", "51.00", "9.69", "1", "51.00", "9.69"],
        ["DE", "19", "USD", "100.00", "19.00", "1.08", "92.59", "17.59"],
        ["FR", "20", "EUR", "20.00", "4.00", "1", "20.00", "4.00"]]


def test_a_missing_rate_is_named_and_its_euro_amounts_left_open(
        api: TestClient, kassa: Kassa, org: organizations.NewOrganization) -> None:
    de = create_customer(api)["id"]
    invoice(kassa, org.organization.id, de, "usd", Taxed("S", "19", "DE", 10000, 1900),
            supply=at(2026, 5, 20, 12))
    invoice(kassa, org.organization.id, de, "eur", Taxed("S", "19", "DE", 1000, 190),
            supply=at(2026, 5, 20, 12))
    # A rate of the day before the quarter's end does not do: the rule is the next one.
    ok(api.post("/v1/exchange_rates", json={"date": "2026-06-29", "base": "eur",
                                            "currency": "usd", "rate": "1.10"}))
    report = ok(api.get("/v1/tax_reports/oss", params={"year": 2026, "quarter": 2}))
    assert report["complete"] is False and report["tax_amount"] is None
    [missing] = report["missing_exchange_rates"]
    assert missing["currency"] == "usd" and "2026-06-30" in missing["message"]
    [row] = report["data"]
    assert (row["taxable_amount"], row["tax_amount"]) == (None, None)
    assert row["by_currency"][1] == {
        "currency": "usd", "taxable_amount": 10000, "tax_amount": 1900,
        "exchange_rate": None, "exchange_rate_dates": [], "taxable_amount_eur": None,
        "tax_amount_eur": None}
    assert rows(api.get("/v1/tax_reports/oss", params={"year": 2026, "quarter": 2,
                                                       "format": "csv"}))[2] == \
        ["DE", "19", "USD", "100.00", "19.00", "", "", ""]
    # The ECB published nothing on 30 June: the next publication, 1 July, converts.
    ok(api.post("/v1/exchange_rates", json={"date": "2026-07-01", "base": "eur",
                                            "currency": "usd", "rate": "1.25"}))
    report = ok(api.get("/v1/tax_reports/oss", params={"year": 2026, "quarter": 2}))
    assert report["complete"] is True
    assert report["data"][0]["by_currency"][1]["exchange_rate_dates"] == ["2026-07-01"]
    assert (report["data"][0]["taxable_amount"], report["tax_amount"]) == (
        1000 + 8000, 190 + 1520)


def test_the_vat_summary_lists_every_category_rate_and_country(api: TestClient,
                                                               quarter: None) -> None:
    report = ok(api.get("/v1/tax_reports/vat_summary",
                        params={"from": "2026-01-01", "to": "2026-03-31"}))
    assert report["period"] == {"from": "2026-01-01", "to": "2026-03-31"}
    assert [(g["category"], g["rate"], g["country"], g["currency"], g["taxable_amount"],
             g["tax_amount"]) for g in report["data"]] == [
        ("AE", "0", "BE", "eur", 20000, 0),
        ("O", "0", "JP", "jpy", 5000, 0),
        ("O", "0", "US", "eur", 8000, 0),
        ("S", "19", "DE", "eur", 5100, 969),
        ("S", "19", "DE", "usd", 10000, 1900),
        ("S", "20", "FR", "eur", 2000, 400),
        ("S", "21", "NL", "eur", 10000, 2100)]
    assert report["reverse_charge"] == [{"currency": "eur", "taxable_amount": 20000,
                                         "tax_amount": 0}]
    assert report["outside_scope"] == [
        {"currency": "eur", "taxable_amount": 8000, "tax_amount": 0},
        {"currency": "jpy", "taxable_amount": 5000, "tax_amount": 0}]
    assert report["totals"] == [
        {"currency": "eur", "taxable_amount": 45100, "tax_amount": 3469},
        {"currency": "jpy", "taxable_amount": 5000, "tax_amount": 0},
        {"currency": "usd", "taxable_amount": 10000, "tax_amount": 1900}]


def test_the_vat_summary_as_csv(api: TestClient, quarter: None) -> None:
    assert rows(api.get("/v1/tax_reports/vat_summary", params={
        "from": "2026-03-01", "to": "2026-03-31", "format": "csv"})) == [
        ["category", "rate", "country", "currency", "taxable_amount", "tax_amount"],
        ["AE", "0", "BE", "EUR", "200.00", "0.00"],
        ["S", "19", "DE", "USD", "100.00", "19.00"],
        ["S", "20", "FR", "EUR", "15.00", "3.00"]]
    # January: the yen invoice, in whole yen.
    assert rows(api.get("/v1/tax_reports/vat_summary", params={
        "from": "2026-01-21", "to": "2026-01-21", "format": "csv"}))[1:] == [
        ["O", "0", "JP", "JPY", "5000", "0"]]


def test_an_untaxed_line_is_summed_without_a_category(
        api: TestClient, kassa: Kassa, org: organizations.NewOrganization) -> None:
    nl = create_customer(api)["id"]
    invoice(kassa, org.organization.id, nl, "eur", Taxed(None, None, None, 4200, 0),
            supply=at(2026, 1, 5, 12))
    report = ok(api.get("/v1/tax_reports/vat_summary",
                        params={"from": "2026-01-01", "to": "2026-01-31"}))
    assert [(g["category"], g["rate"], g["country"], g["taxable_amount"])
            for g in report["data"]] == [(None, None, None, 4200)]


@pytest.mark.parametrize(("path", "params", "status", "param"), [
    ("/v1/tax_reports/oss", {"year": 2026, "quarter": 5}, 400, "quarter"),
    ("/v1/tax_reports/oss", {"year": 2026, "quarter": 0}, 400, "quarter"),
    ("/v1/tax_reports/oss", {"year": 2020, "quarter": 1}, 400, "year"),
    ("/v1/tax_reports/oss", {"year": "twenty", "quarter": 1}, 400, "year"),
    ("/v1/tax_reports/oss", {"quarter": 1}, 400, "year"),
    ("/v1/tax_reports/oss", {**Q1, "format": "pdf"}, 400, "format"),
    ("/v1/tax_reports/vat_summary", {"from": "2026-03-01", "to": "2026-02-01"}, 400, "to"),
    ("/v1/tax_reports/vat_summary", {"from": "2026-02-30", "to": "2026-03-01"}, 400, "from"),
    ("/v1/tax_reports/vat_summary", {"from": "2010-01-01", "to": "2026-03-01"}, 400, "to"),
    ("/v1/tax_reports/vat_summary", {"to": "2026-03-01"}, 400, "from"),
])
def test_bad_report_parameters_are_a_4xx_naming_them(api: TestClient, path: str,
                                                      params: dict[str, Any], status: int,
                                                      param: str) -> None:
    assert_error(api.get(path, params=params), status, param=param)


def test_without_a_country_there_is_no_oss_return(api: TestClient, kassa: Kassa,
                                                   org: organizations.NewOrganization) -> None:
    from kassa.store import models as m

    with kassa.uow() as uow:
        row = uow.session.get(m.Organization, org.organization.id)
        assert row is not None
        row.country = None
        uow.commit()
    assert_error(api.get("/v1/tax_reports/oss", params=Q1), 400, param="country")


def test_another_organization_reports_none_of_our_invoices(
        api: TestClient, quarter: None, other_org: organizations.NewOrganization) -> None:
    theirs = auth(other_org.secret_key)
    report = ok(api.get("/v1/tax_reports/oss", params=Q1, headers=theirs))
    assert report["country"] == "DE" and report["data"] == [] and report["tax_amount"] == 0
    summary = ok(api.get("/v1/tax_reports/vat_summary",
                         params={"from": "2026-01-01", "to": "2026-03-31"}, headers=theirs))
    assert summary["data"] == [] and summary["totals"] == []


def test_a_custom_credit_note_line_counts_in_its_invoices_country(
        api: TestClient, kassa: Kassa, org: organizations.NewOrganization) -> None:
    fr = create_customer(api)["id"]
    [line] = invoice(kassa, org.organization.id, fr, "eur", Taxed("S", "20", "FR", 5000, 1000),
                     supply=at(2026, 7, 1, 12))
    credit_note(kassa, org.organization.id, fr, None, invoice_of_line(kassa, line), "eur",
                Taxed("S", "20", None, 500, 100), created=at(2026, 8, 1, 12))
    report = ok(api.get("/v1/tax_reports/oss", params={"year": 2026, "quarter": 3}))
    assert report["totals"] == [{"country": "FR", "taxable_amount": 4500, "tax_amount": 900}]
