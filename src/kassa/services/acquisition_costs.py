"""What the organization spent on acquiring customers, per month and channel
(`/v1/acquisition_costs`), for CAC in the unit-economics report."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from kassa.core.clock import to_unix
from kassa.core.errors import InvalidRequest, ResourceConflict
from kassa.core.ids import new_id
from kassa.core.money import normalize_currency
from kassa.services import scoping
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

_MONTH = re.compile(r"(19|20)\d\d-(0[1-9]|1[0-2])")


def create(uow: UnitOfWork, org_id: str, *, month: str, channel: str, amount: int,
           currency: str, metadata: dict[str, Any] | None = None) -> m.AcquisitionCost:
    """One month's spend on one channel; a second entry for the same month, channel and
    currency is a conflict (change the first)."""
    if not _MONTH.fullmatch(month):
        raise InvalidRequest("month is YYYY-MM.", param="month")
    channel = channel.strip()
    if not channel:
        raise InvalidRequest("channel names where the money went, e.g. 'ads'.",
                             param="channel")
    if amount < 0:
        raise InvalidRequest("amount is zero or more.", param="amount")
    currency = normalize_currency(currency)
    if uow.session.scalar(select(m.AcquisitionCost.id).where(
            m.AcquisitionCost.org_id == org_id, m.AcquisitionCost.month == month,
            m.AcquisitionCost.channel == channel, m.AcquisitionCost.currency == currency)):
        raise ResourceConflict(f"{month} already has a {channel} entry in "
                               f"{currency.upper()}; change that one.", param="channel")
    row = m.AcquisitionCost(id=new_id("acq"), org_id=org_id, month=month, channel=channel,
                            amount=amount, currency=currency, metadata_=metadata or {},
                            created=uow.clock.now())
    uow.session.add(row)
    uow.commit()
    return row


def update(uow: UnitOfWork, org_id: str, cost_id: str, *, amount: int | None = None,
           metadata: dict[str, Any] | None = None) -> m.AcquisitionCost:
    row = scoping.get(uow.session, m.AcquisitionCost, org_id, cost_id)
    if amount is not None:
        if amount < 0:
            raise InvalidRequest("amount is zero or more.", param="amount")
        row.amount = amount
    if metadata is not None:
        row.metadata_ = {**row.metadata_, **metadata}
    uow.commit()
    return row


def delete(uow: UnitOfWork, org_id: str, cost_id: str) -> None:
    uow.session.delete(scoping.get(uow.session, m.AcquisitionCost, org_id, cost_id))
    uow.commit()


def to_object(row: m.AcquisitionCost) -> dict[str, Any]:
    return {"id": row.id, "object": "acquisition_cost", "month": row.month,
            "channel": row.channel, "amount": row.amount, "currency": row.currency,
            "metadata": row.metadata_, "created": to_unix(row.created)}
