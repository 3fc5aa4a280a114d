"""Subscription schedules: contracts whose items change at set times (ramp deals), e.g. 10
seats at 8.00 for six months, then 25 seats at 7.50."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kassa.core.errors import InvalidRequest
from kassa.core.ids import new_id
from kassa.services import scoping
from kassa.services.subscriptions import create_subscription
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

MAX_PHASES = 10


def create_schedule(uow: UnitOfWork, org_id: str, *, customer: str, phases: list[Any],
                    start_date: Any = "now", end_behavior: str = "release",
                    metadata: dict[str, Any] | None = None,
                    **subscription: Any) -> m.SubscriptionSchedule:
    """Create the schedule and its subscription in one transaction.

    Each phase lasts `iterations` billing periods; the last phase runs on (`release`) or the
    subscription ends with it (`cancel`, which needs the last phase's iterations).
    """
    if not isinstance(phases, list) or not 1 <= len(phases) <= MAX_PHASES:
        raise InvalidRequest(f"A schedule has 1 to {MAX_PHASES} phases.", param="phases")
    if end_behavior not in ("release", "cancel"):
        raise InvalidRequest("end_behavior is release or cancel.", param="end_behavior")
    for index, phase in enumerate(phases):
        if not isinstance(phase, dict):
            raise InvalidRequest("A phase is an object.", param=f"phases[{index}]")
    schedule = m.SubscriptionSchedule(
        id=new_id("sub_sched"), org_id=org_id, customer_id="", subscription_id="",
        end_behavior=end_behavior, metadata_=metadata or {}, created=uow.clock.now(),
        phases={"phases": [{"items": p.get("items"), "iterations": p.get("iterations")}
                           for p in phases]})
    if (len(phases) > 1 or end_behavior == "cancel") and phases[0].get("iterations") is None:
        raise InvalidRequest("Every phase but the last needs iterations.",
                             param="phases[0][iterations]")
    customer_row = scoping.get(uow.session, m.Customer, org_id, customer, param="customer")
    schedule.customer_id = customer_row.id
    create_subscription(
        uow, org_id, customer=customer_row.id, items=phases[0].get("items"),
        start_date=start_date, phases=phases[1:],
        first_phase_iterations=phases[0].get("iterations"),
        end_with_last_phase=end_behavior == "cancel", schedule=schedule,
        metadata=metadata, **subscription)
    return schedule


def get_schedule(uow: UnitOfWork, org_id: str,
                 schedule_id: str) -> tuple[m.SubscriptionSchedule, m.Subscription]:
    schedule = scoping.get(uow.session, m.SubscriptionSchedule, org_id, schedule_id)
    sub = uow.session.get(m.Subscription, schedule.subscription_id)
    assert sub is not None
    return schedule, sub


def list_schedules(uow: UnitOfWork, org_id: str, customer: str | None = None,
                   **page: Any) -> scoping.Page:
    query = select(m.SubscriptionSchedule).where(m.SubscriptionSchedule.org_id == org_id)
    if customer:
        query = query.where(m.SubscriptionSchedule.customer_id == customer)
    return scoping.paginate(uow.session, query, m.SubscriptionSchedule, **page)
