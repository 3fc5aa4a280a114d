"""`/v1/exchange_rates` and the ECB import through HTTP and the CLI: rates for reports only,
one per day and pair, imports idempotent, hostile or malformed XML refused writing nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.helpers import assert_error, auth, list_all, ok, ts
from kassa.adapters import ecb
from kassa.cli import app as cli
from kassa.services import organizations

SAMPLE = Path(__file__).parent / "ecb_sample.xml"
XML = {"Content-Type": "application/xml"}
USD = {"date": "2026-03-31", "base": "eur", "currency": "usd", "rate": "1.0800"}


def stored(api: TestClient, **params: Any) -> list[tuple[str, str, str, str]]:
    return sorted((r["date"], r["base"], r["currency"], r["rate"])
                  for r in list_all(api, "/v1/exchange_rates", **params))


def import_sample(api: TestClient, data: bytes | None = None, **headers: str) -> Any:
    return api.post("/v1/exchange_rates/import_ecb",
                    content=SAMPLE.read_bytes() if data is None else data,
                    headers={**XML, **headers})


def test_a_rate_is_stored_for_a_day_and_listed(api: TestClient) -> None:
    rate = ok(api.post("/v1/exchange_rates", json=USD))
    assert rate["id"].startswith("fxr_")
    assert {k: rate[k] for k in ("object", "date", "base", "currency", "rate", "source")} == {
        "object": "exchange_rate", "date": "2026-03-31", "base": "eur", "currency": "usd",
        "rate": "1.08", "source": "manual"}
    by_timestamp = ok(api.post("/v1/exchange_rates", json={
        "date": ts(2026, 4, 1, 16), "base": "EUR", "currency": "JPY", "rate": 163}))
    assert (by_timestamp["date"], by_timestamp["currency"]) == ("2026-04-01", "jpy")
    assert stored(api) == [("2026-03-31", "eur", "usd", "1.08"),
                           ("2026-04-01", "eur", "jpy", "163")]
    assert stored(api, currency="JPY") == [("2026-04-01", "eur", "jpy", "163")]


def test_a_second_rate_for_the_same_day_and_pair_is_a_conflict(api: TestClient) -> None:
    ok(api.post("/v1/exchange_rates", json=USD))
    assert_error(api.post("/v1/exchange_rates", json={**USD, "rate": "1.09"}), 409,
                 code="exchange_rate_exists", param="date")
    assert stored(api) == [("2026-03-31", "eur", "usd", "1.08")]
    ok(api.post("/v1/exchange_rates", json={**USD, "date": "2026-04-01"}))
    ok(api.post("/v1/exchange_rates", json={**USD, "base": "usd", "currency": "eur",
                                            "rate": "0.9259"}))


@pytest.mark.parametrize(("body", "param"), [
    pytest.param({**USD, "rate": "0"}, "rate", id="zero"),
    pytest.param({**USD, "rate": 0}, "rate", id="zero-int"),
    pytest.param({**USD, "rate": "-1.08"}, "rate", id="negative"),
    pytest.param({**USD, "rate": 1.08}, "rate", id="float"),
    pytest.param({**USD, "rate": "Infinity"}, "rate", id="infinite"),
    pytest.param({**USD, "rate": "1,08"}, "rate", id="comma"),
    pytest.param({**USD, "currency": "eur"}, "currency", id="same-currency"),
    pytest.param({**USD, "currency": "usx"}, "currency", id="unknown-currency"),
    pytest.param({**USD, "base": "xau"}, "base", id="gold-is-no-money"),
    pytest.param({**USD, "date": "2026-13-01"}, "date", id="no-such-month"),
    pytest.param({**USD, "date": "31-03-2026"}, "date", id="not-iso"),
    pytest.param({**USD, "date": 10**13}, "date", id="far-future"),
    pytest.param({k: v for k, v in USD.items() if k != "rate"}, "rate", id="missing"),
])
def test_a_bad_rate_is_refused_and_nothing_is_written(api: TestClient, body: dict[str, Any],
                                                       param: str) -> None:
    assert_error(api.post("/v1/exchange_rates", json=body), 400, param=param)
    assert stored(api) == []


def test_list_filters_by_base_currency_and_days(api: TestClient) -> None:
    ok(import_sample(api))
    assert len(stored(api)) == 20
    assert stored(api, currency="usd", **{"date[gte]": "2024-03-27",
                                          "date[lte]": "2024-03-28"}) == [
        ("2024-03-27", "eur", "usd", "1.0824"), ("2024-03-28", "eur", "usd", "1.0811")]
    assert stored(api, base="usd") == []
    assert len(stored(api, **{"date[gte]": str(ts(2024, 4, 2))})) == 5
    assert_error(api.get("/v1/exchange_rates", params={"date[gte]": "yesterday"}), 400,
                 param="date[gte]")
    assert_error(api.get("/v1/exchange_rates", params={"currency": "xyz"}), 400,
                 param="currency")


def test_the_ecb_file_is_imported_once_whatever_the_number_of_tries(api: TestClient) -> None:
    first = ok(import_sample(api))
    assert first == {"object": "exchange_rate_import", "source": "ecb", "days": 4,
                     "rates": 20, "created": 20, "existing": 0, "first_date": "2024-03-26",
                     "last_date": "2024-04-02", "skipped_currencies": []}
    again = ok(import_sample(api, **{"Content-Type": "text/xml; charset=utf-8"}))
    assert (again["created"], again["existing"]) == (0, 20)
    rates = list_all(api, "/v1/exchange_rates", **{"date[gte]": "2024-04-02"})
    assert {r["currency"]: r["rate"] for r in rates} == {
        "usd": "1.0749", "jpy": "163.01", "gbp": "0.85518", "chf": "0.9784", "sek": "11.523"}
    assert {r["source"] for r in rates} == {"ecb"}


def test_a_manual_rate_is_kept_and_old_currencies_are_left_out(api: TestClient) -> None:
    ok(api.post("/v1/exchange_rates", json={**USD, "date": "2024-03-28", "rate": "1.1"}))
    data = SAMPLE.read_bytes().replace(
        b'<Cube currency="SEK" rate="11.5250"/>',
        b'<Cube currency="SEK" rate="11.5250"/><Cube currency="CYP" rate="0.5853"/>')
    result = ok(import_sample(api, data))
    assert (result["created"], result["existing"], result["rates"]) == (19, 1, 21)
    assert result["skipped_currencies"] == ["CYP"]
    assert stored(api, currency="usd", **{"date[gte]": "2024-03-28",
                                          "date[lte]": "2024-03-28"}) == [
        ("2024-03-28", "eur", "usd", "1.1")]


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01"
    xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
  <Cube><Cube time="2024-03-28"><Cube currency="USD" rate="1.0811"/>&lol2;</Cube></Cube>
</gesmes:Envelope>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE e [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01"
    xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
  <gesmes:subject>&xxe;</gesmes:subject>
  <Cube><Cube time="2024-03-28"><Cube currency="USD" rate="1.0811"/></Cube></Cube>
</gesmes:Envelope>"""


