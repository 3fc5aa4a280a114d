"""Every list takes Stripe's `created[gt|gte|lt|lte]` next to `limit` and the cursors."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from api.helpers import assert_error, create_customer, create_price, ok
from kassa.core.clock import FrozenClock, to_unix


def test_lists_filter_by_creation_time(api: TestClient, clock: FrozenClock) -> None:
    early = create_customer(api, name="Early")
    start = to_unix(clock.now())
    clock.move_to(clock.now() + timedelta(hours=1))
    late = create_customer(api, name="Late")
    later = to_unix(clock.now())

    def ids(path: str, **params: object) -> list[str]:
        return [row["id"] for row in ok(api.get(path, params=params))["data"]]

    assert ids("/v1/customers", **{"created[gte]": later}) == [late["id"]]
    assert ids("/v1/customers", **{"created[lt]": later}) == [early["id"]]
    assert ids("/v1/customers", **{"created[gt]": start, "created[lte]": later}) == [
        late["id"]]
    assert ids("/v1/customers", **{"created[gte]": start, "created[lte]": later}) == [
        late["id"], early["id"]]
    # events too (and every other list: the same parameters)
    created = ids("/v1/events", type="customer.created", **{"created[gte]": later})
    assert len(created) == 1
    assert_error(api.get("/v1/customers", params={"created[gte]": "yesterday"}), 400,
                 param="created[gte]")
    assert_error(api.get("/v1/customers", params={"created[lt]": -1}), 400,
                 param="created[lt]")
    assert_error(api.get("/v1/entitlements/active_entitlements",
                         params={"customer": early["id"], "created[gte]": start}), 400,
                 param="created[gte]")


def test_promotion_codes_and_balance_transactions_carry_metadata(api: TestClient) -> None:
    coupon = ok(api.post("/v1/coupons", json={"percent_off": 10, "duration": "once"}))
    promo = ok(api.post("/v1/promotion_codes", json={"coupon": coupon["id"], "code": "META10",
                                                     "metadata": {"campaign": "spring"}}))
    assert ok(api.get(f"/v1/promotion_codes/{promo['id']}"))["metadata"] == {
        "campaign": "spring"}
    customer = create_customer(api)
    credit = ok(api.post(f"/v1/customers/{customer['id']}/balance_transactions",
                         json={"amount": -500, "currency": "eur",
                               "metadata": {"ticket": "T-42"}}))
    assert credit["metadata"] == {"ticket": "T-42"}
    assert_error(api.post(f"/v1/customers/{customer['id']}/balance_transactions",
                          json={"amount": -500, "currency": "eur", "metadata": {"k": 1}}),
                 400)


def test_subscription_items_carry_metadata_and_a_metadata_change_bills_nothing(
        api: TestClient) -> None:
    customer = create_customer(api)
    base, extra = create_price(api, 1000)["id"], create_price(api, 500, name="Extra")["id"]
    sub = ok(api.post("/v1/subscriptions", json={
        "customer": customer["id"],
        "items": [{"price": base, "metadata": {"crm_line": "L-1"}}]}))
    [item] = sub["items"]["data"]
    assert item["metadata"] == {"crm_line": "L-1"}
    updated = ok(api.post(f"/v1/subscriptions/{sub['id']}", json={
        "items": [{"id": item["id"], "metadata": {"seat_pool": "eu"}}]}))
    assert updated["items"]["data"][0]["metadata"] == {"crm_line": "L-1", "seat_pool": "eu"}
    assert updated["latest_invoice"] == sub["latest_invoice"]
    assert ok(api.get("/v1/invoices/upcoming", params={"customer": customer["id"]}))[
        "amount_due"] == 1000  # nothing prorated
    added = ok(api.post(f"/v1/subscriptions/{sub['id']}", json={
        "items": [{"price": extra, "metadata": {"addon": "yes"}}],
        "proration_behavior": "none"}))
    assert {row["price"]["id"]: row["metadata"] for row in added["items"]["data"]} == {
        base: {"crm_line": "L-1", "seat_pool": "eu"}, extra: {"addon": "yes"}}
    refused = api.post(f"/v1/subscriptions/{sub['id']}", json={
        "items": [{"id": "si_nope", "metadata": {"a": "b"}}]})
    assert refused.status_code == 400
    assert_error(api.post(f"/v1/subscriptions/{sub['id']}", json={
        "items": [{"id": item["id"], "metadata": {"k" * 41: "v"}}]}), 400)
