"""Entitlements through the HTTP API, in Stripe's shape, with worked plans.

A SaaS sells two plans of one product line:

    Free  (0.00 EUR a month): dashboard, basic_reports, projects_3 (limit 3)
    Pro  (29.00 EUR a month): dashboard, basic_reports, advanced_reports, sso,
                              projects_50 (limit 50)

A customer's active entitlements are derived on every request from the subscriptions that
provide service (trialing, active, past_due) through item → price → product → features.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from kassa.domain.entitlements import Entitlement, Grant, grants_service, resolve
from kassa.services import organizations

DAY = 86_400


def ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def ok(response: Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def assert_error(response: Response, status: int, code: str, param: str | None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"type", "code", "message", "param"}, error
    assert (error["code"], error["param"]) == (code, param), error
    assert error["message"]


def feature(api: TestClient, lookup_key: str, limit: int | None = None,
            **fields: Any) -> dict[str, Any]:
    body = {"name": lookup_key.replace("_", " ").title(), "lookup_key": lookup_key, **fields}
    if limit is not None:
        body["limit"] = limit
    return ok(api.post("/v1/entitlements/features", json=body))


def plan(api: TestClient, name: str, unit_amount: int, *features: dict[str, Any],
         ) -> dict[str, Any]:
    """A monthly price of a new product that grants `features`."""
    price = ok(api.post("/v1/prices", json={
        "product_data": {"name": name}, "currency": "eur", "unit_amount": unit_amount,
        "recurring": {"interval": "month"}}))
    for f in features:
        ok(api.post(f"/v1/products/{price['product']}/features",
                    json={"entitlement_feature": f["id"]}))
    return price


def customer(api: TestClient, **fields: Any) -> str:
    return ok(api.post("/v1/customers", json={"name": "Ada", **fields}))["id"]


def subscribe(api: TestClient, customer_id: str, price: dict[str, Any],
              **fields: Any) -> dict[str, Any]:
    return ok(api.post("/v1/subscriptions", json={
        "customer": customer_id, "items": [{"price": price["id"]}], **fields}))


def entitled(api: TestClient, customer_id: str,
             headers: dict[str, str] | None = None) -> dict[str, int | None]:
    """The customer's active entitlements as {lookup_key: limit}."""
    page = ok(api.get("/v1/entitlements/active_entitlements",
                      params={"customer": customer_id, "limit": 100}, headers=headers))
    assert page["object"] == "list" and not page["has_more"]
    for e in page["data"]:
        assert e["object"] == "entitlements.active_entitlement"
        assert e["id"].startswith("ent_") and e["feature"].startswith("feat_")
    return {e["lookup_key"]: e["limit"] for e in page["data"]}


@dataclass(frozen=True)
class Catalog:
    features: dict[str, dict[str, Any]]
    free: dict[str, Any]
    pro: dict[str, Any]


FREE_FEATURES = {"dashboard": None, "basic_reports": None, "projects_3": 3}
PRO_FEATURES = {"dashboard": None, "basic_reports": None, "advanced_reports": None,
                "sso": None, "projects_50": 50}


@pytest.fixture
def catalog(api: TestClient) -> Catalog:
    features = {key: feature(api, key, limit)
                for key, limit in {**FREE_FEATURES, **PRO_FEATURES}.items()}
    free = plan(api, "Free", 0, *(features[k] for k in FREE_FEATURES))
    pro = plan(api, "Pro", 2900, *(features[k] for k in PRO_FEATURES))
    return Catalog(features, free, pro)


# --- features ---------------------------------------------------------------------------------

