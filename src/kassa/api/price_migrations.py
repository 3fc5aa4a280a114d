from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from kassa.api.deps import Ctx, Paging, listing
from kassa.api.schemas import PriceMigrationCreate
from kassa.services import objects, price_migrations

router = APIRouter(tags=["price migrations"])


@router.post("/price_migrations")
def create_price_migration(body: PriceMigrationCreate, ctx: Ctx) -> dict[str, Any]:
    """Move subscriptions on `from_price` to `to_price`, each at its first renewal after the
    notice date; subscriptions left out keep their price."""
    with ctx.kassa.uow() as uow:
        return objects.price_migration(price_migrations.create(uow, ctx.org_id, **body.fields()))


@router.post("/price_migrations/preview")
def preview_price_migration(body: PriceMigrationCreate, ctx: Ctx) -> dict[str, Any]:
    """What the same request to /v1/price_migrations would do; writes nothing."""
    with ctx.kassa.uow() as uow:
        return objects.price_migration_preview(price_migrations.preview(uow, ctx.org_id,
                                                                        **body.fields()))


@router.get("/price_migrations")
def list_price_migrations(request: Request, ctx: Ctx, page: Paging,
                          status: str | None = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        result = price_migrations.list_migrations(uow, ctx.org_id, status=status,
                                                  **page.asdict())
        return listing(request, result, objects.price_migration)


@router.get("/price_migrations/{migration_id}")
def get_price_migration(migration_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.price_migration(price_migrations.get_migration(uow, ctx.org_id,
                                                                      migration_id))


@router.get("/price_migrations/{migration_id}/entries")
def list_price_migration_entries(request: Request, migration_id: str, ctx: Ctx, page: Paging,
                                 status: str | None = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        currency, result = price_migrations.list_entries(uow, ctx.org_id, migration_id,
                                                         status=status, **page.asdict())
        return listing(request, result,
                       lambda entry: objects.price_migration_entry(entry, currency))


@router.post("/price_migrations/{migration_id}/cancel")
def cancel_price_migration(migration_id: str, ctx: Ctx) -> dict[str, Any]:
    """Cancel what has not taken effect yet; applied entries stay."""
    with ctx.kassa.uow() as uow:
        return objects.price_migration(price_migrations.cancel(uow, ctx.org_id, migration_id))
