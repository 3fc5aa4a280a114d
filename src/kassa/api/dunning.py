"""Dunning: `/v1/dunning_policies` (how unpaid invoices are chased; customers are assigned one
with `dunning_policy`), `/v1/dunning_cases` (each invoice's way through dunning) and the
recovery report `/v1/reports/dunning`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from kassa.api.deps import Ctx, Expand, Paging, listing
from kassa.api.schemas import DunningPolicyCreate, DunningPolicyUpdate
from kassa.core.clock import parse_day
from kassa.services import dunning, expansion, scoping
from kassa.store import models as m

router = APIRouter(tags=["dunning"])


@router.post("/dunning_policies")
def create_dunning_policy(body: DunningPolicyCreate, ctx: Ctx) -> dict[str, Any]:
    """A policy: the retry schedule after a failed charge, the time of day of retries and
    reminders, the reminders of invoices sent to customers, when service is suspended and
    what happens when dunning gives up. Fields left out take the built-in default."""
    with ctx.kassa.uow() as uow:
        return dunning.policy_object(dunning.create_policy(uow, ctx.org_id, **body.fields()))


@router.get("/dunning_policies")
def list_dunning_policies(request: Request, ctx: Ctx, page: Paging,
                          active: bool | None = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        result = dunning.list_policies(uow, ctx.org_id, active=active, **page.asdict())
        return listing(request, result, dunning.policy_object)


@router.get("/dunning_policies/default")
def default_dunning_policy(ctx: Ctx) -> dict[str, Any]:
    """The policy of customers without their own: the organization's default policy, or the
    built-in one (`id` null) when none is the default."""
    with ctx.kassa.uow() as uow:
        row = dunning.default_policy(uow.session, ctx.org_id)
        return dunning.policy_object(row) if row else dunning.default_policy_object()


@router.get("/dunning_policies/{policy_id}")
def get_dunning_policy(policy_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return dunning.policy_object(scoping.get(uow.session, m.DunningPolicy, ctx.org_id,
                                                 policy_id))


@router.post("/dunning_policies/{policy_id}")
def update_dunning_policy(policy_id: str, body: DunningPolicyUpdate,
                          ctx: Ctx) -> dict[str, Any]:
    """Change rules, the name or metadata; `is_default` to make it the default; `active:
    false` archives it (its customers keep it, no one else can be given it)."""
    with ctx.kassa.uow() as uow:
        return dunning.policy_object(dunning.update_policy(uow, ctx.org_id, policy_id,
                                                           **body.fields()))


@router.get("/dunning_cases")
def list_dunning_cases(request: Request, ctx: Ctx, page: Paging, customer: str | None = None,
                       invoice: str | None = None, status: str | None = None,
                       expand: Expand = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        result = dunning.list_cases(uow, ctx.org_id, customer=customer, invoice=invoice,
                                    status=status, **page.asdict())
        return expansion.expand(uow, ctx.org_id,
                                listing(request, result, dunning.case_object), expand)


@router.get("/dunning_cases/{case_id}")
def get_dunning_case(case_id: str, ctx: Ctx, expand: Expand = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return expansion.expand(uow, ctx.org_id, dunning.case_object(
            scoping.get(uow.session, m.DunningCase, ctx.org_id, case_id)), expand)


@router.get("/reports/dunning")
def dunning_report(ctx: Ctx, first: Annotated[str, Query(alias="from", max_length=12)],
                   last: Annotated[str, Query(alias="to", max_length=12)]) -> dict[str, Any]:
    """How the invoices that entered dunning on the days `from` to `to` (both included;
    YYYY-MM-DD or a Unix timestamp) fared: entered, recovered, recovery rate, amounts per
    currency, time to recover, recovery by attempt, by decline code and by payment method
    type, final actions and involuntary churn (subscriptions canceled for non-payment)."""
    with ctx.kassa.uow() as uow:
        return dunning.report(uow, ctx.org_id, parse_day(first, "from"),
                              parse_day(last, "to"))