def test_feature_is_created_read_listed_and_recorded_in_stripes_shape(api: TestClient) -> None:
    created = feature(api, "projects", 5, name="Projects", metadata={"tier": "core"})
    assert created["id"].startswith("feat_")
    assert {k: v for k, v in created.items() if k not in ("id", "created")} == {
        "object": "entitlements.feature", "name": "Projects", "lookup_key": "projects",
        "limit": 5, "active": True, "metadata": {"tier": "core"}}
    assert ok(api.get(f"/v1/entitlements/features/{created['id']}")) == created
    unlimited = feature(api, "sso")
    assert unlimited["limit"] is None

    listed = ok(api.get("/v1/entitlements/features", params={"limit": 1}))
    assert listed["has_more"] and [f["id"] for f in listed["data"]] == [unlimited["id"]]
    rest = ok(api.get("/v1/entitlements/features",
                      params={"starting_after": unlimited["id"]}))
    assert [f["id"] for f in rest["data"]] == [created["id"]] and not rest["has_more"]
    by_key = ok(api.get("/v1/entitlements/features", params={"lookup_key": "projects"}))
    assert [f["id"] for f in by_key["data"]] == [created["id"]]

    events = ok(api.get("/v1/events", params={"type": "entitlements.feature.created"}))
    assert [e["data"]["object"]["id"] for e in events["data"]] == [unlimited["id"],
                                                                   created["id"]]


def test_feature_update_renames_relimits_and_archives_with_previous_attributes(
        api: TestClient) -> None:
    f = feature(api, "projects", 5, metadata={"tier": "core", "old": "x"})
    updated = ok(api.post(f"/v1/entitlements/features/{f['id']}", json={
        "name": "Projects (max 10)", "limit": 10, "metadata": {"old": "", "new": "y"}}))
    assert (updated["name"], updated["limit"], updated["metadata"]) == (
        "Projects (max 10)", 10, {"tier": "core", "new": "y"})
    assert updated["lookup_key"] == "projects" and updated["active"] is True

    unlimited = ok(api.post(f"/v1/entitlements/features/{f['id']}", json={"limit": None}))
    assert unlimited["limit"] is None
    archived = ok(api.post(f"/v1/entitlements/features/{f['id']}", json={"active": False}))
    assert archived["active"] is False
    assert ok(api.get("/v1/entitlements/features", params={"archived": "true"}))["data"] \
        == [archived]
    assert ok(api.get("/v1/entitlements/features", params={"archived": "false"}))["data"] == []

    events = list(reversed(ok(api.get("/v1/events", params={
        "type": "entitlements.feature.updated", "object_id": f["id"]}))["data"]))
    assert [e["data"]["previous_attributes"] for e in events] == [
        {"name": "Projects", "limit": 5, "metadata": {"tier": "core", "old": "x"}},
        {"limit": 10}, {"active": True}]
    assert events[-1]["data"]["object"] == archived


# --- product features -------------------------------------------------------------------------

def test_product_features_are_attached_listed_and_detached(api: TestClient,
                                                           catalog: Catalog) -> None:
    product = catalog.pro["product"]
    listed = ok(api.get(f"/v1/products/{product}/features", params={"limit": 100}))
    assert listed["object"] == "list"
    keys = [pf["entitlement_feature"]["lookup_key"] for pf in listed["data"]]
    assert keys == list(reversed(PRO_FEATURES))  # newest first
    sso = next(pf for pf in listed["data"]
               if pf["entitlement_feature"]["lookup_key"] == "sso")
    assert sso["id"].startswith("prodft_") and sso["object"] == "product_feature"
    assert sso["product"] == product
    assert sso["entitlement_feature"] == catalog.features["sso"]

    gone = ok(api.delete(f"/v1/products/{product}/features/{sso['id']}"))
    assert gone == {"id": sso["id"], "object": "product_feature", "deleted": True}
    after = ok(api.get(f"/v1/products/{product}/features", params={"limit": 100}))
    assert sso["id"] not in [pf["id"] for pf in after["data"]]
    assert_error(api.delete(f"/v1/products/{product}/features/{sso['id']}"), 404,
                 "resource_missing", "product_feature")


def test_a_product_feature_is_only_detached_through_its_own_product(
        api: TestClient, catalog: Catalog) -> None:
    pro_features = ok(api.get(f"/v1/products/{catalog.pro['product']}/features"))["data"]
    response = api.delete(f"/v1/products/{catalog.free['product']}/features/"
                          f"{pro_features[0]['id']}")
    assert_error(response, 404, "resource_missing", "product_feature")
    still = ok(api.get(f"/v1/products/{catalog.pro['product']}/features"))["data"]
    assert still[0]["id"] == pro_features[0]["id"]


