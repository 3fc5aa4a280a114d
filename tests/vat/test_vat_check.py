"""POST /v1/customers/{id}/vat_check: VIES's answer is kept on the customer with an event; an
unreachable VIES records "unavailable" and never fails the request; without a VIES URL nobody
is asked and the status stays "unchecked"."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.helpers import START, assert_error, auth, create_customer, ok
from kassa.adapters.vies import DisabledChecker, ViesChecker
from kassa.config import Kassa, Settings
from kassa.domain.vat_rates import country_of_vat_prefix
from kassa.services import organizations
from kassa.store import models as m

from .fake_vies import (
    DOWN,
    INVALID,
    MS_DOWN,
    SLOW_ID,
    TIMEOUT,
    TIMEOUT_ID,
    VALID,
    FakeVies,
)


def check(api: TestClient, customer_id: str) -> Any:
    return ok(api.post(f"/v1/customers/{customer_id}/vat_check"))


def vat_events(kassa: Kassa, customer_id: str) -> list[m.Event]:
    with kassa.uow() as uow:
        return list(uow.session.scalars(
            select(m.Event).where(m.Event.type == "customer.vat_checked",
                                  m.Event.object_id == customer_id)))


@pytest.mark.parametrize(("vat_id", "expected"), [
    (VALID, "valid"),
    (INVALID, "invalid"),
    (DOWN, "unavailable"),
    (SLOW_ID, "unavailable"),
    (MS_DOWN, "unavailable"),
    (TIMEOUT_ID, "unavailable"),
])
def test_the_answer_of_vies_is_kept_on_the_customer(api: TestClient, kassa: Kassa,
                                                    fake_vies: FakeVies, vat_id: str,
                                                    expected: str) -> None:
    kassa.vat_checker = fake_vies.checker()
    customer = create_customer(api, country=country_of_vat_prefix(vat_id[:2]), vat_id=vat_id)
    assert customer["vat_status"] == "unchecked" and customer["vat_checked_at"] is None

    checked = check(api, customer["id"])

    assert checked["vat_status"] == expected
    assert checked["vat_checked_at"] == int(START.timestamp())
    assert ok(api.get(f"/v1/customers/{customer['id']}"))["vat_status"] == expected
    [event] = vat_events(kassa, customer["id"])
    assert event.data["object"]["vat_status"] == expected
    assert event.data["previous_attributes"] == {"vat_status": "unchecked"}


def test_an_unreachable_vies_records_unavailable_and_never_fails(
        api: TestClient, kassa: Kassa, unreachable_url: str) -> None:
    kassa.vat_checker = ViesChecker(unreachable_url, timeout=TIMEOUT)
    customer = create_customer(api, vat_id=VALID)
    assert check(api, customer["id"])["vat_status"] == "unavailable"
    assert check(api, customer["id"])["vat_status"] == "unavailable"
    events = vat_events(kassa, customer["id"])
    assert len(events) == 2 and "previous_attributes" not in events[1].data


def test_a_later_answer_replaces_an_unavailable_one(api: TestClient, kassa: Kassa,
                                                    fake_vies: FakeVies,
                                                    unreachable_url: str) -> None:
    customer = create_customer(api, vat_id=VALID)
    kassa.vat_checker = ViesChecker(unreachable_url, timeout=TIMEOUT)
    check(api, customer["id"])
    kassa.vat_checker = fake_vies.checker()
    assert check(api, customer["id"])["vat_status"] == "valid"
    assert vat_events(kassa, customer["id"])[-1].data["previous_attributes"] == {
        "vat_status": "unavailable"}


def test_without_a_vies_url_nobody_is_asked_and_the_status_stays_unchecked(
        api: TestClient, kassa: Kassa, fake_vies: FakeVies,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("a VAT check used the network without a VIES URL")

    assert isinstance(kassa.vat_checker, DisabledChecker)  # the default
    customer = create_customer(api, vat_id=VALID)
    monkeypatch.setattr("urllib.request.urlopen", no_network)
    checked = check(api, customer["id"])
    assert checked["vat_status"] == "unchecked" and checked["vat_checked_at"] is None
    assert vat_events(kassa, customer["id"]) == []
    assert fake_vies.paths == []


def test_greek_ids_are_asked_with_the_prefix_el(api: TestClient, kassa: Kassa,
                                                 fake_vies: FakeVies) -> None:
    kassa.vat_checker = fake_vies.checker()
    customer = create_customer(api, country="GR", vat_id="GR 123456783")
    assert customer["vat_id"] == "EL123456783"
    check(api, customer["id"])
    assert fake_vies.paths == ["/rest-api/ms/EL/vat/123456783"]


@pytest.mark.parametrize("vat_id", [None, "GB980780684", "CHE123456788MWST", "NO123456785MVA"])
def test_only_eu_vat_ids_can_be_checked(api: TestClient, kassa: Kassa, fake_vies: FakeVies,
                                        vat_id: str | None) -> None:
    kassa.vat_checker = fake_vies.checker()
    customer = create_customer(api, **({"vat_id": vat_id} if vat_id else {}))
    assert_error(api.post(f"/v1/customers/{customer['id']}/vat_check"), 400, param="vat_id")
    assert fake_vies.paths == []


def test_another_organizations_customer_is_not_found(
        api: TestClient, kassa: Kassa, fake_vies: FakeVies,
        other_org: organizations.NewOrganization) -> None:
    kassa.vat_checker = fake_vies.checker()
    customer = create_customer(api, vat_id=VALID)
    response = api.post(f"/v1/customers/{customer['id']}/vat_check",
                        headers=auth(other_org.secret_key))
    assert_error(response, 404, code="resource_missing")
    assert fake_vies.paths == []


def test_a_bad_vat_id_is_refused_naming_the_format(api: TestClient) -> None:
    error = assert_error(api.post("/v1/customers", json={"vat_id": "DE12345678"}), 400,
                         code="tax_id_invalid", param="vat_id")
    assert error["message"] == ("Not a valid German VAT number: expected DE followed by 9 "
                                "digits (DE123456788).")


def test_the_vies_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Any) -> None:
    monkeypatch.setenv("KASSA_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("KASSA_VIES_URL", raising=False)
    assert isinstance(Kassa(Settings.from_env()).vat_checker, DisabledChecker)
    monkeypatch.setenv("KASSA_VIES_URL", "https://vies.example.test/rest-api/")
    checker = Kassa(Settings.from_env()).vat_checker
    assert isinstance(checker, ViesChecker)
    assert checker.url("EL", "123456783") == \
        "https://vies.example.test/rest-api/ms/EL/vat/123456783"
