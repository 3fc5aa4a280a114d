"""Revenue recognition: what the revenue schedules have earned is moved from deferred revenue
to revenue, day by day, posted per month.

Each schedule (services/ledger.py opens one per invoice or credit note line) earns its amount
evenly over its days (domain/recognition.py). A run posts, for every schedule, what it earned
from the first day not yet recognized up to today (the customer's today on a test clock), as
one entry per accounting date: the last day of each month it falls in, or yesterday for the
month under way. A schedule that starts before the day it was made (a credit note on a past
service period, a backdated change) posts what it earned before then on that day: a
cumulative catch-up, so earlier months do not move; usage billed after the period it was
used in is revenue of that period. What falls in a closed month is posted in the first open
month after it (a correction goes into the open period). Running twice posts nothing more.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import date, datetime, timedelta
from itertools import pairwise

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kassa.core.clock import Clock
from kassa.core.ids import new_id
from kassa.domain import ledger as domain
from kassa.domain.ledger import Posting
from kassa.domain.recognition import Schedule, month_starts, next_month
from kassa.services import ledger
from kassa.services.organizations import timezone_of
from kassa.store import models as m
from kassa.store.db import is_postgres
from kassa.store.uow import UnitOfWork

BATCH = 5000


def _month_end(day: date) -> date:
    return next_month(day) - timedelta(days=1)


def _open_month(day: date, closed: set[str]) -> date:
    """The first day of the first open month from `day`'s month on."""
    month = day.replace(day=1)
    while domain.period_of(month) in closed:
        month = next_month(month)
    return month


def recognize(session: Session, org_id: str, now: datetime, *,
              customer_ids: Collection[str] | None = None, limit: int = BATCH) -> int:
    """Post what the organization's schedules earned by `now`'s day; returns how many
    schedules moved, at most `limit` (call again while it returns `limit`). Without
    `customer_ids`, customers on test clocks are left to their clock; with them, `now` is
    their clock's time."""
    org = session.get(m.Organization, org_id)
    assert org is not None
    zone = timezone_of(org)
    query = (select(m.RevenueSchedule)
             .where(m.RevenueSchedule.org_id == org_id, m.RevenueSchedule.done.is_(False),
                    m.RevenueSchedule.recognized_through < now.astimezone(zone).date())
             .order_by(m.RevenueSchedule.id).limit(limit))
    if customer_ids is None:
        # Customers on test clocks move with their clock (test_clocks.advance).
        query = query.where(m.RevenueSchedule.customer_id.not_in(
            select(m.Customer.id).where(m.Customer.org_id == org_id,
                                        m.Customer.test_clock_id.is_not(None))))
    else:
        query = query.where(m.RevenueSchedule.customer_id.in_(list(customer_ids)))
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    closed = ledger.closed_periods(session, org_id)
    amounts: dict[date, dict[tuple[str, str | None], int]] = defaultdict(lambda: defaultdict(int))
    moved = 0
    today = now.astimezone(zone).date()
    for schedule in session.scalars(query):
        stop = min(today, schedule.end_day)
        if stop <= schedule.recognized_through:
            continue
        earning = Schedule(schedule.amount, schedule.first_day, schedule.end_day)
        # Usage is revenue of the days it was used, even when invoiced after them; any
        # other schedule that starts before it was made (a credit note, a backdated
        # change) catches up on the day it was made, not in the months before.
        floor = None if schedule.kind == "usage" else schedule.created.astimezone(zone).date()
        for start, end in pairwise(month_starts(schedule.recognized_through,
                                                stop - timedelta(days=1))):
            part = earning.earned_between(max(start, schedule.recognized_through),
                                          min(end, stop))
            if not part:
                continue
            month = _open_month(max(start, floor.replace(day=1)) if floor else start, closed)
            posted_on = max(month, min(_month_end(month), today - timedelta(days=1)),
                            floor or month)
            amounts[posted_on][(schedule.currency, schedule.product_id)] += part
        schedule.recognized = earning.earned_by(stop)
        schedule.recognized_through = stop
        schedule.done = stop >= schedule.end_day
        moved += 1
    for posted_on, parts in sorted(amounts.items()):
        postings: list[Posting] = []
        for (currency, product), amount in parts.items():
            postings += domain.pair("deferred_revenue", "revenue", amount, currency,
                                    debit_key=product, credit_key=product, product_id=product)
        ledger.write(session, org_id, ledger.Draft(
            "revenue.recognized", "recognition", new_id("rr"), posted_on,
            f"Revenue recognized {domain.period_of(posted_on)}", postings), now)
    return moved


def recognize_all(session: Session, org_id: str, now: datetime, *,
                  customer_ids: Collection[str] | None = None) -> int:
    """`recognize` batch after batch in this transaction until nothing is left to move."""
    moved = 0
    while True:
        count = recognize(session, org_id, now, customer_ids=customer_ids)
        session.flush()
        moved += count
        if count < BATCH:
            return moved


def recognize_due(session_factory: sessionmaker[Session], clock: Clock) -> int:
    """The recognition job: every organization's schedules up to today, in batches."""
    now = clock.now()
    with session_factory() as session:
        org_ids = list(session.scalars(select(m.RevenueSchedule.org_id).where(
            m.RevenueSchedule.done.is_(False)).distinct()))
    moved = 0
    for org_id in org_ids:
        while True:
            with UnitOfWork(session_factory, clock) as uow:
                count = recognize(uow.session, org_id, now)
                uow.commit()
            moved += count
            if count < BATCH:
                break
    return moved
