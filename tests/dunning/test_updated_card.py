"""A card the gateway updated (a card updater's new expiry: Stripe's
`payment_method.automatically_updated`) is tried again at once on the invoice in dunning, and
its new expiry is what Kassa checks before charging."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from fastapi.testclient import TestClient

from api.helpers import create_clock, create_customer, create_price, ok, subscribe, ts
from kassa.adapters.gateways.base import GatewayEvent, MethodDetails
from kassa.config import Kassa
from kassa.core.clock import from_unix
from kassa.services import collection, gateway_events
from kassa.store import models as m


class UpdatingGateway:
    """Answers every webhook with one `payment_method.updated` event for `method_ref`."""

    def __init__(self, method_ref: str, details: MethodDetails) -> None:
        self.event = GatewayEvent(id="evt_updater_1", type="payment_method.updated",
                                  method_ref=method_ref, method=details)

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str],
                      now: datetime) -> list[GatewayEvent]:
        return [self.event]


def test_an_updated_card_is_retried_at_once_with_its_new_expiry(
        api: TestClient, kassa: Kassa) -> None:
    clock = create_clock(api, ts(2026, 3, 2, 8))
    customer = create_customer(api, test_clock=clock["id"])
    method = ok(api.post("/v1/payment_methods", json={"customer": customer["id"],
                                                      "token": "pm_card_visa"}))
    with kassa.uow() as uow:  # the card on file ran out in February
        row = uow.session.get(m.PaymentMethod, method["id"])
        assert row is not None
        row.exp_month, row.exp_year = 2, 2026
        ref, org_id = row.gateway_ref, row.org_id
        uow.commit()
    invoice = subscribe(api, customer["id"], create_price(api)["id"])["latest_invoice"]
    [case] = ok(api.get("/v1/dunning_cases", params={"invoice": invoice}))["data"]
    assert (case["decline_code"], case["retries_stopped"]) == ("expired_card", "hard_decline")

    counts = gateway_events.receive(
        kassa.session_factory, kassa.clock,
        {"sandbox": UpdatingGateway(ref, MethodDetails(ref=ref, type="card", exp_month=2,
                                                       exp_year=2029))},  # type: ignore[dict-item]
        org_id, "sandbox", b"{}", {})
    assert counts["processed"] == 1
    card = ok(api.get(f"/v1/payment_methods/{method['id']}"))["card"]
    assert (card["exp_month"], card["exp_year"], card["expiry"]) == (2, 2029, "valid")
    assert ok(api.get(f"/v1/invoices/{invoice}"))["next_payment_attempt"] == ts(2026, 3, 2, 8)

    collection.run_due(kassa.session_factory, kassa.clock, kassa.gateways,
                       from_unix(ts(2026, 3, 2, 8)), test_clock_id=clock["id"])

    assert ok(api.get(f"/v1/invoices/{invoice}"))["status"] == "paid"
    [case] = ok(api.get("/v1/dunning_cases", params={"invoice": invoice}))["data"]
    assert (case["status"], case["recovered_attempt"]) == ("recovered", 2)


