"""Usage alerts: a threshold on a meter for one customer, triggered once per period."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from kassa.core.errors import InvalidRequest
from kassa.core.ids import new_id
from kassa.core.money import parse_decimal
from kassa.domain import billing as billing_domain
from kassa.services import events, objects, scoping, usage_reading
from kassa.services.customers import now_for
from kassa.services.schedule import terms_of
from kassa.store import models as m
from kassa.store.db import among, upsert_insert
from kassa.store.uow import UnitOfWork


def create_alert(uow: UnitOfWork, org_id: str, *, title: str, meter: str, customer: str,
                 threshold: Any) -> m.MeterAlert:
    meter_row = scoping.get(uow.session, m.Meter, org_id, meter, param="meter")
    customer_row = scoping.get(uow.session, m.Customer, org_id, customer, param="customer")
    value = parse_decimal(threshold, param="threshold")
    if value <= 0:
        raise InvalidRequest("threshold must be positive.", param="threshold")
    alert = m.MeterAlert(id=new_id("alrt"), org_id=org_id, meter_id=meter_row.id,
                         customer_id=customer_row.id, title=title, threshold=value,
                         status="active", created=uow.clock.now())
    uow.session.add(alert)
    uow.commit()
    return alert


def _current_period(uow: UnitOfWork, meter_id: str, customer: m.Customer,
                    now: datetime) -> tuple[datetime, datetime]:
    """The billing period of a subscription that bills this meter, else the calendar month."""
    org = uow.session.get(m.Organization, customer.org_id)
    subs = uow.session.scalars(
        select(m.Subscription).join(m.SubscriptionItem).join(m.Price).where(
            m.Subscription.customer_id == customer.id, m.Price.meter_id == meter_id)
        .order_by(m.Subscription.id))
    for sub in subs:
        assert org is not None
        period = billing_domain.period_at(terms_of(org, customer, sub), now)
        if period is not None and period.start <= now < period.end:
            return period.start, period.end
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, start + relativedelta(months=1)


def check_alerts(uow: UnitOfWork, org_id: str, pairs: set[tuple[str, str]]) -> None:
    """Trigger the alerts of the (meter, customer) pairs whose usage crossed the threshold."""
    if not pairs:
        return
    alerts = list(uow.session.scalars(select(m.MeterAlert).where(
        m.MeterAlert.org_id == org_id, m.MeterAlert.status == "active",
        m.MeterAlert.meter_id.in_({meter for meter, _ in pairs}),
        among(uow.session, m.MeterAlert.customer_id, {customer for _, customer in pairs}))))
    for alert in alerts:
        if (alert.meter_id, alert.customer_id) not in pairs:
            continue
        meter = uow.session.get(m.Meter, alert.meter_id)
        customer = uow.session.get(m.Customer, alert.customer_id)
        assert meter is not None and customer is not None
        at = now_for(uow, customer)  # a test-clock customer lives at the clock's time
        start, end = _current_period(uow, meter.id, customer, at)
        used = usage_reading.usage(uow.session, meter, customer.id, start, end)
        if used < alert.threshold:
            continue
        if _first_trigger(uow, alert, start, used, at):
            events.record(uow.session, org_id, "billing.alert.triggered", {
                "id": alert.id, "object": "billing.alert_triggered", "alert": alert.id,
                "title": alert.title, "meter": meter.id, "customer": customer.id,
                "value": objects.decimal_text(used),
                "threshold": objects.decimal_text(alert.threshold),
                "period_start": int(start.timestamp())}, at)


def _first_trigger(uow: UnitOfWork, alert: m.MeterAlert, period_start: datetime,
                   used: Decimal, now: datetime) -> bool:
    table = m.MeterAlertTrigger.__table__
    statement = upsert_insert(uow.session, table).values(
        alert_id=alert.id, period_start=period_start, value=used, created=now
    ).on_conflict_do_nothing().returning(table.c.id)
    # RETURNING, not rowcount: the row comes back only if this call inserted it.
    return uow.session.execute(statement).first() is not None