# --- active entitlements: worked scenarios ------------------------------------------------------

def test_freemium_customer_gets_only_the_free_features(api: TestClient,
                                                       catalog: Catalog) -> None:
    ada = customer(api)
    sub = subscribe(api, ada, catalog.free)
    assert sub["status"] == "active"
    invoice = ok(api.get(f"/v1/invoices/{sub['latest_invoice']}"))
    assert invoice["total"] == 0  # the free plan costs nothing
    assert entitled(api, ada) == FREE_FEATURES


def test_upgrading_to_pro_unlocks_pro_features_at_once(api: TestClient,
                                                       catalog: Catalog) -> None:
    ada = customer(api)
    free = subscribe(api, ada, catalog.free)
    assert entitled(api, ada) == FREE_FEATURES

    subscribe(api, ada, catalog.pro)
    # Both plans at once: the union, each shared feature once.
    assert entitled(api, ada) == {**FREE_FEATURES, **PRO_FEATURES}
    assert ok(api.delete(f"/v1/subscriptions/{free['id']}"))["status"] == "canceled"
    assert entitled(api, ada) == PRO_FEATURES


def test_a_feature_granted_by_two_plans_is_one_entitlement(api: TestClient,
                                                          catalog: Catalog) -> None:
    ada = customer(api)
    subscribe(api, ada, catalog.free)
    subscribe(api, ada, catalog.pro)
    page = ok(api.get("/v1/entitlements/active_entitlements", params={"customer": ada,
                                                                     "limit": 100}))
    dashboards = [e for e in page["data"] if e["lookup_key"] == "dashboard"]
    assert len(dashboards) == 1 and dashboards[0]["limit"] is None
    assert dashboards[0]["feature"] == catalog.features["dashboard"]["id"]
    # projects_3 and projects_50 are two features (lookup keys are unique), so both show.
    limits = [e["limit"] for e in page["data"] if e["lookup_key"].startswith("projects")]
    assert sorted(limits) == [3, 50]


def test_the_largest_limit_wins_and_no_limit_beats_any() -> None:
    grants = [Grant("feat_a", "projects", 3), Grant("feat_a", "projects", 50),
              Grant("feat_a", "projects", 10), Grant("feat_b", "seats", 5),
              Grant("feat_c", "storage_gb", 100), Grant("feat_c", "storage_gb", None),
              Grant("feat_c", "storage_gb", 1000)]
    assert resolve(grants) == [Entitlement("feat_a", "projects", 50),
                               Entitlement("feat_b", "seats", 5),
                               Entitlement("feat_c", "storage_gb", None)]
    assert resolve([Grant("feat_z", "zero", 0)]) == [Entitlement("feat_z", "zero", 0)]
    assert resolve([]) == []
    assert [grants_service(s) for s in ("trialing", "active", "past_due")] == [True] * 3
    assert not any(grants_service(s) for s in ("canceled", "incomplete",
                                               "incomplete_expired", "pending"))


def test_a_changed_limit_applies_to_current_subscribers_immediately(
        api: TestClient, catalog: Catalog) -> None:
    ada = customer(api)
    subscribe(api, ada, catalog.free)
    projects = catalog.features["projects_3"]["id"]
    ok(api.post(f"/v1/entitlements/features/{projects}", json={"limit": 5}))
    assert entitled(api, ada)["projects_3"] == 5
    ok(api.post(f"/v1/entitlements/features/{projects}", json={"limit": None}))
    assert entitled(api, ada)["projects_3"] is None


def test_a_canceled_subscription_grants_nothing(api: TestClient, catalog: Catalog) -> None:
    ada = customer(api)
    sub = subscribe(api, ada, catalog.pro)
    ok(api.delete(f"/v1/subscriptions/{sub['id']}"))
    assert entitled(api, ada) == {}


def test_a_trialing_subscription_grants_its_features(api: TestClient,
                                                     catalog: Catalog) -> None:
    ada = customer(api)
    sub = subscribe(api, ada, catalog.pro, trial_period_days=14)
    assert sub["status"] == "trialing"
    assert entitled(api, ada) == PRO_FEATURES


