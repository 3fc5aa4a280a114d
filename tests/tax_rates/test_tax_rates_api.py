"""`/v1/tax_rates` through HTTP: create, read, list, update as Stripe's; overlapping validity
refused; every bad request a 4xx envelope that writes nothing; tenants sealed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.helpers import assert_error, auth, event_types, list_all, ok, ts
from kassa.config import Kassa
from kassa.services import organizations
from kassa.services.tax_rates import load_examples, rate_terms

GST = {"display_name": "GST", "tax_type": "gst", "country": "CA", "percentage": 5}


def create(api: TestClient, **fields: Any) -> Any:
    return ok(api.post("/v1/tax_rates", json=fields))


def written(api: TestClient) -> tuple[int, int]:
    return len(list_all(api, "/v1/tax_rates")), len(list_all(api, "/v1/events"))


def test_a_rate_is_created_read_and_listed_with_its_jurisdiction(api: TestClient) -> None:
    qst = create(api, display_name="QST", tax_type="qst", country="ca", state="qc",
                 percentage="9.975", valid_from="2013-01-01", description="Québec",
                 metadata={"filing": "quarterly"})
    assert qst["id"].startswith("txr_") and qst["object"] == "tax_rate"
    assert {k: qst[k] for k in ("country", "state", "jurisdiction", "percentage",
                                "inclusive", "active", "valid_from", "valid_until",
                                "description", "metadata")} == {
        "country": "CA", "state": "QC", "jurisdiction": "CA-QC", "percentage": "9.975",
        "inclusive": False, "active": True, "valid_from": ts(2013, 1, 1), "valid_until": None,
        "description": "Québec", "metadata": {"filing": "quarterly"}}
    assert ok(api.get(f"/v1/tax_rates/{qst['id']}")) == qst
    gst = create(api, **GST)
    assert gst["percentage"] == "5" and gst["state"] is None
    assert [r["id"] for r in list_all(api, "/v1/tax_rates")] == [gst["id"], qst["id"]]
    assert [r["id"] for r in list_all(api, "/v1/tax_rates", state="QC")] == [qst["id"]]
    assert [r["id"] for r in list_all(api, "/v1/tax_rates", country="ca",
                                      tax_type="gst")] == [gst["id"]]
    assert list_all(api, "/v1/tax_rates", country="US") == []
    assert event_types(api) == ["tax_rate.created", "tax_rate.created"]


def test_a_timestamp_counts_as_its_utc_day(api: TestClient) -> None:
    rate = create(api, **GST, valid_from=ts(2008, 1, 1, 15), valid_until=ts(2030, 1, 1, 1))
    assert (rate["valid_from"], rate["valid_until"]) == (ts(2008, 1, 1), ts(2030, 1, 1))


def test_an_update_changes_name_metadata_active_and_end_but_never_the_percentage(
        api: TestClient) -> None:
    rate = create(api, **GST, metadata={"a": "1", "b": "2"})
    updated = ok(api.post(f"/v1/tax_rates/{rate['id']}", json={
        "display_name": "GST (federal)", "metadata": {"a": "", "c": "3"},
        "valid_until": "2027-01-01", "description": "Federal"}))
    assert updated["display_name"] == "GST (federal)"
    assert updated["metadata"] == {"b": "2", "c": "3"}
    assert updated["valid_until"] == ts(2027, 1, 1) and updated["percentage"] == "5"
    archived = ok(api.post(f"/v1/tax_rates/{rate['id']}", json={"active": False}))
    assert archived["active"] is False
    assert [r["id"] for r in list_all(api, "/v1/tax_rates", active="false")] == [rate["id"]]
    assert list_all(api, "/v1/tax_rates", active="true") == []
    assert_error(api.post(f"/v1/tax_rates/{rate['id']}", json={"percentage": "6"}), 400,
                 code="parameter_unknown", param="percentage")
    events = list(reversed(list_all(api, "/v1/events")))
    assert [e["type"] for e in events] == ["tax_rate.created", "tax_rate.updated",
                                           "tax_rate.updated"]
    assert events[1]["data"]["previous_attributes"] == {
        "display_name": "GST", "metadata": {"a": "1", "b": "2"}, "valid_until": None,
        "description": None}
    assert events[2]["data"]["previous_attributes"] == {"active": True}


def test_a_rate_change_is_a_new_rate_from_the_day_the_old_one_ends(api: TestClient) -> None:
    old = create(api, display_name="HST", tax_type="hst", country="CA", state="NS",
                 percentage=15, valid_from="2010-07-01")
    # The new rate overlaps until the old one is given an end.
    assert_error(api.post("/v1/tax_rates", json={
        "display_name": "HST", "tax_type": "hst", "country": "CA", "state": "NS",
        "percentage": 14, "valid_from": "2025-04-01"}), 400, code="tax_rate_overlap",
        param="valid_from")
    ok(api.post(f"/v1/tax_rates/{old['id']}", json={"valid_until": "2025-04-01"}))
    new = create(api, display_name="HST", tax_type="hst", country="CA", state="NS",
                 percentage=14, valid_from="2025-04-01")
    assert new["valid_from"] == ts(2025, 4, 1)
    # Re-opening the old rate, or moving its end past the new start, is refused.
    for change in ({"valid_until": None}, {"valid_until": "2025-04-02"}):
        assert_error(api.post(f"/v1/tax_rates/{old['id']}", json=change), 400,
                     code="tax_rate_overlap", param="valid_until")
    # Archived, it no longer counts; reactivated, it would overlap again.
    ok(api.post(f"/v1/tax_rates/{new['id']}", json={"active": False}))
    ok(api.post(f"/v1/tax_rates/{old['id']}", json={"valid_until": None}))
    assert_error(api.post(f"/v1/tax_rates/{new['id']}", json={"active": True}), 400,
                 code="tax_rate_overlap", param="active")


def test_other_jurisdictions_and_tax_types_do_not_overlap(api: TestClient) -> None:
    create(api, **GST, valid_from="2008-01-01")
    create(api, display_name="PST", tax_type="pst", country="CA", state="BC", percentage=7)
    create(api, display_name="PST", tax_type="pst", country="CA", state="SK", percentage=6)
    create(api, display_name="HST", tax_type="hst", country="CA", state="ON", percentage=13)
    create(api, display_name="GST", tax_type="gst", country="AU", percentage=10)
    create(api, display_name="Old GST", tax_type="gst", country="CA", percentage=7,
           valid_from="1991-01-01", valid_until="2006-07-01", active=True)
    assert_error(api.post("/v1/tax_rates", json={**GST, "valid_until": "2000-01-01"}), 400,
                 code="tax_rate_overlap", param="valid_from")
    assert_error(api.post("/v1/tax_rates", json={**GST, "valid_from": "2026-01-01"}), 400,
                 code="tax_rate_overlap", param="valid_from")
    assert_error(api.post("/v1/tax_rates", json={**GST, "valid_from": "1980-01-01",
                                                 "valid_until": "1991-01-02"}), 400,
                 code="tax_rate_overlap", param="valid_until")
    # An archived rate may overlap: it applies to nothing.
    create(api, **GST, active=False)


BAD: list[Any] = [
    pytest.param({**GST, "percentage": "100.01"}, "percentage", id="above-100"),
    pytest.param({**GST, "percentage": 101}, "percentage", id="above-100-int"),
    pytest.param({**GST, "percentage": "-1"}, "percentage", id="negative"),
    pytest.param({**GST, "percentage": -5}, "percentage", id="negative-int"),
    pytest.param({**GST, "percentage": "7.12345"}, "percentage", id="five-decimals"),
    pytest.param({**GST, "percentage": "abc"}, "percentage", id="not-a-number"),
    pytest.param({**GST, "percentage": "NaN"}, "percentage", id="nan"),
    pytest.param({**GST, "percentage": 7.25}, "percentage", id="float"),
    pytest.param({**GST, "country": "XX"}, "country", id="unknown-country"),
    pytest.param({**GST, "country": "EU"}, "country", id="eu-is-no-country"),
    pytest.param({**GST, "state": "ZZ"}, "state", id="state-not-a-province"),
    pytest.param({**GST, "state": "NY"}, "state", id="us-state-in-canada"),
    pytest.param({**GST, "country": "US", "state": "ON"}, "state", id="province-in-us"),
    pytest.param({**GST, "country": "AU", "state": "NSW1"}, "state", id="state-too-long"),
    pytest.param({**GST, "country": "AU", "state": "N-W"}, "state", id="state-not-alnum"),
    pytest.param({**GST, "tax_type": "income"}, "tax_type", id="unknown-tax-type"),
    pytest.param({**GST, "display_name": ""}, "display_name", id="empty-name"),
    pytest.param({**GST, "display_name": "   "}, "display_name", id="blank-name"),
    pytest.param({**GST, "valid_from": "2026-01-01", "valid_until": "2026-01-01"},
                 "valid_until", id="empty-range"),
    pytest.param({**GST, "valid_from": "2026-02-30"}, "valid_from", id="no-such-day"),
    pytest.param({**GST, "valid_from": "01/02/2026"}, "valid_from", id="not-iso"),
    pytest.param({**GST, "valid_from": -1}, "valid_from", id="before-1970"),
    pytest.param({**GST, "inclusive": "yes"}, "inclusive", id="inclusive-not-bool"),
    pytest.param({k: v for k, v in GST.items() if k != "country"}, "country",
                 id="country-missing"),
    pytest.param({**GST, "jurisdiction": "CA"}, "jurisdiction", id="unknown-field"),
]


@pytest.mark.parametrize(("body", "param"), BAD)
def test_a_bad_rate_is_refused_naming_the_field_and_nothing_is_written(
        api: TestClient, body: dict[str, Any], param: str) -> None:
    create(api, display_name="HST", tax_type="hst", country="CA", state="ON", percentage=13)
    before = written(api)
    assert_error(api.post("/v1/tax_rates", json=body), 400, param=param)
    assert written(api) == before


def test_a_bad_update_writes_nothing(api: TestClient) -> None:
    rate = create(api, **GST, valid_from="2008-01-01")
    before, record = written(api), ok(api.get(f"/v1/tax_rates/{rate['id']}"))
    for body, param in (({"valid_until": "2007-12-31"}, "valid_until"),
                        ({"valid_until": "2008-01-01"}, "valid_until"),
                        ({"display_name": ""}, "display_name"),
                        ({"active": "no"}, "active"),
                        ({"state": "ON"}, "state")):
        assert_error(api.post(f"/v1/tax_rates/{rate['id']}", json=body), 400, param=param)
    assert written(api) == before
    assert ok(api.get(f"/v1/tax_rates/{rate['id']}")) == record
    assert_error(api.post("/v1/tax_rates/txr_nope", json={"active": False}), 404,
                 code="resource_missing")


def test_another_organizations_rate_does_not_exist_for_us(
        api: TestClient, other_org: organizations.NewOrganization) -> None:
    theirs = auth(other_org.secret_key)
    rate = create(api, **GST)
    assert_error(api.get(f"/v1/tax_rates/{rate['id']}", headers=theirs), 404,
                 code="resource_missing")
    assert_error(api.post(f"/v1/tax_rates/{rate['id']}", json={"active": False},
                          headers=theirs), 404, code="resource_missing")
    assert list_all(api, "/v1/tax_rates", headers=theirs) == []
    # Their own GST for Canada does not overlap ours.
    ok(api.post("/v1/tax_rates", json=GST, headers=theirs))
    assert ok(api.get(f"/v1/tax_rates/{rate['id']}"))["active"] is True


def test_rate_terms_are_the_active_rates_as_plain_data(api: TestClient, kassa: Kassa,
                                                       org: organizations.NewOrganization
                                                       ) -> None:
    gst = create(api, **GST, valid_from="2008-01-01", valid_until="2030-01-01")
    pst = create(api, display_name="PST", tax_type="pst", country="CA", state="BC",
                 percentage="7", inclusive=True)
    ok(api.post(f"/v1/tax_rates/{pst['id']}", json={"active": False}))
    with kassa.uow() as uow:
        [terms] = rate_terms(uow, org.organization.id)
    assert terms.id == gst["id"] and terms.percentage == Decimal(5)
    assert (terms.valid_from, terms.valid_until) == (date(2008, 1, 1), date(2030, 1, 1))
    assert (terms.country, terms.state, terms.tax_type, terms.inclusive) == \
        ("CA", None, "gst", False)


def test_the_examples_load_once_and_keep_the_sellers_own_rates(
        api: TestClient, kassa: Kassa, org: organizations.NewOrganization) -> None:
    own = create(api, display_name="GST", tax_type="gst", country="AU", percentage=10)
    org_id = org.organization.id
    with kassa.uow() as uow:
        first = load_examples(uow, org_id)
    with kassa.uow() as uow:
        second = load_examples(uow, org_id)
    assert [(e.id, reason) for e, reason in first.skipped] == \
        [("AU/gst/2000-07-01", f"overlaps {own['id']}")]
    assert len(first.created) == 19 and second.created == []
    assert len(second.skipped) == 20
    rates = list_all(api, "/v1/tax_rates", country="SG")
    assert sorted((r["percentage"], r["valid_from"], r["valid_until"]) for r in rates) == [
        ("7", ts(2007, 7, 1), ts(2023, 1, 1)), ("8", ts(2023, 1, 1), ts(2024, 1, 1)),
        ("9", ts(2024, 1, 1), None)]
    [washington] = list_all(api, "/v1/tax_rates", country="US", state="WA")
    assert "seller's to maintain" in washington["description"]
    assert event_types(api).count("tax_rate.created") == 20


def test_the_cli_loads_the_examples_into_the_only_organization(
        tmp_path: Any, database_url: str, api: TestClient) -> None:
    from typer.testing import CliRunner

    from kassa.cli import app as cli

    env = {"KASSA_DATA_DIR": str(tmp_path / "data"), "KASSA_SECRET_KEY": "test-pepper",
           "KASSA_DATABASE_URL": database_url}
    first = CliRunner().invoke(cli, ["tax-rates", "load-examples"], env=env)
    assert first.exit_code == 0, first.output
    assert "Created 20 tax rates, skipped 0." in first.output
    assert "CA-NS  HST        14%" in first.output
    second = CliRunner().invoke(cli, ["tax-rates", "load-examples"], env=env)
    assert "Created 0 tax rates, skipped 20." in second.output
    assert len(list_all(api, "/v1/tax_rates")) == 20
