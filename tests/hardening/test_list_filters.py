"""Every list takes Stripe's `created[gt|gte|lt|lte]` next to `limit` and the cursors."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from api.helpers import assert_error, create_customer, ok
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
