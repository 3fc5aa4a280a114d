"""API keys: scopes (full, read-only, restricted to named resources) enforced before anything
runs, rolling with an overlap, revoking, last use, publishable keys kept out of the API, and
the rate limit per key (429 with Retry-After)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from api.helpers import assert_error, auth, count, create_customer, ok
from kassa.config import Kassa
from kassa.core.clock import FrozenClock, to_unix
from kassa.core.ratelimit import RateLimiter
from kassa.services import api_keys


def new_key(api: TestClient, **body: Any) -> dict[str, Any]:
    return ok(api.post("/v1/api_keys", json=body))  # type: ignore[no-any-return]


def test_a_read_only_key_reads_and_changes_nothing(api: TestClient) -> None:
    customer = create_customer(api)
    key = new_key(api, name="Reporting", scope="read_only")
    assert key["secret"].startswith("sk_live_") and key["scope"]["mode"] == "read_only"
    reader = auth(key["secret"])
    assert ok(api.get(f"/v1/customers/{customer['id']}", headers=reader))["id"] == \
        customer["id"]
    before = count(api, "/v1/customers")
    error = assert_error(api.post("/v1/customers", json={"name": "X"}, headers=reader), 403,
                         code="api_key_scope", type_="permission_error")
    assert "customers" in error["message"]
    assert count(api, "/v1/customers") == before
    assert_error(api.get("/v1/api_keys", headers=reader), 403)  # keys need a full key


def test_a_restricted_key_reaches_only_its_resources(api: TestClient) -> None:
    key = new_key(api, scope={"restricted": {"customers": "write", "invoices": "read"}})
    limited = auth(key["secret"])
    made = ok(api.post("/v1/customers", json={"name": "Via restricted"}, headers=limited))
    ok(api.get("/v1/invoices", headers=limited))
    assert_error(api.post("/v1/products", json={"name": "P"}, headers=limited), 403)
    assert_error(api.get("/v1/products", headers=limited), 403)
    assert_error(api.post("/v1/invoices/in_x/void", headers=limited), 403)
    entry = ok(api.get("/v1/audit_log", params={"resource": made["id"]}))["data"][0]
    assert entry["actor"]["id"] == key["id"]  # the audit log names the restricted key
    for scope, param in [("everything", "scope"), ({"restricted": {"rockets": "read"}},
                                                  "scope[restricted][rockets]"),
                         ({"restricted": {"customers": "admin"}},
                          "scope[restricted][customers]"), ({"restricted": {}}, "scope")]:
        assert_error(api.post("/v1/api_keys", json={"scope": scope}), 400, param=param)


def test_rolling_a_key_overlaps_then_the_old_one_stops(api: TestClient, kassa: Kassa,
                                                       clock: FrozenClock) -> None:
    old = new_key(api, name="Deploy", scope="read_only")
    rolled = ok(api.post(f"/v1/api_keys/{old['id']}/roll", json={"expires_in": 3600}))
    assert rolled["secret"] != old["secret"] and rolled["scope"] == old["scope"]
    assert rolled["name"] == "Deploy"
    ok(api.get("/v1/customers", headers=auth(old["secret"])))
    ok(api.get("/v1/customers", headers=auth(rolled["secret"])))
    clock.move_to(clock.now() + timedelta(hours=1, seconds=1))
    assert_error(api.get("/v1/customers", headers=auth(old["secret"])), 401)
    ok(api.get("/v1/customers", headers=auth(rolled["secret"])))
    listed = {k["id"]: k for k in ok(api.get("/v1/api_keys"))["data"]}
    assert listed[old["id"]]["expires_at"] == to_unix(clock.now()) - 1
    assert listed[rolled["id"]]["last_used_at"] is not None
    assert "secret" not in listed[rolled["id"]]
    ok(api.delete(f"/v1/api_keys/{rolled['id']}"))
    assert_error(api.get("/v1/customers", headers=auth(rolled["secret"])), 401)
    assert_error(api.post(f"/v1/api_keys/{rolled['id']}/roll"), 400)


def test_a_publishable_key_opens_no_api_endpoint(api: TestClient) -> None:
    key = new_key(api, type="publishable")
    assert key["secret"].startswith("pk_live_") and key["scope"] is None
    error = assert_error(api.get("/v1/customers", headers=auth(key["secret"])), 401)
    assert "publishable" in error["message"]
    assert_error(api.post("/v1/api_keys", json={"type": "publishable", "scope": "read_only"}),
                 400, param="scope")


def test_every_resource_of_the_api_can_be_named_in_a_scope(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    named = {api_keys.resource_of(path) for path in paths} - {None}
    assert named <= set(api_keys.RESOURCES), named - set(api_keys.RESOURCES)


def test_too_many_requests_get_429_with_retry_after(api: TestClient, kassa: Kassa) -> None:
    kassa.rate_limiter = RateLimiter(5)  # type: ignore[misc] (bursts of 10)
    key = new_key(api)
    statuses = [api.get("/v1/customers", headers=auth(key["secret"])) for _ in range(14)]
    codes = [r.status_code for r in statuses]
    assert codes[:10] == [200] * 10 and 429 in codes[10:]
    limited = next(r for r in statuses if r.status_code == 429)
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"]["type"] == "rate_limit_error"
    ok(api.get("/v1/customers"))  # another key has its own bucket


def test_the_bucket_refills_at_the_rate() -> None:
    limiter = RateLimiter(2)  # bursts of 4
    assert [limiter.take("k", now=0.0) for _ in range(4)] == [0.0] * 4
    assert limiter.take("k", now=0.0) == 0.5
    assert limiter.take("k", now=0.5) == 0.0
