"""A price migration that cannot be done is refused as a whole, with the parameter named and
nothing written; another organization's prices, subscriptions and migrations do not exist."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.helpers import (
    assert_error,
    auth,
    create_customer,
    create_price,
    list_all,
    ok,
    snapshot,
    ts,
)
from kassa.services import organizations

from .world import FEB_15, World, make_world


@pytest.fixture
def world(api: TestClient) -> World:
    return make_world(api)


def _state(world: World, subs: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything a migration could write: objects and events, migrations, pending changes."""
    return {**snapshot(world.api), "price_migrations": world.migrations(),
            "items": [world.item(sub) for sub in subs]}


Body = Callable[[World, dict[str, Any]], dict[str, Any]]


def _price(**fields: Any) -> Body:
    """A body whose to_price is a new price with these fields (EUR 12.00 a month unless
    overridden)."""
    def body(world: World, subs: dict[str, Any]) -> dict[str, Any]:
        price = create_price(world.api, **{"unit_amount": 1200, **fields})
        return {"to_price": price["id"]}
    return body


CASES: list[Any] = [
    pytest.param(_price(currency="usd"), 400, "to_price", "currency_mismatch",
                 id="currency-mismatch"),
    pytest.param(_price(interval="year"), 400, "to_price", None, id="interval-mismatch"),
    pytest.param(_price(interval=None, recurring={"interval": "month", "interval_count": 3}),
                 400, "to_price", None, id="interval-count-mismatch"),
    pytest.param(lambda w, s: {"to_price": w.old}, 400, "to_price", None, id="same-price"),
    pytest.param(_price(active=False), 400, "to_price", None, id="archived-target"),
    pytest.param(_price(interval=None), 400, "to_price", None, id="one-time-target"),
    pytest.param(lambda w, s: {"from_price": create_price(w.api, 1000, interval=None)["id"]},
                 400, "from_price", None, id="one-time-source"),
    pytest.param(lambda w, s: {"from_price": "price_nope"}, 404, "from_price",
                 "resource_missing", id="unknown-from-price"),
    pytest.param(lambda w, s: {"to_price": "price_nope"}, 404, "to_price",
                 "resource_missing", id="unknown-to-price"),
    pytest.param(lambda w, s: {"subscriptions": [s["on"]["id"], "sub_nope"]}, 404,
                 "subscriptions[1]", "resource_missing", id="unknown-subscription"),
    pytest.param(lambda w, s: {"subscriptions": [s["off"]["id"]]}, 400, "subscriptions[0]",
                 None, id="subscription-not-on-the-price"),
    pytest.param(lambda w, s: {"subscriptions": [s["on"]["id"], s["on"]["id"]]}, 400,
                 "subscriptions[1]", None, id="subscription-listed-twice"),
    pytest.param(lambda w, s: {"subscriptions": []}, 400, "subscriptions", None,
                 id="no-subscriptions"),
    pytest.param(lambda w, s: {"subscriptions": ["sub_x"] * 1001}, 400, "subscriptions",
                 None, id="1001-subscriptions"),
    pytest.param(lambda w, s: {"notice_date": ts(2025, 12, 31)}, 400, "notice_date", None,
                 id="notice-date-in-the-past"),
    pytest.param(lambda w, s: {"notice_date": ts(2029, 1, 1)}, 400, "notice_date", None,
                 id="notice-date-years-ahead"),
    pytest.param(lambda w, s: {"notice_date": "tomorrow"}, 400, "notice_date", None,
                 id="notice-date-not-a-time"),
    pytest.param(lambda w, s: {"notice_date": None}, 400, "notice_date", None,
                 id="notice-date-null"),
    pytest.param(lambda w, s: {"description": "d" * 1001}, 400, "description", None,
                 id="description-too-long"),
    pytest.param(lambda w, s: {"proration_behavior": "none"}, 400, "proration_behavior",
                 "parameter_unknown", id="unknown-parameter"),
    pytest.param(lambda w, s: {"to_price": create_price(
        w.api, 1200, customer=s["off"]["customer"])["id"]}, 400, "to_price", None,
                 id="another-customers-contract-price"),
    pytest.param(lambda w, s: {"to_price": create_price(
        w.api, 1200, customer=s["off"]["customer"])["id"], "subscriptions": [s["on"]["id"]]},
                 400, "subscriptions[0]", None, id="listed-for-another-customers-contract"),
]


