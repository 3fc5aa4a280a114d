"""The dunning API: policies (bad input refused with nothing written, defaults, archiving),
tenants sealed, and the recovery report of a small portfolio against hand-computed figures."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api.helpers import (
    advance,
    assert_error,
    auth,
    count,
    create_clock,
    create_customer,
    create_price,
    ok,
    snapshot,
    subscribe,
    ts,
)
from kassa.config import Kassa
from kassa.core.clock import from_unix
from kassa.services import collection
from kassa.services.organizations import NewOrganization
from kassa.store import models as m


def test_a_policy_shows_its_rules_with_the_defaults_filled_in(api: TestClient) -> None:
    created = ok(api.post("/v1/dunning_policies", json={
        "name": "Enterprise", "retry_schedule": [2, 4, 8], "retry_time": "08:30",
        "suspend_after_days": 21, "final_action": "mark_uncollectible",
        "metadata": {"segment": "enterprise"}}))
    assert created["id"].startswith("dp_")
    assert {k: created[k] for k in ("retry_schedule", "retry_time", "insufficient_funds_retry",
                                    "reminder_schedule", "suspend_after_days", "final_action",
                                    "final_action_after_days", "is_default", "active")} == {
        "retry_schedule": [2, 4, 8], "retry_time": "08:30",
        "insufficient_funds_retry": "month_start", "reminder_schedule": [-3, 0, 3, 7, 14],
        "suspend_after_days": 21, "final_action": "mark_uncollectible",
        "final_action_after_days": 30, "is_default": False, "active": True}
    assert ok(api.get(f"/v1/dunning_policies/{created['id']}")) == created

    changed = ok(api.post(f"/v1/dunning_policies/{created['id']}",
                          json={"suspend_after_days": None, "retry_time": "09:00"}))
    assert (changed["suspend_after_days"], changed["retry_time"], changed["retry_schedule"]) \
        == (None, "09:00", [2, 4, 8])


def test_the_default_policy_is_built_in_until_one_is_made_the_default(
        api: TestClient) -> None:
    built_in = ok(api.get("/v1/dunning_policies/default"))
    assert (built_in["id"], built_in["retry_schedule"], built_in["final_action"]) == (
        None, [1, 3, 5, 7, 9, 11, 14], "leave_past_due")
    first = ok(api.post("/v1/dunning_policies", json={"name": "A", "is_default": True}))
    second = ok(api.post("/v1/dunning_policies", json={"name": "B", "is_default": True}))
    assert ok(api.get("/v1/dunning_policies/default"))["id"] == second["id"]
    assert ok(api.get(f"/v1/dunning_policies/{first['id']}"))["is_default"] is False
    # the default cannot be archived; another can
    assert_error(api.post(f"/v1/dunning_policies/{second['id']}", json={"active": False}),
                 400, param="active")
    archived = ok(api.post(f"/v1/dunning_policies/{first['id']}", json={"active": False}))
    assert archived["active"] is False
    assert [p["id"] for p in ok(api.get("/v1/dunning_policies",
                                        params={"active": "true"}))["data"]] == [second["id"]]
    # an archived policy is given to no one new
    before = count(api, "/v1/customers")
    assert_error(api.post("/v1/customers", json={"name": "X", "dunning_policy": first["id"]}),
                 400, param="dunning_policy")
    assert count(api, "/v1/customers") == before


def test_a_customers_invoices_follow_the_organizations_default_policy(
        api: TestClient) -> None:
    clock = create_clock(api, ts(2026, 3, 2, 8))
    default = ok(api.post("/v1/dunning_policies", json={"name": "Default", "is_default": True,
                                                        "retry_schedule": [2]}))
    customer = create_customer(api, test_clock=clock["id"])
    ok(api.post("/v1/payment_methods", json={"customer": customer["id"],
                                             "token": "pm_card_chargeDeclined"}))
    invoice = subscribe(api, customer["id"], create_price(api)["id"])["latest_invoice"]
    [case] = ok(api.get("/v1/dunning_cases", params={"customer": customer["id"]}))["data"]
    assert (case["policy"], case["invoice"], case["next_retry_at"]) == (
        default["id"], invoice, ts(2026, 3, 4, 9))


def test_bad_policies_are_refused_and_nothing_is_written(api: TestClient) -> None:
    before = count(api, "/v1/dunning_policies")
    for body, param in [
        ({"retry_schedule": [1, 5, 3]}, "retry_schedule[2]"),
        ({"retry_schedule": list(range(1, 32))}, "retry_schedule"),
        ({"final_action": "send_to_collections"}, "final_action"),
        ({"reminder_schedule": [7, 7]}, "reminder_schedule[1]"),
        ({"retry_time": "noon"}, "retry_time"),
        ({"suspend_after_days": -1}, "suspend_after_days"),
        ({"retry_schedule": [1, "2"]}, "retry_schedule[1]"),
        ({"name": ""}, "name"),
    ]:
        assert_error(api.post("/v1/dunning_policies", json={"name": "Bad", **body}), 400,
                     param=param)
    assert count(api, "/v1/dunning_policies") == before
    policy = ok(api.post("/v1/dunning_policies", json={"name": "Good"}))
    assert_error(api.post(f"/v1/dunning_policies/{policy['id']}",
                          json={"retry_schedule": [3, 2]}), 400, param="retry_schedule[1]")
    assert ok(api.get(f"/v1/dunning_policies/{policy['id']}"))["retry_schedule"] == [
        1, 3, 5, 7, 9, 11, 14]


def test_another_organizations_policies_and_cases_are_not_there(
        api: TestClient, other_org: NewOrganization) -> None:
    theirs = ok(api.post("/v1/dunning_policies", json={"name": "Theirs"},
                         headers=auth(other_org.secret_key)))
    customer = create_customer(api)
    before = snapshot(api)
    assert_error(api.post("/v1/customers", json={"name": "Y", "dunning_policy": theirs["id"]}),
                 404, param="dunning_policy")
    assert_error(api.post(f"/v1/customers/{customer['id']}",
                          json={"dunning_policy": theirs["id"]}), 404, param="dunning_policy")
    assert snapshot(api) == before
    assert ok(api.get(f"/v1/customers/{customer['id']}"))["dunning_policy"] is None
    assert_error(api.get(f"/v1/dunning_policies/{theirs['id']}"), 404)
    assert_error(api.post(f"/v1/dunning_policies/{theirs['id']}", json={"name": "Mine"}), 404)
    assert ok(api.get("/v1/dunning_policies"))["data"] == []
    # a case of theirs
    key = auth(other_org.secret_key)
    buyer = ok(api.post("/v1/customers", json={"name": "Z"}, headers=key))
    ok(api.post("/v1/payment_methods", json={"customer": buyer["id"],
                                             "token": "pm_card_chargeDeclined"}, headers=key))
    product = ok(api.post("/v1/products", json={"name": "P"}, headers=key))
    price = ok(api.post("/v1/prices", json={"product": product["id"], "currency": "eur",
                                             "unit_amount": 500,
                                             "recurring": {"interval": "month"}}, headers=key))
    ok(api.post("/v1/subscriptions", json={"customer": buyer["id"],
                                           "items": [{"price": price["id"]}]}, headers=key))
    [case] = ok(api.get("/v1/dunning_cases", headers=key))["data"]
    assert_error(api.get(f"/v1/dunning_cases/{case['id']}"), 404)
    assert ok(api.get("/v1/dunning_cases"))["data"] == []
    report = ok(api.get("/v1/reports/dunning", params={"from": "2026-01-01",
                                                       "to": "2030-01-01"}))
    assert report["entered"] == 0


def test_reports_and_lists_refuse_bad_parameters(api: TestClient) -> None:
    assert_error(api.get("/v1/reports/dunning", params={"from": "2026-05-01",
                                                        "to": "2026-04-01"}), 400, param="to")
    assert_error(api.get("/v1/reports/dunning", params={"from": "May", "to": "2026-04-01"}),
                 400, param="from")
    assert_error(api.get("/v1/dunning_cases", params={"status": "lost"}), 400, param="status")
    assert_error(api.get("/v1/dunning_cases", params={"limit": 10**9}), 400)


def test_the_dunning_pass_twice_at_one_moment_changes_nothing_more(
        api: TestClient, kassa: Kassa) -> None:
    clock = create_clock(api, ts(2026, 3, 2, 8))
    strict = ok(api.post("/v1/dunning_policies", json={"name": "S", "suspend_after_days": 1}))
    customer = create_customer(api, test_clock=clock["id"], email="a@acme.example",
                               dunning_policy=strict["id"])
    ok(api.post("/v1/payment_methods", json={"customer": customer["id"],
                                             "token": "pm_card_chargeDeclined"}))
    invoice = subscribe(api, customer["id"], create_price(api)["id"])["latest_invoice"]
    advance(api, clock["id"], ts(2026, 3, 3, 12))

    def state() -> tuple[Any, ...]:
        with kassa.uow() as uow:
            rows = uow.session.query(m.DunningCase).filter_by(invoice_id=invoice).all()
            return (len(rows), [len(r.steps) for r in rows],
                    uow.session.query(m.EmailMessage).filter_by(
                        customer_id=customer["id"]).count(),
                    uow.session.query(m.Payment).filter_by(invoice_id=invoice).count())

    once = state()
    for _ in range(2):
        collection.run_due(kassa.session_factory, kassa.clock, kassa.gateways,
                           from_unix(ts(2026, 3, 3, 12)), test_clock_id=clock["id"])
    assert state() == once


def test_the_recovery_report_of_a_small_portfolio(api: TestClient) -> None:
    """Four invoices enter dunning on 20 April 2026 (08:00 UTC, 10:00 in Amsterdam):

    A  a lost card (hard decline); a new card given a day later pays at once: attempt 2, 24 h
    B  a card with money only at the start of a month: retried on 1 May: attempt 2, 11 days
    C  a card that always declines, under a policy that cancels: 8 attempts, then canceled
    D  an invoice sent to the customer, due 21 April, paid by transfer on 25 April: 4 days
    """
    clock = create_clock(api, ts(2026, 4, 20, 8))
    cancel = ok(api.post("/v1/dunning_policies",
                         json={"name": "Cancel", "final_action": "cancel_subscription"}))

    def customer(token: str | None, **fields: Any) -> str:
        made = create_customer(api, test_clock=clock["id"], timezone="Europe/Amsterdam",
                               **fields)
        if token:
            ok(api.post("/v1/payment_methods", json={"customer": made["id"], "token": token}))
        return str(made["id"])

    a = customer("pm_card_chargeDeclinedLostCard")
    b = customer("pm_card_fundsAtMonthStart")
    c = customer("pm_card_chargeDeclined", dunning_policy=cancel["id"])
    d = customer(None)
    invoices = {
        "a": subscribe(api, a, create_price(api, 1000)["id"])["latest_invoice"],
        "b": subscribe(api, b, create_price(api, 2000)["id"])["latest_invoice"],
        "c": subscribe(api, c, create_price(api, 3000)["id"])["latest_invoice"],
        "d": subscribe(api, d, create_price(api, 4000)["id"], collection_method="send_invoice",
                       days_until_due=1)["latest_invoice"],
    }
    amounts = {k: ok(api.get(f"/v1/invoices/{v}"))["amount_due"] for k, v in invoices.items()}
    assert amounts == {"a": 1000, "b": 2000, "c": 3000, "d": 4000}

    advance(api, clock["id"], ts(2026, 4, 21, 8))
    ok(api.post("/v1/payment_methods", json={"customer": a, "token": "pm_card_visa"}))
    advance(api, clock["id"], ts(2026, 4, 25, 8))
    ok(api.post("/v1/payments", json={"invoice": invoices["d"], "method": "bank_transfer"}))
    advance(api, clock["id"], ts(2026, 5, 10))

    report = ok(api.get("/v1/reports/dunning", params={"from": "2026-04-01",
                                                       "to": "2026-04-30"}))
    assert (report["entered"], report["recovered"], report["recovery_rate"]) == (
        4, 3, "0.7500")
    assert report["amount_entered"] == {"eur": 10000}
    assert report["amount_recovered"] == {"eur": 1000 + 2000 + 4000}
    assert report["outcomes"] == {"active": 0, "recovered": 3, "exhausted": 1, "closed": 0}
    # 1 day, 4 days, 11 days: median 4 days, mean 16/3 days
    assert report["time_to_recover"] == {
        "count": 3, "median_seconds": 4 * 86400, "mean_seconds": 16 * 86400 // 3,
        "median_days": "4.00", "mean_days": "5.33"}
    assert [(row["attempt"], row["recovered"], row["amount_recovered"])
            for row in report["by_attempt"]] == [(2, 2, {"eur": 3000}),
                                                 (None, 1, {"eur": 4000})]
    assert {row["decline_code"]: (row["entered"], row["recovered"])
            for row in report["by_decline_code"]} == {
        "lost_card": (1, 1), "insufficient_funds": (1, 1), "generic_decline": (1, 0),
        "overdue": (1, 1)}
    assert {row["type"]: (row["entered"], row["recovered"], row["recovery_rate"])
            for row in report["by_payment_method_type"]} == {
        "card": (3, 2, "0.6667"), "send_invoice": (1, 1, "1.0000")}
    assert report["final_actions"] == {"cancel_subscription": 1}
    assert report["involuntary_churn"] == {"subscriptions": 1}

    later = ok(api.get("/v1/reports/dunning", params={"from": "2026-05-01",
                                                      "to": "2026-05-31"}))
    assert (later["entered"], later["recovery_rate"]) == (0, None)
