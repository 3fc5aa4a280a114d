"""Price migrations worked through a test clock: who pays what, when.

Monthly subscribers pay EUR 10.00; the migration moves them to EUR 12.00 with notice on
Feb 15, 2026. Each one's first renewal after Feb 15 is the first invoice at 12.00.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.helpers import create_customer, create_price, event_types, list_all, ok, ts
from kassa.config import Kassa
from kassa.core.clock import from_unix
from kassa.services import billing

from .world import FEB_15, World, make_world


@pytest.fixture
def world(api: TestClient) -> World:
    return make_world(api)


def test_three_subscribers_move_at_their_first_renewal_after_the_notice(world: World) -> None:
    a = world.subscriber(1, 5)
    d = world.subscriber(1, 12)  # left out: grandfathered
    b = world.subscriber(1, 20)
    c = world.subscriber(2, 10)
    chosen = [a["id"], b["id"], c["id"]]

    preview = world.preview(subscriptions=chosen)
    assert preview["object"] == "price_migration_preview"
    assert [(e["subscription"], e["customer"], e["quantity"], e["old_amount"],
             e["new_amount"], e["currency"], e["effective_at"], e["notify_at"])
            for e in preview["entries"]] == [
        (a["id"], a["customer"], 1, 1000, 1200, "eur", ts(2026, 3, 5, 9), FEB_15),
        (b["id"], b["customer"], 1, 1000, 1200, "eur", ts(2026, 2, 20, 9), FEB_15),
        (c["id"], c["customer"], 1, 1000, 1200, "eur", ts(2026, 3, 10, 9), FEB_15)]
    assert preview["skipped"] == []

    migration = world.migrate(subscriptions=chosen, description="2026 price increase",
                              metadata={"ticket": "PRICE-1"})
    assert {k: migration[k] for k in ("object", "from_price", "to_price", "currency",
                                      "notice_date", "status", "description", "metadata")} == {
        "object": "price_migration", "from_price": world.old, "to_price": world.new,
        "currency": "eur", "notice_date": FEB_15, "status": "scheduled",
        "description": "2026 price increase", "metadata": {"ticket": "PRICE-1"}}
    entries = {e["subscription"]: e for e in migration["entries"]["data"]}
    assert migration["entries"]["has_more"] is False
    assert {sub: (e["effective_at"], e["notify_at"], e["status"], e["applied_at"])
            for sub, e in entries.items()} == {
        a["id"]: (ts(2026, 3, 5, 9), FEB_15, "scheduled", None),
        b["id"]: (ts(2026, 2, 20, 9), FEB_15, "scheduled", None),
        c["id"]: (ts(2026, 3, 10, 9), FEB_15, "scheduled", None)}
    assert world.item(a)["pending_change"] == {"price": world.new, "quantity": 1,
                                               "effective_at": ts(2026, 3, 5, 9)}
    assert world.item(d)["pending_change"] is None
    assert event_types(world.api, object_id=migration["id"]) == ["price_migration.created"]

    world.advance(2026, 2, 25)
    midway = ok(world.api.get(f"/v1/price_migrations/{migration['id']}"))
    assert midway["status"] == "scheduled"
    assert {e["subscription"]: (e["status"], e["applied_at"])
            for e in midway["entries"]["data"]} == {
        a["id"]: ("scheduled", None), b["id"]: ("applied", ts(2026, 2, 20, 9)),
        c["id"]: ("scheduled", None)}
    assert (world.item(b)["price"]["id"], world.item(b)["pending_change"]) == (world.new, None)
    assert world.item(a)["price"]["id"] == world.old
    [applied] = [e for e in list_all(world.api, "/v1/events", object_id=b["id"],
                                     type="customer.subscription.updated")
                 if "items" in e["data"].get("previous_attributes", {})]
    assert applied["created"] == ts(2026, 2, 20, 9)
    assert applied["data"]["previous_attributes"]["items"]["data"][0]["price"]["id"] == \
        world.old
    assert applied["data"]["object"]["items"]["data"][0]["price"]["id"] == world.new

    world.advance(2026, 4, 25)
    assert world.invoices(a) == [(ts(2026, 1, 5, 9), 1000), (ts(2026, 2, 5, 9), 1000),
                                 (ts(2026, 3, 5, 9), 1200), (ts(2026, 4, 5, 9), 1200)]
    assert world.invoices(b) == [(ts(2026, 1, 20, 9), 1000), (ts(2026, 2, 20, 9), 1200),
                                 (ts(2026, 3, 20, 9), 1200), (ts(2026, 4, 20, 9), 1200)]
    assert world.invoices(c) == [(ts(2026, 2, 10, 9), 1000), (ts(2026, 3, 10, 9), 1200),
                                 (ts(2026, 4, 10, 9), 1200)]
    assert world.invoices(d) == [(ts(2026, 1, 12, 9), 1000), (ts(2026, 2, 12, 9), 1000),
                                 (ts(2026, 3, 12, 9), 1000), (ts(2026, 4, 12, 9), 1000)]
    done = ok(world.api.get(f"/v1/price_migrations/{migration['id']}"))
    assert done["status"] == "completed"
    assert sorted(e["applied_at"] for e in done["entries"]["data"]) == [
        ts(2026, 2, 20, 9), ts(2026, 3, 5, 9), ts(2026, 3, 10, 9)]
    assert [world.item(s)["price"]["id"] for s in (a, b, c, d)] == [world.new] * 3 + [world.old]
    refused = world.api.post(f"/v1/price_migrations/{migration['id']}/cancel")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "resource_invalid_state"


def test_by_default_every_live_subscriber_moves_and_those_ending_first_are_skipped(
        world: World) -> None:
    a = world.subscriber(1, 5)
    ending = world.subscriber(1, 6, cancel_at=ts(2026, 3, 1))
    at_renewal = world.subscriber(1, 7, cancel_at=ts(2026, 3, 7, 9))
    after_renewal = world.subscriber(1, 8, cancel_at=ts(2026, 3, 20, 9))
    gone = world.subscriber(1, 9)
    ok(world.api.delete(f"/v1/subscriptions/{gone['id']}"))
    elsewhere = world.subscriber(1, 10, price=create_price(world.api, 1000)["id"])

    preview = world.preview()
    assert [(e["subscription"], e["effective_at"]) for e in preview["entries"]] == [
        (a["id"], ts(2026, 3, 5, 9)), (after_renewal["id"], ts(2026, 3, 8, 9))]
    assert [(s["subscription"], s["customer"], s["reason"]) for s in preview["skipped"]] == [
        (ending["id"], ending["customer"], "ends_before_renewal"),
        (at_renewal["id"], at_renewal["customer"], "ends_before_renewal")]
    migration = world.migrate()
    assert sorted(e["subscription"] for e in migration["entries"]["data"]) == sorted(
        [a["id"], after_renewal["id"]])
    assert world.item(ending)["pending_change"] is None
    assert world.item(elsewhere)["pending_change"] is None

    world.advance(2026, 3, 21)
    # The renewal runs 12 of the period's 31 days: 12/31 x 12.00 = 4.645 -> 4.65
    assert world.invoices(after_renewal)[-1] == (ts(2026, 3, 8, 9), 465)
    # Feb 6 09:00 to Mar 1 00:00 is 543 of the period's 672 hours, at 10.00: 8.08
    assert [total for _, total in world.invoices(ending)] == [1000, 808]
    assert [total for _, total in world.invoices(at_renewal)] == [1000, 1000]
    assert ok(world.api.get(f"/v1/price_migrations/{migration['id']}"))["status"] == \
        "completed"


def test_a_yearly_subscriber_moves_at_its_yearly_renewal(world: World) -> None:
    yearly = create_price(world.api, 10000, interval="year")["id"]
    dearer = create_price(world.api, 12000, interval="year")["id"]
    sub = world.subscriber(1, 1, price=yearly)
    migration = world.migrate(from_price=yearly, to_price=dearer)
    [entry] = migration["entries"]["data"]
    assert (entry["effective_at"], entry["old_amount"], entry["new_amount"]) == (
        ts(2027, 1, 1, 9), 10000, 12000)
    world.advance(2027, 1, 2)
    assert world.invoices(sub) == [(ts(2026, 1, 1, 9), 10000), (ts(2027, 1, 1, 9), 12000)]


def test_amounts_are_a_full_period_at_the_items_quantity(world: World) -> None:
    tiered = create_price(world.api, interval="month", unit_amount=None,
                          billing_scheme="tiered", tiers_mode="graduated",
                          tiers=[{"up_to": 5, "unit_amount": 1000},
                                 {"up_to": "inf", "unit_amount": 800}])["id"]
    customer = create_customer(world.api, test_clock=world.clock, timezone="UTC")["id"]
    ok(world.api.post("/v1/subscriptions", json={
        "customer": customer, "items": [{"price": world.new, "quantity": 7}],
        "collection_method": "send_invoice"}))
    preview = world.preview(from_price=world.new, to_price=tiered)
    [entry] = preview["entries"]
    # 7 x 12.00 = 84.00 before; 5 x 10.00 + 2 x 8.00 = 66.00 after
    assert (entry["quantity"], entry["old_amount"], entry["new_amount"]) == (7, 8400, 6600)


def test_the_invoice_made_ahead_of_time_already_shows_the_new_price(
        world: World, kassa: Kassa) -> None:
    sub = world.subscriber(1, 10, invoice_lead_days=7)
    migration = world.migrate(subscriptions=[sub["id"]])
    assert migration["entries"]["data"][0]["effective_at"] == ts(2026, 3, 10, 9)

    world.advance(2026, 3, 4)
    assert world.invoices(sub) == [(ts(2026, 1, 10, 9), 1000), (ts(2026, 2, 10, 9), 1000),
                                   (ts(2026, 3, 10, 9), 1200)]
    renewal_before = world.api.get("/v1/invoices", params={"customer": sub["customer"],
                                                           "limit": 1}).json()["data"][0]
    assert world.item(sub)["price"]["id"] == world.old  # not swapped yet

    world.advance(2026, 3, 11)
    assert world.item(sub)["price"]["id"] == world.new
    renewal_after = ok(world.api.get(f"/v1/invoices/{renewal_before['id']}"))
    assert (renewal_after["total"], renewal_after["lines"]["data"][0]["price"]) == (
        renewal_before["total"], world.new)
    assert len(world.invoices(sub)) == 3
    with kassa.uow() as uow:  # billing again at the same moment invoices nothing new
        billing.process_customer(uow, sub["customer"], from_unix(ts(2026, 3, 11)))
    assert len(world.invoices(sub)) == 3
    world.advance(2026, 4, 4)
    assert world.invoices(sub)[-1] == (ts(2026, 4, 10, 9), 1200)


def test_the_swap_changes_nothing_about_what_is_billed(world: World, kassa: Kassa) -> None:
    sub = world.subscriber(1, 5)
    world.migrate(subscriptions=[sub["id"]])
    world.advance(2026, 3, 4)
    upcoming = ok(world.api.get("/v1/invoices/upcoming", params={"customer": sub["customer"]}))
    assert (upcoming["period_start"], upcoming["total"]) == (ts(2026, 3, 5, 9), 1200)
    assert world.item(sub)["price"]["id"] == world.old

    world.advance(2026, 3, 5, 10)
    assert world.item(sub)["price"]["id"] == world.new
    invoice = world.api.get("/v1/invoices", params={"customer": sub["customer"],
                                                    "limit": 1}).json()["data"][0]
    assert [(line["amount"], line["price"], line["period"]) for line in
            invoice["lines"]["data"]] == [
        (upcoming["total"], world.new, {"start": ts(2026, 3, 5, 9), "end": ts(2026, 4, 5, 9)})]
    count = len(world.invoices(sub))
    with kassa.uow() as uow:
        billing.process_customer(uow, sub["customer"], from_unix(ts(2026, 3, 5, 10)))
    assert len(world.invoices(sub)) == count
    upcoming = ok(world.api.get("/v1/invoices/upcoming", params={"customer": sub["customer"]}))
    assert (upcoming["period_start"], upcoming["total"]) == (ts(2026, 4, 5, 9), 1200)


def test_a_subscription_canceled_before_its_renewal_drops_out(world: World) -> None:
    a = world.subscriber(1, 5)
    b = world.subscriber(1, 6)
    migration = world.migrate()
    ok(world.api.delete(f"/v1/subscriptions/{a['id']}"))
    entries = ok(world.api.get(f"/v1/price_migrations/{migration['id']}"))["entries"]["data"]
    assert {e["subscription"]: e["status"] for e in entries} == {a["id"]: "canceled",
                                                                 b["id"]: "scheduled"}
    world.advance(2026, 3, 7)
    done = ok(world.api.get(f"/v1/price_migrations/{migration['id']}"))
    assert done["status"] == "completed"
    assert {e["subscription"]: e["status"] for e in done["entries"]["data"]} == {
        a["id"]: "canceled", b["id"]: "applied"}
    assert world.invoices(b)[-1] == (ts(2026, 3, 6, 9), 1200)


def test_cancel_before_the_effective_date_keeps_the_old_price(world: World) -> None:
    a = world.subscriber(1, 5)
    b = world.subscriber(1, 20)
    migration = world.migrate()
    world.advance(2026, 2, 25)  # b has moved on Feb 20; a moves on Mar 5
    canceled = ok(world.api.post(f"/v1/price_migrations/{migration['id']}/cancel"))
    assert canceled["status"] == "canceled"
    assert {e["subscription"]: e["status"] for e in canceled["entries"]["data"]} == {
        a["id"]: "canceled", b["id"]: "applied"}
    assert world.item(a)["pending_change"] is None
    assert event_types(world.api, object_id=migration["id"]) == [
        "price_migration.created", "price_migration.canceled"]
    again = world.api.post(f"/v1/price_migrations/{migration['id']}/cancel")
    assert again.status_code == 400 and again.json()["error"]["code"] == "resource_invalid_state"

    world.advance(2026, 4, 25)
    assert [total for _, total in world.invoices(a)] == [1000] * 4
    assert [total for _, total in world.invoices(b)] == [1000, 1200, 1200, 1200]
    assert [m["status"] for m in world.migrations()] == ["canceled"]
    assert [m["id"] for m in list_all(world.api, "/v1/price_migrations",
                                      status="scheduled")] == []


def test_cancel_keeps_an_entry_already_invoiced_at_the_new_price(world: World) -> None:
    sub = world.subscriber(1, 10, invoice_lead_days=7)
    other = world.subscriber(1, 20)
    migration = world.migrate()
    world.advance(2026, 3, 5)  # the Mar 10 renewal was invoiced on Mar 3, at 12.00
    canceled = ok(world.api.post(f"/v1/price_migrations/{migration['id']}/cancel"))
    assert {e["subscription"]: e["status"] for e in canceled["entries"]["data"]} == {
        sub["id"]: "scheduled", other["id"]: "applied"}
    world.advance(2026, 4, 4)
    assert [total for _, total in world.invoices(sub)] == [1000, 1000, 1200, 1200]
    entries = ok(world.api.get(f"/v1/price_migrations/{migration['id']}"))["entries"]["data"]
    assert {e["status"] for e in entries} == {"applied"}


def test_entries_beyond_the_embedded_page_are_listed_by_the_entries_endpoint(
        world: World) -> None:
    subs = [world.subscriber(1, 5) for _ in range(11)]
    migration = world.migrate()
    assert len(migration["entries"]["data"]) == 11
    [listed] = world.migrations()
    assert (len(listed["entries"]["data"]), listed["entries"]["has_more"]) == (10, True)
    entries = list_all(world.api, listed["entries"]["url"])
    assert sorted(e["subscription"] for e in entries) == sorted(s["id"] for s in subs)
    assert {e["object"] for e in entries} == {"price_migration_entry"}


def test_a_plan_change_before_the_renewal_replaces_the_migration(world: World) -> None:
    """A subscriber who upgrades before their migration takes effect keeps the plan they
    chose; the migration's entry for them is canceled and the migration completes."""
    sub = world.subscriber(1, 5)
    migration = world.migrate(subscriptions=[sub["id"]])
    world.advance(2026, 2, 20)
    business = create_price(world.api, 2000, name="Business")["id"]
    ok(world.api.post(f"/v1/subscriptions/{sub['id']}", json={
        "items": [{"id": world.item(sub)["id"], "price": business}]}))
    assert world.item(sub)["pending_change"] is None
    after = ok(world.api.get(f"/v1/price_migrations/{migration['id']}"))
    assert after["status"] == "completed"
    assert [e["status"] for e in after["entries"]["data"]] == ["canceled"]
    world.advance(2026, 3, 6)
    # March at Business's 20.00, plus the upgrade's prorations for the 13.375 days of 28
    # left on Feb 20 00:00: -477.68 for the old price, +955.36 for Business.
    assert world.invoices(sub)[-1] == (ts(2026, 3, 5, 9), 2477)