@pytest.mark.parametrize("path", ["/v1/price_migrations", "/v1/price_migrations/preview"])
@pytest.mark.parametrize(("change", "status", "param", "code"), CASES)
def test_a_bad_migration_is_refused_and_writes_nothing(
        world: World, path: str, change: Body, status: int, param: str,
        code: str | None) -> None:
    subs = {"on": world.subscriber(1, 5),
            "off": world.subscriber(1, 6, price=create_price(world.api, 1000)["id"])}
    body = {"from_price": world.old, "to_price": world.new, "notice_date": FEB_15,
            **change(world, subs)}
    before = _state(world, list(subs.values()))
    assert_error(world.api.post(path, json=body), status, param=param, code=code)
    assert _state(world, list(subs.values())) == before


def test_missing_fields_are_named(world: World) -> None:
    for field in ("from_price", "to_price", "notice_date"):
        body = {"from_price": world.old, "to_price": world.new, "notice_date": FEB_15}
        del body[field]
        assert_error(world.api.post("/v1/price_migrations", json=body), 400,
                     code="parameter_missing", param=field)


def test_nothing_to_move_is_refused(world: World) -> None:
    assert_error(world.api.post("/v1/price_migrations", json={
        "from_price": world.old, "to_price": world.new, "notice_date": FEB_15}), 400,
        code="price_migration_empty", param="from_price")
    preview = world.preview()
    assert (preview["entries"], preview["skipped"]) == ([], [])


def test_a_preview_writes_nothing(world: World) -> None:
    subs = [world.subscriber(1, 5), world.subscriber(1, 6)]
    before = _state(world, subs)
    preview = world.preview(notice_date="now")
    assert [e["notify_at"] for e in preview["entries"]] == [ts(2026, 1, 1, 9)] * 2
    # The customers' clock stands at Jan 6: each one's first period is invoiced already, so
    # each moves at its next renewal.
    assert [e["effective_at"] for e in preview["entries"]] == [ts(2026, 2, 5, 9),
                                                             ts(2026, 2, 6, 9)]
    assert _state(world, subs) == before


def test_an_item_already_moving_elsewhere_conflicts(world: World) -> None:
    sub = world.subscriber(1, 5)
    world.migrate()
    elsewhere = create_price(world.api, 1500)["id"]
    before = _state(world, [sub])
    for path in ("/v1/price_migrations", "/v1/price_migrations/preview"):
        assert_error(world.api.post(path, json={
            "from_price": world.old, "to_price": elsewhere, "notice_date": FEB_15,
            "subscriptions": [sub["id"]]}), 409, code="resource_conflict",
            param="subscriptions[0]")
    # The same move again is no conflict: there is nothing left to do.
    preview = world.preview()
    assert [(s["subscription"], s["reason"]) for s in preview["skipped"]] == [
        (sub["id"], "already_migrating")]
    assert_error(world.api.post("/v1/price_migrations", json={
        "from_price": world.old, "to_price": world.new, "notice_date": FEB_15}), 400,
        code="price_migration_empty")
    assert _state(world, [sub]) == before


