"""Webhooks end to end: endpoints through the API, events routed and POSTed to a real HTTP
receiver on loopback, signed (`Kassa-Signature`, verified with core/signatures.verify as a
receiver would), retried with backoff through a day of downtime and then delivered exactly as
signed, secret rotation with an overlap, resend, a slow endpoint that holds up no other, and
the delivery log."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from receiver import Receiver

from api.helpers import assert_error, auth, create_customer, ok
from kassa.config import Kassa
from kassa.core import signatures
from kassa.core.clock import FrozenClock, to_unix
from kassa.core.errors import InvalidRequest
from kassa.jobs.webhooks import deliver_webhooks
from kassa.services import webhooks
from kassa.services.organizations import NewOrganization
from kassa.store import models as m


def endpoint(api: TestClient, url: str, events: list[str] | None = None) -> dict[str, Any]:
    return ok(api.post("/v1/webhook_endpoints",  # type: ignore[no-any-return]
                       json={"url": url, "enabled_events": events or ["*"]}))


def verified(received: Any, secret: str, now: int) -> dict[str, Any]:
    """The event in a received POST, after checking its signature as a receiver does."""
    signatures.verify(received.body, received.headers["kassa-signature"], secret.encode(), now)
    return json.loads(received.body)  # type: ignore[no-any-return]


def test_an_event_arrives_signed_with_the_endpoints_secret(
        api: TestClient, kassa: Kassa, receiver: Receiver, clock: FrozenClock) -> None:
    created = endpoint(api, receiver.url, ["customer.*"])
    secret = created["secret"]
    assert secret.startswith("whsec_") and "secret" not in ok(
        api.get(f"/v1/webhook_endpoints/{created['id']}"))
    customer = create_customer(api, name="Ada")
    ok(api.post("/v1/products", json={"name": "Not wanted"}))  # product.created: filtered

    counts = deliver_webhooks(kassa)

    assert counts.delivered == 1
    [got] = receiver.received
    event = verified(got, secret, to_unix(clock.now()))
    assert (event["type"], event["data"]["object"]["id"]) == ("customer.created",
                                                             customer["id"])
    assert event == ok(api.get(f"/v1/events/{event['id']}"))
    assert got.headers["kassa-event-id"] == event["id"]
    # a forged or tampered body does not verify
    with pytest.raises(signatures.SignatureInvalid):
        signatures.verify(got.body.replace(b"Ada", b"Eve"), got.headers["kassa-signature"],
                          secret.encode(), to_unix(clock.now()))
    with pytest.raises(signatures.SignatureInvalid):
        verified(got, "whsec_wrong", to_unix(clock.now()))
    with pytest.raises(signatures.SignatureInvalid):  # replayed an hour later
        verified(got, secret, to_unix(clock.now()) + 3600)
    # nothing more to do: delivered once
    assert deliver_webhooks(kassa).delivered == 0 and len(receiver.received) == 1


def test_a_receiver_down_for_a_day_gets_every_event_afterwards_exactly_as_signed(
        api: TestClient, kassa: Kassa, receiver: Receiver, clock: FrozenClock) -> None:
    secret = endpoint(api, receiver.url)["secret"]
    receiver.status = 503
    made = [create_customer(api, name=f"Customer {n}")["id"] for n in range(5)]
    start = clock.now()

    def run_until(moment: Any) -> None:
        while True:
            deliver_webhooks(kassa)
            with kassa.uow() as uow:
                due = uow.session.query(m.WebhookDelivery.next_attempt_at).filter(
                    m.WebhookDelivery.status == "pending").order_by(
                    m.WebhookDelivery.next_attempt_at).first()
            if due is None or due[0] > moment:
                return
            clock.move_to(max(due[0], clock.now()))

    run_until(start + timedelta(days=1))
    failures = len(receiver.received)
    assert failures >= 5 * 7 and receiver.ok() == []  # retried all day long, backing off
    receiver.status = 200
    clock.move_to(start + timedelta(days=1))
    run_until(start + timedelta(days=3))

    delivered = receiver.ok()
    events = [verified(got, secret, to_unix(clock.now())) for got in delivered]
    assert sorted(e["data"]["object"]["id"] for e in events) == sorted(made)
    assert len(delivered) == 5  # each exactly once after the outage
    first_bodies = {json.loads(r.body)["id"]: r.body for r in receiver.received[:5]}
    assert all(got.body == first_bodies[json.loads(got.body)["id"]] for got in delivered)
    deliveries = ok(api.get("/v1/webhook_deliveries", params={"limit": 100}))["data"]
    assert {d["status"] for d in deliveries} == {"succeeded"}
    assert all(d["attempts"] == deliveries[0]["attempts"] > 7 for d in deliveries)
    log = ok(api.get(f"/v1/webhook_endpoints/{deliveries[0]['webhook_endpoint']}/attempts",
                     params={"limit": 100}))["data"]
    codes = [row["status_code"] for row in log]
    assert codes.count(200) == 5 and codes.count(503) >= 35
    assert all(row["duration_ms"] >= 0 for row in log)


def test_after_three_days_a_delivery_fails_and_can_be_resent(
        api: TestClient, kassa: Kassa, receiver: Receiver, clock: FrozenClock) -> None:
    endpoint(api, receiver.url)
    receiver.status = 500
    create_customer(api)
    for _ in range(12):
        deliver_webhooks(kassa)
        clock.move_to(clock.now() + timedelta(days=1))
    [delivery] = ok(api.get("/v1/webhook_deliveries"))["data"]
    assert (delivery["status"], delivery["attempts"], delivery["next_attempt_at"]) == (
        "failed", 10, None)
    receiver.status = 200
    resent = ok(api.post(f"/v1/events/{delivery['event']}/resend"))["data"]
    assert [d["status"] for d in resent] == ["pending"]
    assert deliver_webhooks(kassa).delivered == 1
    assert ok(api.get("/v1/webhook_deliveries"))["data"][0]["status"] == "succeeded"


def test_a_rotated_secret_signs_alongside_the_old_one_until_the_overlap_ends(
        api: TestClient, kassa: Kassa, receiver: Receiver, clock: FrozenClock) -> None:
    created = endpoint(api, receiver.url)
    rotated = ok(api.post(f"/v1/webhook_endpoints/{created['id']}/rotate_secret",
                          json={"expires_in": 3600}))
    assert rotated["secret"] != created["secret"]
    create_customer(api)
    deliver_webhooks(kassa)
    [got] = receiver.received
    now = to_unix(clock.now())
    assert got.headers["kassa-signature"].count("v1=") == 2
    verified(got, created["secret"], now)
    verified(got, rotated["secret"], now)

    clock.move_to(clock.now() + timedelta(hours=2))
    create_customer(api)
    deliver_webhooks(kassa)
    later = receiver.received[-1]
    assert later.headers["kassa-signature"].count("v1=") == 1
    verified(later, rotated["secret"], to_unix(clock.now()))
    with pytest.raises(signatures.SignatureInvalid):
        verified(later, created["secret"], to_unix(clock.now()))
    assert_error(api.post(f"/v1/webhook_endpoints/{created['id']}/rotate_secret",
                          json={"expires_in": 10**7}), 400, param="expires_in")


def test_a_slow_endpoint_holds_up_no_other(
        api: TestClient, kassa: Kassa, receiver: Receiver, second_receiver: Receiver,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhooks, "TIMEOUT_SECONDS", 0.3)
    receiver.delay = 1.0  # answers too late: a timeout
    endpoint(api, receiver.url)
    endpoint(api, second_receiver.url)
    for n in range(3):
        create_customer(api, name=f"C{n}")

    counts = deliver_webhooks(kassa)

    assert len(second_receiver.ok()) == 3
    assert counts.delivered == 3 and counts.retrying == 3
    slow = ok(api.get("/v1/webhook_deliveries", params={"status": "pending"}))["data"]
    assert len(slow) == 3 and all("timed out" in (d["last_error"] or "") for d in slow)


def test_disabled_endpoints_get_nothing_and_bad_endpoints_are_refused(
        api: TestClient, kassa: Kassa, receiver: Receiver) -> None:
    created = endpoint(api, receiver.url)
    ok(api.post(f"/v1/webhook_endpoints/{created['id']}", json={"disabled": True}))
    create_customer(api)
    deliver_webhooks(kassa)
    assert receiver.received == []
    before = len(ok(api.get("/v1/webhook_endpoints"))["data"])
    for body, param in [
        ({"url": "ftp://example.com/x", "enabled_events": ["*"]}, "url"),
        ({"url": "https://user:pw@example.com/x", "enabled_events": ["*"]}, "url"),
        ({"url": "https://example.com/x", "enabled_events": []}, "enabled_events"),
        ({"url": "https://example.com/x", "enabled_events": ["Invoice Paid"]},
         "enabled_events[0]"),
        ({"url": "https://example.com/x"}, "enabled_events"),
    ]:
        assert_error(api.post("/v1/webhook_endpoints", json=body), 400, param=param)
    assert len(ok(api.get("/v1/webhook_endpoints"))["data"]) == before


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/x", "http://localhost/x", "http://10.0.0.5/x", "http://[::1]/x",
    "http://169.254.169.254/latest/meta-data", "http://db.internal/x"])
def test_production_mode_refuses_addresses_inside_the_network(url: str) -> None:
    with pytest.raises(InvalidRequest):
        webhooks.check_url(url, allow_private=False)
    assert webhooks.check_url(url, allow_private=True) == url


def test_production_mode_checks_what_a_name_resolves_to_before_posting() -> None:
    with pytest.raises(OSError):
        webhooks.public_only("http://localhost:9/x")


def test_another_organizations_endpoints_and_events_are_not_there(
        api: TestClient, receiver: Receiver, other_org: NewOrganization) -> None:
    key = auth(other_org.secret_key)
    theirs = ok(api.post("/v1/webhook_endpoints", json={"url": receiver.url,
                                                        "enabled_events": ["*"]},
                         headers=key))
    their_customer = ok(api.post("/v1/customers", json={"name": "Z"}, headers=key))
    [their_event] = ok(api.get("/v1/events", headers=key))["data"][:1]
    assert their_event["data"]["object"]["id"] == their_customer["id"]
    for call in (api.get(f"/v1/webhook_endpoints/{theirs['id']}"),
                 api.post(f"/v1/webhook_endpoints/{theirs['id']}", json={"disabled": True}),
                 api.delete(f"/v1/webhook_endpoints/{theirs['id']}"),
                 api.post(f"/v1/webhook_endpoints/{theirs['id']}/rotate_secret"),
                 api.get(f"/v1/webhook_endpoints/{theirs['id']}/attempts"),
                 api.post(f"/v1/events/{their_event['id']}/resend")):
        assert_error(call, 404)
    assert ok(api.get("/v1/webhook_endpoints"))["data"] == []
    mine = endpoint(api, receiver.url)
    assert_error(api.post(f"/v1/events/{their_event['id']}/resend",
                          json={"webhook_endpoint": mine["id"]}), 404)