def test_a_trial_that_ends_unpaid_keeps_features_while_past_due_then_cancel_removes_them(
        api: TestClient, catalog: Catalog) -> None:
    clock = ok(api.post("/v1/test_clocks", json={"frozen_time": ts(2026, 3, 1)}))
    ada = customer(api, test_clock=clock["id"])
    sub = subscribe(api, ada, catalog.pro, trial_period_days=7,
                    collection_method="send_invoice", days_until_due=3)
    assert entitled(api, ada) == PRO_FEATURES
    ok(api.post(f"/v1/test_clocks/{clock['id']}/advance",
                json={"frozen_time": ts(2026, 3, 12)}))  # trial over, invoice overdue
    assert ok(api.get(f"/v1/subscriptions/{sub['id']}"))["status"] == "past_due"
    assert entitled(api, ada) == PRO_FEATURES
    ok(api.delete(f"/v1/subscriptions/{sub['id']}"))
    assert entitled(api, ada) == {}


def test_incomplete_and_pending_subscriptions_grant_nothing(api: TestClient,
                                                            catalog: Catalog) -> None:
    unpaid = customer(api)
    sub = subscribe(api, unpaid, catalog.pro, payment_behavior="default_incomplete")
    assert sub["status"] == "incomplete"
    assert entitled(api, unpaid) == {}

    later = customer(api)
    sub = subscribe(api, later, catalog.pro, start_date=ts(2026, 2, 1))
    assert sub["status"] == "pending"
    assert entitled(api, later) == {}


def test_an_archived_feature_is_not_granted_until_reactivated(api: TestClient,
                                                              catalog: Catalog) -> None:
    ada = customer(api)
    subscribe(api, ada, catalog.pro)
    sso = catalog.features["sso"]["id"]
    ok(api.post(f"/v1/entitlements/features/{sso}", json={"active": False}))
    assert entitled(api, ada) == {k: v for k, v in PRO_FEATURES.items() if k != "sso"}
    # Archived, it can be attached nowhere new; it stays listed on the Pro product.
    assert_error(api.post(f"/v1/products/{catalog.free['product']}/features",
                          json={"entitlement_feature": sso}),
                 400, "resource_invalid_state", "entitlement_feature")
    on_pro = ok(api.get(f"/v1/products/{catalog.pro['product']}/features",
                        params={"limit": 100}))["data"]
    assert sso in [pf["entitlement_feature"]["id"] for pf in on_pro]
    ok(api.post(f"/v1/entitlements/features/{sso}", json={"active": True}))
    assert entitled(api, ada) == PRO_FEATURES


def test_detaching_a_feature_takes_it_away_at_once(api: TestClient, catalog: Catalog) -> None:
    ada = customer(api)
    subscribe(api, ada, catalog.pro)
    on_pro = ok(api.get(f"/v1/products/{catalog.pro['product']}/features",
                        params={"limit": 100}))["data"]
    sso = next(pf for pf in on_pro if pf["entitlement_feature"]["lookup_key"] == "sso")
    ok(api.delete(f"/v1/products/{catalog.pro['product']}/features/{sso['id']}"))
    assert "sso" not in entitled(api, ada)


def test_active_entitlements_paginate_with_stable_cursors(api: TestClient,
                                                          catalog: Catalog) -> None:
    ada = customer(api)
    subscribe(api, ada, catalog.pro)
    first = ok(api.get("/v1/entitlements/active_entitlements",
                       params={"customer": ada, "limit": 2}))
    assert first["has_more"] and len(first["data"]) == 2
    seen = list(first["data"])
    page = first
    while page["has_more"]:
        page = ok(api.get("/v1/entitlements/active_entitlements", params={
            "customer": ada, "limit": 2, "starting_after": page["data"][-1]["id"]}))
        seen.extend(page["data"])
    assert [e["lookup_key"] for e in seen] == list(reversed(PRO_FEATURES))  # newest first
    assert len({e["id"] for e in seen}) == 5
    back = ok(api.get("/v1/entitlements/active_entitlements", params={
        "customer": ada, "limit": 2, "ending_before": seen[-1]["id"]}))
    assert back["data"] == seen[-3:-1] and back["has_more"]
    again = ok(api.get("/v1/entitlements/active_entitlements",
                       params={"customer": ada, "limit": 2}))
    assert again["data"] == first["data"]  # ids are stable between requests