def _sample_with(old: bytes, new: bytes) -> bytes:
    data = SAMPLE.read_bytes()
    assert old in data
    return data.replace(old, new)


@pytest.mark.parametrize("data", [
    pytest.param(b"<gesmes:Envelope><Cube>", id="malformed"),
    pytest.param(b"not xml at all", id="text"),
    pytest.param(BILLION_LAUGHS, id="entity-declarations"),
    pytest.param(EXTERNAL_ENTITY, id="external-entity"),
    pytest.param(BILLION_LAUGHS.decode().encode("utf-16"), id="entities-in-utf-16"),
    pytest.param(b"<rates><rate currency='USD'>1.08</rate></rates>", id="not-ecb"),
    pytest.param(_sample_with(b'time="2024-03-28"', b'time="28.03.2024"'), id="bad-day"),
    pytest.param(_sample_with(b'rate="1.0811"', b'rate="0"'), id="zero-rate"),
    pytest.param(_sample_with(b'rate="1.0811"', b'rate="-1.0811"'), id="negative-rate"),
    pytest.param(_sample_with(b'rate="1.0811"', b'rate="N/A"'), id="rate-not-a-number"),
    pytest.param(_sample_with(b'currency="USD" rate="1.0811"', b'currency="US" rate="1"'),
                 id="bad-currency"),
    pytest.param(b'<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01"/>',
                 id="no-days"),
])
def test_bad_or_hostile_xml_is_refused_and_nothing_is_written(api: TestClient,
                                                              data: bytes) -> None:
    ok(api.post("/v1/exchange_rates", json=USD))
    before = stored(api)
    assert_error(import_sample(api, data), 400, code="xml_invalid", param=None)
    assert stored(api) == before