def test_a_subscription_on_a_schedule_follows_its_phases(world: World) -> None:
    plain = world.subscriber(1, 5)
    customer = create_customer(world.api, test_clock=world.clock, timezone="UTC")["id"]
    schedule = ok(world.api.post("/v1/subscription_schedules", json={
        "customer": customer, "collection_method": "send_invoice",
        "phases": [{"items": [{"price": world.old}], "iterations": 6},
                   {"items": [{"price": world.old, "quantity": 2}]}]}))
    preview = world.preview()
    assert [e["subscription"] for e in preview["entries"]] == [plain["id"]]
    assert [(s["subscription"], s["reason"]) for s in preview["skipped"]] == [
        (schedule["subscription"], "follows_schedule")]
    assert_error(world.api.post("/v1/price_migrations/preview", json={
        "from_price": world.old, "to_price": world.new, "notice_date": FEB_15,
        "subscriptions": [schedule["subscription"]]}), 400, param="subscriptions[0]")


def test_another_organizations_prices_subscriptions_and_migrations_do_not_exist(
        world: World, other_org: organizations.NewOrganization) -> None:
    theirs = auth(other_org.secret_key)
    sub = world.subscriber(1, 5)
    migration = world.migrate()
    their_price = ok(world.api.post("/v1/prices", headers=theirs, json={
        "product_data": {"name": "Basic"}, "currency": "eur", "unit_amount": 1200,
        "recurring": {"interval": "month"}}))["id"]
    their_customer = ok(world.api.post("/v1/customers", headers=theirs, json={"name": "Eve"}))
    their_sub = ok(world.api.post("/v1/subscriptions", headers=theirs, json={
        "customer": their_customer["id"], "items": [{"price": their_price}],
        "collection_method": "send_invoice"}))
    before = _state(world, [sub])

    for body, param in [({"to_price": their_price}, "to_price"),
                        ({"from_price": their_price}, "from_price"),
                        ({"subscriptions": [their_sub["id"]]}, "subscriptions[0]")]:
        for path in ("/v1/price_migrations", "/v1/price_migrations/preview"):
            assert_error(world.api.post(path, json={
                "from_price": world.old, "to_price": world.new, "notice_date": FEB_15,
                **body}), 404, code="resource_missing", param=param)
    # ...and the other way round: our objects do not exist for them.
    assert_error(world.api.post("/v1/price_migrations/preview", headers=theirs, json={
        "from_price": world.old, "to_price": their_price, "notice_date": FEB_15}), 404,
        code="resource_missing", param="from_price")
    for method, path in [("GET", f"/v1/price_migrations/{migration['id']}"),
                         ("GET", f"/v1/price_migrations/{migration['id']}/entries"),
                         ("POST", f"/v1/price_migrations/{migration['id']}/cancel")]:
        assert_error(world.api.request(method, path, headers=theirs), 404,
                     code="resource_missing", param="id")
    assert list_all(world.api, "/v1/price_migrations", headers=theirs) == []
    assert _state(world, [sub]) == before
    assert ok(world.api.get(f"/v1/price_migrations/{migration['id']}"))["status"] == \
        "scheduled"


def test_a_customers_contract_price_moves_that_customer(world: World) -> None:
    sub = world.subscriber(1, 5)
    contract = create_price(world.api, 1100, customer=sub["customer"])["id"]
    migration = world.migrate(to_price=contract)
    [entry] = migration["entries"]["data"]
    assert (entry["subscription"], entry["new_amount"]) == (sub["id"], 1100)


def test_the_api_documents_price_migrations(api: TestClient) -> None:
    paths = ok(api.get("/openapi.json", headers={"Authorization": ""}))["paths"]
    assert {"get", "post"} <= set(paths["/v1/price_migrations"])
    for path in ("/v1/price_migrations/preview", "/v1/price_migrations/{migration_id}",
                 "/v1/price_migrations/{migration_id}/entries",
                 "/v1/price_migrations/{migration_id}/cancel"):
        assert path in paths, path


def test_unknown_migration(api: TestClient) -> None:
    assert_error(api.get("/v1/price_migrations/pmig_nope"), 404, code="resource_missing",
                 param="id")
