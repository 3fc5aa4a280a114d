"""Verified API keys are cached in the process (services/api_keys.py): a request costs no
database read for its key, and yet revoking or rolling a key takes effect at once, in this
process and (PostgreSQL) in the others, and the key's last use is still noted."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from api.helpers import assert_error, auth, ok
from conftest import ON_POSTGRES
from kassa.config import Kassa
from kassa.core.clock import FrozenClock
from kassa.services import api_keys, organizations


def new_key(api: TestClient, **body: Any) -> dict[str, Any]:
    return ok(api.post("/v1/api_keys", json=body))  # type: ignore[no-any-return]


def key_reads(kassa: Kassa) -> list[str]:
    """The statements that read API keys from now on."""
    seen: list[str] = []

    @event.listens_for(kassa.engine, "before_cursor_execute")
    def _note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM api_keys" in statement:
            seen.append(statement)

    return seen


def cached(kassa: Kassa) -> None:
    """Wait until the process's cache answers (on PostgreSQL once it hears changes)."""
    cache = api_keys._cache_of(kassa.session_factory)
    deadline = time.monotonic() + 10
    while not cache._listening and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cache._listening


def test_a_verified_key_is_not_read_again_for_every_request(api: TestClient,
                                                            kassa: Kassa) -> None:
    secret = new_key(api)["secret"]
    cached(kassa)
    ok(api.get("/v1/customers", headers=auth(secret)))
    reads = key_reads(kassa)
    for _ in range(5):
        ok(api.get("/v1/customers", headers=auth(secret)))
    assert reads == []


def test_a_revoked_key_stops_working_at_once_despite_the_cache(api: TestClient,
                                                               kassa: Kassa) -> None:
    key = new_key(api)
    cached(kassa)
    for _ in range(3):
        ok(api.get("/v1/customers", headers=auth(key["secret"])))
    ok(api.delete(f"/v1/api_keys/{key['id']}"))
    assert_error(api.get("/v1/customers", headers=auth(key["secret"])), 401)
    assert_error(api.post("/v1/customers", json={"name": "X"}, headers=auth(key["secret"])),
                 401)


def test_a_rolled_key_stops_at_its_new_expiry_despite_the_cache(
        api: TestClient, kassa: Kassa, clock: FrozenClock) -> None:
    old = new_key(api)
    cached(kassa)
    ok(api.get("/v1/customers", headers=auth(old["secret"])))  # cached without an expiry
    ok(api.post(f"/v1/api_keys/{old['id']}/roll", json={"expires_in": 600}))
    ok(api.get("/v1/customers", headers=auth(old["secret"])))
    clock.move_to(clock.now() + timedelta(seconds=601))
    assert_error(api.get("/v1/customers", headers=auth(old["secret"])), 401)

    other = new_key(api)
    ok(api.get("/v1/customers", headers=auth(other["secret"])))
    ok(api.post(f"/v1/api_keys/{other['id']}/roll", json={"expires_in": 0}))
    assert_error(api.get("/v1/customers", headers=auth(other["secret"])), 401)


def test_the_last_use_is_still_noted_to_the_minute(api: TestClient, kassa: Kassa,
                                                   clock: FrozenClock) -> None:
    key = new_key(api)
    cached(kassa)
    ok(api.get("/v1/customers", headers=auth(key["secret"])))
    first = next(k for k in ok(api.get("/v1/api_keys"))["data"] if k["id"] == key["id"])
    clock.move_to(clock.now() + timedelta(minutes=2))
    ok(api.get("/v1/customers", headers=auth(key["secret"])))
    later = next(k for k in ok(api.get("/v1/api_keys"))["data"] if k["id"] == key["id"])
    assert later["last_used_at"] - first["last_used_at"] == 120


@pytest.mark.postgres_only
def test_a_key_revoked_in_another_process_stops_working_here(
        api: TestClient, kassa: Kassa, org: organizations.NewOrganization,
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert ON_POSTGRES
    key = new_key(api)
    cached(kassa)
    ok(api.get("/v1/customers", headers=auth(key["secret"])))
    # Revoked as another process would: this process's cache hears of it only through
    # PostgreSQL's notification.
    with monkeypatch.context() as patch:
        patch.setattr(api_keys, "_forget", lambda session, row: None)
        with kassa.uow() as uow:
            api_keys.revoke_key(uow, org.organization.id, key["id"])
    deadline = time.monotonic() + 5
    while api.get("/v1/customers", headers=auth(key["secret"])).status_code == 200:
        assert time.monotonic() < deadline, "the revocation was not heard"
        time.sleep(0.01)
    assert_error(api.get("/v1/customers", headers=auth(key["secret"])), 401)