def test_the_body_must_be_xml_of_at_most_20_mb(api: TestClient) -> None:
    assert_error(api.post("/v1/exchange_rates/import_ecb", content=SAMPLE.read_bytes(),
                          headers={"Content-Type": "application/json"}), 400,
                 code="content_type_invalid")
    assert_error(api.post("/v1/exchange_rates/import_ecb"), 400, code="content_type_invalid")
    padding = b"<!-- " + b"x" * ecb.MAX_BYTES + b" -->"
    assert_error(import_sample(api, SAMPLE.read_bytes() + padding), 413,
                 code="request_too_large")
    assert stored(api) == []


def test_a_hostile_document_never_reaches_the_parser_expanded() -> None:
    for data in (BILLION_LAUGHS, EXTERNAL_ENTITY):
        with pytest.raises(Exception, match="DTD or entity"):
            ecb.parse(data)


def test_another_organization_sees_none_of_our_rates(
        api: TestClient, other_org: organizations.NewOrganization) -> None:
    ok(import_sample(api))
    ok(api.post("/v1/exchange_rates", json={**USD, "date": "2024-03-30"}))
    theirs = auth(other_org.secret_key)
    assert list_all(api, "/v1/exchange_rates", headers=theirs) == []
    # Their import of the same file is theirs: all 20 rates are new to them.
    assert ok(api.post("/v1/exchange_rates/import_ecb", content=SAMPLE.read_bytes(),
                       headers={**XML, **theirs}))["created"] == 20


def test_the_cli_imports_the_file_with_progress_and_twice_adds_nothing(
        tmp_path: Path, database_url: str, org: organizations.NewOrganization,
        api: TestClient) -> None:
    env = {"KASSA_DATA_DIR": str(tmp_path / "data"), "KASSA_SECRET_KEY": "test-pepper",
           "KASSA_DATABASE_URL": database_url}
    runner = CliRunner()
    first = runner.invoke(cli, ["import-ecb", str(SAMPLE)], env=env)
    assert first.exit_code == 0, first.output
    assert "Importing ECB rates" in first.output
    assert "20 rates added, 0 already there (4 days, 2024-03-26 to 2024-04-02)" in first.output
    second = runner.invoke(cli, ["import-ecb", str(SAMPLE), "--org",
                                 org.organization.id], env=env)
    assert "0 rates added, 20 already there" in second.output, second.output
    assert len(stored(api)) == 20
    broken = tmp_path / "broken.xml"
    broken.write_bytes(BILLION_LAUGHS)
    failed = runner.invoke(cli, ["import-ecb", str(broken)], env=env)
    assert failed.exit_code == 1
    assert "XML with a DTD or entity declarations is not accepted" in failed.output
    unknown = runner.invoke(cli, ["import-ecb", str(SAMPLE), "--org", "org_nope"], env=env)
    assert unknown.exit_code == 1 and "No such organization" in unknown.output


def test_an_import_with_an_idempotency_key_replays_its_first_answer(api: TestClient) -> None:
    first = ok(import_sample(api, **{"Idempotency-Key": "ecb-2024-04-02"}))
    again = ok(import_sample(api, **{"Idempotency-Key": "ecb-2024-04-02"}))
    assert first == again and first["created"] == 20
    assert len(stored(api)) == 20