# --- tenants ---------------------------------------------------------------------------------

def test_another_organization_can_neither_see_nor_attach_our_features(
        api: TestClient, catalog: Catalog, other_org: organizations.NewOrganization) -> None:
    theirs = {"Authorization": f"Bearer {other_org.secret_key}"}
    ada = customer(api)
    subscribe(api, ada, catalog.pro)
    sso = catalog.features["sso"]["id"]
    pro_product = catalog.pro["product"]
    our_pf = ok(api.get(f"/v1/products/{pro_product}/features"))["data"][0]["id"]

    assert ok(api.get("/v1/entitlements/features", headers=theirs))["data"] == []
    assert_error(api.get(f"/v1/entitlements/features/{sso}", headers=theirs), 404,
                 "resource_missing", "id")
    assert_error(api.post(f"/v1/entitlements/features/{sso}", json={"active": False},
                          headers=theirs), 404, "resource_missing", "id")
    assert_error(api.get(f"/v1/products/{pro_product}/features", headers=theirs), 404,
                 "resource_missing", "id")
    assert_error(api.post(f"/v1/products/{pro_product}/features",
                          json={"entitlement_feature": sso}, headers=theirs),
                 404, "resource_missing", "id")
    assert_error(api.delete(f"/v1/products/{pro_product}/features/{our_pf}",
                            headers=theirs), 404, "resource_missing", "id")
    assert_error(api.get("/v1/entitlements/active_entitlements", params={"customer": ada},
                         headers=theirs), 404, "resource_missing", "customer")

    # Their own product cannot take our feature, and their lookup keys are their own.
    their_price = ok(api.post("/v1/prices", headers=theirs, json={
        "product_data": {"name": "Their Pro"}, "currency": "eur", "unit_amount": 100,
        "recurring": {"interval": "month"}}))
    assert_error(api.post(f"/v1/products/{their_price['product']}/features",
                          json={"entitlement_feature": sso}, headers=theirs),
                 404, "resource_missing", "entitlement_feature")
    their_sso = ok(api.post("/v1/entitlements/features", headers=theirs,
                            json={"name": "SSO", "lookup_key": "sso"}))
    # ... and ours cannot take theirs.
    assert_error(api.post(f"/v1/products/{pro_product}/features",
                          json={"entitlement_feature": their_sso["id"]}),
                 404, "resource_missing", "entitlement_feature")

    assert ok(api.get(f"/v1/entitlements/features/{sso}"))["active"] is True
    assert entitled(api, ada) == PRO_FEATURES
    assert [f["id"] for f in ok(api.get("/v1/entitlements/features",
                                        headers=theirs))["data"]] == [their_sso["id"]]


# --- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "code", "param"), [
    ({"lookup_key": "projects"}, "parameter_missing", "name"),
    ({"name": "Projects"}, "parameter_missing", "lookup_key"),
    ({"name": "   ", "lookup_key": "projects"}, "parameter_invalid", "name"),
    ({"name": "Projects", "lookup_key": ""}, "parameter_invalid", "lookup_key"),
    ({"name": "Projects", "lookup_key": " projects"}, "parameter_invalid", "lookup_key"),
    ({"name": "Projects", "lookup_key": "k" * 201}, "parameter_invalid", "lookup_key"),
    ({"name": "Projects", "lookup_key": "projects", "limit": -1}, "parameter_invalid",
     "limit"),
    ({"name": "Projects", "lookup_key": "projects", "limit": "5"}, "parameter_invalid",
     "limit"),
    ({"name": "Projects", "lookup_key": "projects", "limit": 2.5}, "parameter_invalid",
     "limit"),
    ({"name": "Projects", "lookup_key": "projects", "limit": 10**20}, "parameter_invalid",
     "limit"),
    ({"name": "Projects", "lookup_key": "projects", "metadata": {"a": 1}},
     "parameter_invalid", "metadata[a]"),
    ({"name": "Projects", "lookup_key": "projects", "active": False}, "parameter_unknown",
     "active"),
], ids=["missing-name", "missing-lookup-key", "blank-name", "empty-lookup-key",
        "padded-lookup-key", "long-lookup-key", "negative-limit", "text-limit", "float-limit",
        "huge-limit", "numeric-metadata", "unknown-field"])
