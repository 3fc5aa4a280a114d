"""The demo's pricing-model showcase: one customer on each model from the seed guide (flat,
tiered, per seat, per active user, usage, volume, package, percentage, per feature,
freemium, hybrid and contract), with a week of usage events sent at every step."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kassa.config import Kassa
from kassa.core.clock import to_unix
from kassa.services import catalog, customers, meters, schedules, subscriptions


@dataclass
class ModelCustomer:
    model: str
    customer_id: str
    events: list[tuple[str, int, int]] = field(default_factory=list)  # meter, per week, max


def _price(kassa: Kassa, org_id: str, name: str, **spec: Any) -> str:
    spec.setdefault("currency", "eur")
    spec.setdefault("recurring", {"interval": "month"})
    with kassa.uow() as uow:
        return catalog.create_price(uow, org_id, product_data={"name": name}, **spec).id


def _meter(kassa: Kassa, org_id: str, name: str, event: str, formula: str,
           value_key: str = "value") -> str:
    with kassa.uow() as uow:
        return meters.create_meter(uow, org_id, display_name=name, event_name=event,
                                   default_aggregation={"formula": formula},
                                   value_settings={"event_payload_key": value_key}).id


def _metered(meter_id: str) -> dict[str, Any]:
    return {"interval": "month", "usage_type": "metered", "meter": meter_id}


def setup(kassa: Kassa, org_id: str, clock_id: str, start: datetime) -> list[ModelCustomer]:
    api = _meter(kassa, org_id, "API calls", "api_call", "sum")
    users = _meter(kassa, org_id, "Active users", "user_active", "unique_count", "user_id")
    storage = _meter(kassa, org_id, "Storage (GB, peak)", "storage_gb", "max")
    sms = _meter(kassa, org_id, "SMS sent", "sms", "count")
    volume = _meter(kassa, org_id, "Payment volume", "payment", "sum", "amount")
    usage_tiers = [{"up_to": 10_000, "unit_amount": 0},
                   {"up_to": 100_000, "unit_amount_decimal": "0.05"},
                   {"up_to": "inf", "unit_amount_decimal": "0.02"}]
    plans: list[tuple[str, list[dict[str, Any]], list[tuple[str, int, int]]]] = [
        ("flat rate", [{"price": _price(kassa, org_id, "Flat plan", unit_amount=4900)}], []),
        ("tiered (graduated seats)", [{"quantity": 12, "price": _price(
            kassa, org_id, "Tiered seats", billing_scheme="tiered", tiers_mode="graduated",
            tiers=[{"up_to": 5, "unit_amount": 1000}, {"up_to": 20, "unit_amount": 800},
                   {"up_to": "inf", "unit_amount": 600}])}], []),
        ("per seat", [{"quantity": 8, "price": _price(kassa, org_id, "Seat",
                                                      unit_amount=1500)}], []),
        ("per active user", [{"price": _price(kassa, org_id, "Active user", unit_amount=400,
                                              recurring=_metered(users))}],
         [("user_active", 60, 40)]),
        ("usage (graduated)", [{"price": _price(
            kassa, org_id, "API usage", billing_scheme="tiered", tiers_mode="graduated",
            tiers=usage_tiers, recurring=_metered(api))}], [("api_call", 40, 1500)]),
        ("volume (peak storage)", [{"price": _price(
            kassa, org_id, "Storage", billing_scheme="tiered", tiers_mode="volume",
            tiers=[{"up_to": 100, "unit_amount": 50}, {"up_to": 1000, "unit_amount": 30},
                   {"up_to": "inf", "unit_amount": 20}], recurring=_metered(storage))}],
         [("storage_gb", 20, 400)]),
        ("package (SMS per 100)", [{"price": _price(
            kassa, org_id, "SMS bundle", unit_amount=900,
            transform_quantity={"divide_by": 100, "round": "up"},
            recurring=_metered(sms))}], [("sms", 180, 1)]),
        ("percentage (payments)", [{"price": _price(
            kassa, org_id, "Payment fees", billing_scheme="percentage",
            percentage={"rate": "1.4", "fixed_fee": "25", "free_events": 10,
                        "minimum_fee": "30", "maximum_fee": "500"},
            recurring=_metered(volume))}], [("payment", 30, 20_000)]),
        ("per feature (add-on)", [
            {"price": _price(kassa, org_id, "Business plan", unit_amount=9900)},
            {"price": _price(kassa, org_id, "SSO add-on", unit_amount=2500)}], []),
        ("freemium", [{"price": _price(kassa, org_id, "Free plan", unit_amount=0)}], []),
        ("hybrid (base + usage)", [
            {"price": _price(kassa, org_id, "Platform fee", unit_amount=4900)},
            {"price": _price(kassa, org_id, "API usage (hybrid)", billing_scheme="tiered",
                             tiers_mode="graduated", tiers=usage_tiers,
                             recurring=_metered(api))}], [("api_call", 40, 1500)]),
    ]
    made = []
    for model, items, usage in plans:
        with kassa.uow() as uow:
            customer = customers.create_customer(
                uow, org_id, name=f"{model.split(' (')[0].title()} Ltd", timezone="UTC",
                external_id=f"model-{len(made)}", test_clock=clock_id)
        with kassa.uow() as uow:
            subscriptions.create_subscription(uow, org_id, customer=customer.id, items=items,
                                              start_date=to_unix(start),
                                              collection_method="send_invoice")
        made.append(ModelCustomer(model, customer.id, usage))
    with kassa.uow() as uow:
        customer = customers.create_customer(uow, org_id, name="Contract Ltd", timezone="UTC",
                                             test_clock=clock_id)
    early = _price(kassa, org_id, "Seat (contract, year 1 H1)", unit_amount=800,
                   customer=customer.id)
    later = _price(kassa, org_id, "Seat (contract, year 1 H2)", unit_amount=750,
                   customer=customer.id)
    with kassa.uow() as uow:
        schedules.create_schedule(
            uow, org_id, customer=customer.id, start_date=to_unix(start),
            collection_method="send_invoice", minimum_amount=10_000,
            phases=[{"items": [{"price": early, "quantity": 10}], "iterations": 6},
                    {"items": [{"price": later, "quantity": 25}]}])
    made.append(ModelCustomer("contract (ramp + minimum)", customer.id))
    return made


def send_week_of_usage(kassa: Kassa, org_id: str, people: list[ModelCustomer],
                       week_start: datetime, week_end: datetime, week: int) -> None:
    """A deterministic week of usage events for the metered customers."""
    rng = random.Random(week)
    span = int((week_end - week_start).total_seconds())
    batch = []
    for person in people:
        for event_name, count, high in person.events:
            for n in range(count):
                at = to_unix(week_start + timedelta(seconds=rng.randrange(span)))
                value: dict[str, Any] = {"value": rng.randint(1, high)}
                if event_name == "user_active":
                    value = {"user_id": f"user-{rng.randrange(high)}"}
                elif event_name == "payment":
                    value = {"amount": rng.randint(500, high)}
                batch.append({"identifier": f"w{week}-{person.customer_id}-{event_name}-{n}",
                              "event_name": event_name, "timestamp": at,
                              "payload": {"customer": person.customer_id, **value}})
    if batch:
        with kassa.uow() as uow:
            meters.ingest(uow, org_id, batch, week_end)
