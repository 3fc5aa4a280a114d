"""A test clock with monthly subscribers on a EUR 10.00 price, and a EUR 12.00 price to move
them to. Customers are in UTC and subscribe at 09:00 on the day given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from api.helpers import (
    advance,
    create_clock,
    create_customer,
    create_price,
    invoices_of,
    list_all,
    ok,
    subscribe,
    ts,
)

JAN_1 = ts(2026, 1, 1, 9)
FEB_15 = ts(2026, 2, 15)


@dataclass
class World:
    api: TestClient
    clock: str
    old: str  # EUR 10.00 a month
    new: str  # EUR 12.00 a month

    def subscriber(self, month: int, day: int, price: str | None = None,
                   **fields: Any) -> dict[str, Any]:
        """A new UTC customer on the clock, subscribed at 09:00 on 2026-month-day."""
        at = ts(2026, month, day, 9)
        if ok(self.api.get(f"/v1/test_clocks/{self.clock}"))["frozen_time"] < at:
            advance(self.api, self.clock, at)
        customer = create_customer(self.api, test_clock=self.clock, timezone="UTC")["id"]
        return subscribe(self.api, customer, price or self.old,  # type: ignore[no-any-return]
                         collection_method="send_invoice", **fields)

    def advance(self, *date: int) -> None:
        advance(self.api, self.clock, ts(*date))

    def migrate(self, **body: Any) -> dict[str, Any]:
        return ok(self.api.post("/v1/price_migrations", json={  # type: ignore[no-any-return]
            "from_price": self.old, "to_price": self.new, "notice_date": FEB_15, **body}))

    def preview(self, **body: Any) -> dict[str, Any]:
        return ok(self.api.post("/v1/price_migrations/preview", json={  # type: ignore[no-any-return]
            "from_price": self.old, "to_price": self.new, "notice_date": FEB_15, **body}))

    def invoices(self, sub: dict[str, Any]) -> list[tuple[int, int]]:
        """(period start, total) of the subscription's invoices, oldest first."""
        return [(invoice["period_start"], invoice["total"])
                for invoice in invoices_of(self.api, sub["customer"])]

    def item(self, sub: dict[str, Any]) -> dict[str, Any]:
        [item] = ok(self.api.get(f"/v1/subscriptions/{sub['id']}"))["items"]["data"]
        return item  # type: ignore[no-any-return]

    def migrations(self) -> list[dict[str, Any]]:
        return list_all(self.api, "/v1/price_migrations")


def make_world(api: TestClient) -> World:
    return World(api, create_clock(api, JAN_1)["id"], create_price(api, 1000)["id"],
                 create_price(api, 1200)["id"])
