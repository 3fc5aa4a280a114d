"""The audit log: a mutation through the API is written with its actor (the API key), its
request (id, method, path, address) and every field it changed, before and after; a refused
request, a read and an idempotent replay write nothing; tenants see only their own."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api.helpers import assert_error, auth, create_customer, ok
from kassa.config import Kassa
from kassa.services.organizations import NewOrganization
from kassa.store import models as m


def entries(api: TestClient, **params: Any) -> list[dict[str, Any]]:
    return ok(api.get("/v1/audit_log", params=params))["data"]  # type: ignore[no-any-return]


def key_id(kassa: Kassa, org: NewOrganization) -> str:
    with kassa.uow() as uow:
        return str(uow.session.query(m.ApiKey.id).filter_by(
            org_id=org.organization.id).scalar())


def test_an_update_is_logged_with_its_actor_request_and_changed_fields(
        api: TestClient, kassa: Kassa, org: NewOrganization) -> None:
    customer = create_customer(api, name="Ada", email="ada@example.com")
    response = api.post(f"/v1/customers/{customer['id']}",
                        json={"name": "Ada Lovelace", "metadata": {"tier": "gold"}})
    assert response.status_code == 200
    request_id = response.headers["request-id"]

    [update, create] = entries(api)[:2]
    assert update["actor"] == {"type": "api_key", "id": key_id(kassa, org)}
    assert update["request"] == {"id": request_id, "method": "POST",
                                 "path": f"/v1/customers/{customer['id']}", "status": 200,
                                 "ip": "testclient"}
    assert update["resource"] == customer["id"]
    [change] = update["changes"]
    assert (change["type"], change["object"], change["object_type"]) == (
        "customer.updated", customer["id"], "customer")
    assert change["changes"]["name"] == {"before": "Ada", "after": "Ada Lovelace"}
    assert change["changes"]["metadata"] == {"before": {}, "after": {"tier": "gold"}}
    assert "email" not in change["changes"]
    assert create["changes"][0]["type"] == "customer.created"
    assert [e["id"] for e in entries(api, resource=customer["id"])] == [update["id"],
                                                                         create["id"]]


def test_refused_requests_reads_and_replays_write_nothing(api: TestClient) -> None:
    customer = create_customer(api)
    before = len(entries(api, limit=100))
    assert_error(api.post("/v1/customers", json={"email": "not an address"}), 400)
    ok(api.get(f"/v1/customers/{customer['id']}"))
    headers = {"Idempotency-Key": "audit-once"}
    first = api.post("/v1/customers", json={"name": "Once"}, headers=headers)
    again = api.post("/v1/customers", json={"name": "Once"}, headers=headers)
    assert again.headers.get("idempotent-replayed") == "true"
    assert first.json() == again.json()
    assert len(entries(api, limit=100)) == before + 1
    # the idempotency layer writes the entry with the answer it keeps: the same entry
    [entry] = entries(api, resource=first.json()["id"])
    assert entry["request"]["id"] == first.headers["request-id"]
    assert entry["request"]["status"] == 200
    assert [c["type"] for c in entry["changes"]] == ["customer.created"]
    # without a valid key nothing is done and nothing is logged
    assert api.post("/v1/customers", json={"name": "X"},
                    headers={"Authorization": "Bearer sk_nope"}).status_code == 401
    assert len(entries(api, limit=100)) == before + 1


def test_every_request_has_an_id_and_tenants_see_only_their_own_log(
        api: TestClient, other_org: NewOrganization) -> None:
    create_customer(api)
    key = auth(other_org.secret_key)
    ok(api.post("/v1/customers", json={"name": "Theirs"}, headers=key))
    ids = {api.get("/v1/customers").headers["request-id"] for _ in range(3)}
    assert len(ids) == 3 and all(i.startswith("req_") for i in ids)
    mine, theirs = entries(api), ok(api.get("/v1/audit_log", headers=key))["data"]
    assert {e["id"] for e in mine}.isdisjoint({e["id"] for e in theirs})
    assert [e["changes"][0]["type"] for e in theirs] == ["customer.created"]
    assert_error(api.get("/v1/audit_log", params={"limit": 0}), 400)


def test_events_name_who_caused_them(api: TestClient) -> None:
    customer = create_customer(api)
    [event] = ok(api.get("/v1/events", params={"type": "customer.created"}))["data"][:1]
    assert event["data"]["object"]["id"] == customer["id"]
    [entry] = entries(api, resource=customer["id"])
    assert entry["changes"][0]["event"] == event["id"]
