"""Test clocks: simulated time that runs trials, renewals, draft grace and cancellations."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from .helpers import (
    DAY,
    HOUR,
    advance,
    assert_error,
    create_clock,
    create_customer,
    create_price,
    event_types,
    invoices_of,
    list_all,
    ok,
    subscribe,
    ts,
)

JAN_1 = ts(2026, 1, 1, 9)
FEB_1 = ts(2026, 2, 1, 9)


def _clocked_subscription(api: TestClient, **fields: Any) -> tuple[str, dict[str, Any]]:
    """A EUR 19.99 monthly send_invoice subscription of a UTC customer on a new clock."""
    clock = create_clock(api, JAN_1)["id"]
    customer = create_customer(api, test_clock=clock, timezone="UTC")["id"]
    sub = subscribe(api, customer, create_price(api)["id"], collection_method="send_invoice",
                    **fields)
    return clock, sub


def _sub(api: TestClient, sub: dict[str, Any]) -> dict[str, Any]:
    return ok(api.get(f"/v1/subscriptions/{sub['id']}"))  # type: ignore[no-any-return]


def test_a_clock_cannot_go_back(api: TestClient) -> None:
    clock = create_clock(api, JAN_1)
    assert (clock["object"], clock["frozen_time"], clock["status"]) == (
        "test_helpers.test_clock", JAN_1, "ready")
    assert_error(api.post(f"/v1/test_clocks/{clock['id']}/advance",
                          json={"frozen_time": JAN_1 - 1}),
                 400, code="parameter_invalid", param="frozen_time")
    assert ok(api.get(f"/v1/test_clocks/{clock['id']}")) == clock
    assert_error(api.post(f"/v1/test_clocks/{clock['id']}/advance", json={}), 400,
                 code="parameter_missing", param="frozen_time")
    assert_error(api.post("/v1/test_clocks/clock_nope/advance",
                          json={"frozen_time": JAN_1}), 404, code="resource_missing")


def test_the_stripe_test_helpers_path_is_the_same_clock(api: TestClient) -> None:
    clock = ok(api.post("/v1/test_helpers/test_clocks", json={"frozen_time": JAN_1,
                                                              "name": "Year one"}))
    assert ok(api.get(f"/v1/test_clocks/{clock['id']}")) == clock
    moved = ok(api.post(f"/v1/test_helpers/test_clocks/{clock['id']}/advance",
                        json={"frozen_time": FEB_1}))
    assert (moved["frozen_time"], moved["name"]) == (FEB_1, "Year one")


def test_a_customer_on_a_clock_lives_in_its_time(api: TestClient) -> None:
    clock = create_clock(api, ts(2030, 6, 1))["id"]
    customer = create_customer(api, test_clock=clock)
    assert (customer["test_clock"], customer["created"]) == (clock, ts(2030, 6, 1))
    assert [c["id"] for c in list_all(api, "/v1/customers", test_clock=clock)] == [
        customer["id"]]
    assert_error(api.post(f"/v1/customers/{customer['id']}", json={"test_clock": clock}), 400,
                 param="test_clock")


def test_a_14_day_trial_starts_with_a_paid_zero_invoice_then_bills(api: TestClient) -> None:
    clock, sub = _clocked_subscription(api, trial_period_days=14)
    trial_end = ts(2026, 1, 15, 9)
    assert {k: sub[k] for k in ("status", "trial_start", "trial_end", "current_period_start",
                                "current_period_end")} == {
        "status": "trialing", "trial_start": JAN_1, "trial_end": trial_end,
        "current_period_start": JAN_1, "current_period_end": trial_end}
    [trial] = invoices_of(api, sub["customer"])
    assert {k: trial[k] for k in ("status", "number", "total", "amount_due", "amount_paid",
                                  "billing_reason", "period_start", "period_end")} == {
        "status": "paid", "number": "ACME-000001", "total": 0, "amount_due": 0,
        "amount_paid": 0, "billing_reason": "subscription_create", "period_start": JAN_1,
        "period_end": trial_end}
    assert [(line["amount"], line["description"]) for line in trial["lines"]["data"]] == [
        (0, "Trial period for Pro")]

    advance(api, clock, trial_end - 1)
    assert _sub(api, sub)["status"] == "trialing"
    assert len(invoices_of(api, sub["customer"])) == 1

    advance(api, clock, trial_end + 2 * HOUR)
    after = _sub(api, sub)
    assert {k: after[k] for k in ("status", "current_period_start", "current_period_end")} == {
        "status": "active", "current_period_start": trial_end,
        "current_period_end": ts(2026, 2, 15, 9)}
    first_paid = invoices_of(api, sub["customer"])[-1]
    assert {k: first_paid[k] for k in ("status", "number", "total", "amount_due",
                                       "billing_reason", "period_start", "period_end",
                                       "due_date")} == {
        "status": "open", "number": "ACME-000002", "total": 1999, "amount_due": 1999,
        "billing_reason": "subscription_cycle", "period_start": trial_end,
        "period_end": ts(2026, 2, 15, 9), "due_date": trial_end + HOUR + 14 * DAY}
    assert after["latest_invoice"] == first_paid["id"]
    updates = [e for e in reversed(list_all(api, "/v1/events", object_id=sub["id"]))
               if e["type"] == "customer.subscription.updated"]
    assert any(e["data"]["object"]["status"] == "active"
               and e["data"]["previous_attributes"] == {"status": "trialing"}
               and e["created"] == trial_end for e in updates), updates


def test_cancel_at_period_end_cancels_then_and_bills_no_more(api: TestClient) -> None:
    clock, sub = _clocked_subscription(api)
    ok(api.post(f"/v1/invoices/{sub['latest_invoice']}/pay", json={"paid_out_of_band": True}))
    scheduled = ok(api.post(f"/v1/subscriptions/{sub['id']}",
                            json={"cancel_at_period_end": True}))
    assert {k: scheduled[k] for k in ("status", "cancel_at_period_end", "cancel_at",
                                      "canceled_at", "ended_at")} == {
        "status": "active", "cancel_at_period_end": True, "cancel_at": FEB_1,
        "canceled_at": JAN_1, "ended_at": None}
    update = list_all(api, "/v1/events", object_id=sub["id"],
                      type="customer.subscription.updated")[0]
    assert update["data"]["previous_attributes"]["cancel_at_period_end"] is False
    nothing_next = api.get("/v1/invoices/upcoming", params={"customer": sub["customer"]})
    assert_error(nothing_next, nothing_next.status_code, code="invoice_upcoming_none")

    advance(api, clock, FEB_1 - 1)
    assert _sub(api, sub)["status"] == "active"
    advance(api, clock, ts(2026, 6, 1))
    ended = _sub(api, sub)
    assert {k: ended[k] for k in ("status", "ended_at", "canceled_at", "next_billing_at")} == {
        "status": "canceled", "ended_at": FEB_1, "canceled_at": JAN_1, "next_billing_at": None}
    assert [i["number"] for i in invoices_of(api, sub["customer"])] == ["ACME-000001"]
    deleted = list_all(api, "/v1/events", object_id=sub["id"],
                       type="customer.subscription.deleted")
    assert [(e["created"], e["data"]["object"]["status"]) for e in deleted] == [
        (FEB_1, "canceled")]
    assert event_types(api, object_id=sub["id"])[-1] == "customer.subscription.deleted"
    assert list_all(api, "/v1/subscriptions", customer=sub["customer"]) == []
    assert [s["id"] for s in list_all(api, "/v1/subscriptions", customer=sub["customer"],
                                      status="canceled")] == [sub["id"]]
    assert_error(api.post(f"/v1/subscriptions/{sub['id']}", json={"metadata": {"a": "b"}}),
                 400, code="resource_invalid_state")


def test_undoing_cancel_at_period_end_keeps_billing(api: TestClient) -> None:
    clock, sub = _clocked_subscription(api)
    ok(api.post(f"/v1/subscriptions/{sub['id']}", json={"cancel_at_period_end": True}))
    advance(api, clock, ts(2026, 1, 10))
    resumed = ok(api.post(f"/v1/subscriptions/{sub['id']}",
                          json={"cancel_at_period_end": False}))
    assert {k: resumed[k] for k in ("status", "cancel_at_period_end", "cancel_at",
                                    "canceled_at")} == {
        "status": "active", "cancel_at_period_end": False, "cancel_at": None,
        "canceled_at": None}
    advance(api, clock, ts(2026, 3, 1, 11))
    assert _sub(api, sub)["status"] in ("active", "past_due")
    invoices = invoices_of(api, sub["customer"])
    assert [(i["number"], i["period_start"], i["total"]) for i in invoices] == [
        ("ACME-000001", JAN_1, 1999), ("ACME-000002", FEB_1, 1999),
        ("ACME-000003", ts(2026, 3, 1, 9), 1999)]
    assert "customer.subscription.deleted" not in event_types(api, object_id=sub["id"])


def test_renewals_wait_as_drafts_for_the_grace_period(api: TestClient) -> None:
    clock, sub = _clocked_subscription(api)
    advance(api, clock, FEB_1)
    draft = invoices_of(api, sub["customer"])[-1]
    assert {k: draft[k] for k in ("status", "number", "billing_reason", "created",
                                  "automatically_finalizes_at", "due_date", "total")} == {
        "status": "draft", "number": None, "billing_reason": "subscription_cycle",
        "created": FEB_1, "automatically_finalizes_at": FEB_1 + 3600, "due_date": None,
        "total": 1999}
    assert draft["status_transitions"]["finalized_at"] is None
    assert _sub(api, sub)["latest_invoice"] == draft["id"]

    advance(api, clock, FEB_1 + 3599)
    assert ok(api.get(f"/v1/invoices/{draft['id']}"))["status"] == "draft"

    advance(api, clock, FEB_1 + 3600)
    final = ok(api.get(f"/v1/invoices/{draft['id']}"))
    assert {k: final[k] for k in ("status", "number", "automatically_finalizes_at",
                                  "due_date")} == {
        "status": "open", "number": "ACME-000002", "automatically_finalizes_at": None,
        "due_date": FEB_1 + 3600 + 14 * DAY}
    assert final["status_transitions"]["finalized_at"] == FEB_1 + 3600
    assert len(invoices_of(api, sub["customer"])) == 2


def test_the_grace_period_is_an_organization_setting(api: TestClient) -> None:
    assert ok(api.post("/v1/organization",
                       json={"draft_grace_seconds": 7200}))["draft_grace_seconds"] == 7200
    clock, sub = _clocked_subscription(api)
    advance(api, clock, FEB_1 + 3600)
    draft = invoices_of(api, sub["customer"])[-1]
    assert (draft["status"], draft["automatically_finalizes_at"]) == ("draft", FEB_1 + 7200)
    advance(api, clock, FEB_1 + 7200)
    assert ok(api.get(f"/v1/invoices/{draft['id']}"))["status"] == "open"


def test_a_draft_can_be_finalized_by_hand_before_the_grace_period_ends(
        api: TestClient) -> None:
    clock, sub = _clocked_subscription(api)
    advance(api, clock, FEB_1 + 60)
    draft = invoices_of(api, sub["customer"])[-1]
    final = ok(api.post(f"/v1/invoices/{draft['id']}/finalize"))
    assert (final["status"], final["number"]) == ("open", "ACME-000002")
    assert final["status_transitions"]["finalized_at"] == FEB_1 + 60
    advance(api, clock, FEB_1 + 2 * HOUR)
    assert [i["number"] for i in invoices_of(api, sub["customer"])] == ["ACME-000001",
                                                                       "ACME-000002"]


def test_advancing_a_clock_leaves_other_customers_alone(api: TestClient) -> None:
    clock, sub = _clocked_subscription(api)
    real_time = create_customer(api, name="Real")
    subscribe(api, real_time["id"], create_price(api, 900, name="Basic")["id"],
              collection_method="send_invoice")
    other_clock = create_clock(api, JAN_1)["id"]
    frozen = create_customer(api, name="Frozen", test_clock=other_clock)
    subscribe(api, frozen["id"], create_price(api, 700, name="Lite")["id"],
              collection_method="send_invoice")

    advance(api, clock, ts(2026, 4, 1, 12))
    assert len(invoices_of(api, sub["customer"])) == 4
    assert len(invoices_of(api, real_time["id"])) == 1
    assert len(invoices_of(api, frozen["id"])) == 1
    assert ok(api.get(f"/v1/test_clocks/{other_clock}"))["frozen_time"] == JAN_1
