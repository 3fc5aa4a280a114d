"""Checking a customer's VAT id with the EU's VIES."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from kassa.api.deps import Ctx
from kassa.services import objects, vat_checks

router = APIRouter(tags=["customers"])


@router.post("/customers/{customer_id}/vat_check")
def check_customer_vat(customer_id: str, ctx: Ctx) -> dict[str, Any]:
    """Ask VIES whether the customer's VAT id is registered; the customer's `vat_status`
    becomes valid, invalid or unavailable (unchecked while no VIES URL is configured)."""
    with ctx.kassa.uow() as uow:
        return objects.customer(vat_checks.check_customer_vat(
            uow, ctx.org_id, customer_id, ctx.kassa.vat_checker))