def test_bad_feature_input_is_a_400_naming_the_parameter(
        api: TestClient, body: dict[str, Any], code: str, param: str) -> None:
    assert_error(api.post("/v1/entitlements/features", json=body), 400, code, param)
    assert ok(api.get("/v1/entitlements/features"))["data"] == []


def test_a_duplicate_lookup_key_is_refused(api: TestClient) -> None:
    first = feature(api, "projects", 5)
    assert_error(api.post("/v1/entitlements/features",
                          json={"name": "Projects again", "lookup_key": "projects"}),
                 400, "resource_already_exists", "lookup_key")
    assert [f["id"] for f in ok(api.get("/v1/entitlements/features"))["data"]] \
        == [first["id"]]


def test_bad_updates_change_nothing(api: TestClient) -> None:
    f = feature(api, "projects", 5)
    path = f"/v1/entitlements/features/{f['id']}"
    assert_error(api.post(path, json={"limit": -3}), 400, "parameter_invalid", "limit")
    assert_error(api.post(path, json={"name": " "}), 400, "parameter_invalid", "name")
    assert_error(api.post(path, json={"lookup_key": "other"}), 400, "parameter_unknown",
                 "lookup_key")
    assert_error(api.post(path, json={"active": "no"}), 400, "parameter_invalid", "active")
    assert_error(api.post("/v1/entitlements/features/feat_nope", json={"limit": 1}), 404,
                 "resource_missing", "id")
    assert ok(api.get(path)) == f


def test_attaching_needs_a_known_product_and_feature_once(api: TestClient,
                                                          catalog: Catalog) -> None:
    sso = catalog.features["sso"]["id"]
    product = catalog.pro["product"]
    assert_error(api.post("/v1/products/prod_nope/features", json={"entitlement_feature": sso}),
                 404, "resource_missing", "id")
    assert_error(api.post(f"/v1/products/{product}/features",
                          json={"entitlement_feature": "feat_nope"}),
                 404, "resource_missing", "entitlement_feature")
    assert_error(api.post(f"/v1/products/{product}/features", json={}), 400,
                 "parameter_missing", "entitlement_feature")
    assert_error(api.post(f"/v1/products/{product}/features",
                          json={"entitlement_feature": sso}),
                 400, "resource_already_exists", "entitlement_feature")
    assert_error(api.get("/v1/products/prod_nope/features"), 404, "resource_missing", "id")
    assert_error(api.delete("/v1/products/prod_nope/features/prodft_nope"), 404,
                 "resource_missing", "id")
    assert_error(api.delete(f"/v1/products/{product}/features/prodft_nope"), 404,
                 "resource_missing", "product_feature")


def test_active_entitlements_need_a_known_customer(api: TestClient) -> None:
    assert_error(api.get("/v1/entitlements/active_entitlements"), 400, "parameter_missing",
                 "customer")
    assert_error(api.get("/v1/entitlements/active_entitlements",
                         params={"customer": "cus_nope"}), 404, "resource_missing",
                 "customer")
    ada = customer(api)
    assert entitled(api, ada) == {}  # no subscription, no features
    assert_error(api.get("/v1/entitlements/active_entitlements",
                         params={"customer": ada, "limit": 0}), 400, "parameter_invalid",
                 "limit")
    assert_error(api.get("/v1/entitlements/active_entitlements",
                         params={"customer": ada, "starting_after": "ent_a",
                                 "ending_before": "ent_b"}),
                 400, "parameter_invalid", "ending_before")
