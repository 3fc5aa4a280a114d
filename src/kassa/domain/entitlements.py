"""Entitlements: which features a customer's subscriptions grant, and up to which limit.

A subscription grants the features of its prices' products while it provides service
(trialing, active, or past due while collection is retried, as in Stripe). A feature may
carry a numeric limit ("max 5 projects"); when several grants reach the same feature, the
most generous one wins and no limit at all (unlimited) beats every number.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kassa.domain.subscriptions import Status

GRANTING_STATUSES: frozenset[Status] = frozenset({"trialing", "active", "past_due"})


@dataclass(frozen=True)
class Grant:
    """One path to a feature: a product a customer subscribes to grants it, up to `limit`
    (None: unlimited)."""

    feature_id: str
    lookup_key: str
    limit: int | None


@dataclass(frozen=True)
class Entitlement:
    """A feature the customer may use now, with the limit that applies (None: unlimited)."""

    feature_id: str
    lookup_key: str
    limit: int | None


def grants_service(status: str) -> bool:
    """Whether a subscription in `status` entitles its customer to its products' features."""
    return status in GRANTING_STATUSES


def more_generous(a: int | None, b: int | None) -> int | None:
    """The larger of two limits, where None (unlimited) beats any number."""
    if a is None or b is None:
        return None
    return max(a, b)


def resolve(grants: Iterable[Grant]) -> list[Entitlement]:
    """One entitlement per feature granted, with the most generous limit of its grants,
    ordered by feature id (creation order)."""
    best: dict[str, Entitlement] = {}
    for grant in grants:
        seen = best.get(grant.feature_id)
        limit = grant.limit if seen is None else more_generous(seen.limit, grant.limit)
        best[grant.feature_id] = Entitlement(grant.feature_id, grant.lookup_key, limit)
    return [best[feature_id] for feature_id in sorted(best)]
