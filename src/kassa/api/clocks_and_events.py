from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select

from kassa.api.deps import Ctx, Paging, listing
from kassa.api.schemas import OrganizationUpdate, TestClockAdvance, TestClockCreate
from kassa.services import objects, organizations, scoping, test_clocks
from kassa.store import models as m

router = APIRouter()

CLOCK_PATHS = ("/test_clocks", "/test_helpers/test_clocks")


def _create_clock(body: TestClockCreate, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.test_clock(test_clocks.create_test_clock(uow, ctx.org_id,
                                                                **body.fields()))


def _list_clocks(request: Request, ctx: Ctx, page: Paging) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return listing(request, test_clocks.list_test_clocks(uow, ctx.org_id, **page.asdict()),
                       objects.test_clock)


def _get_clock(clock_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.test_clock(scoping.get(uow.session, m.TestClock, ctx.org_id, clock_id))


def _advance_clock(clock_id: str, body: TestClockAdvance, ctx: Ctx) -> dict[str, Any]:
    """Advance the clock and run everything that falls due; returns when it is done."""
    return test_clocks.advance(ctx.kassa.session_factory, ctx.kassa.clock, ctx.org_id,
                               clock_id, body.frozen_time, gateways=ctx.kassa.gateways)


for _base in CLOCK_PATHS:
    router.add_api_route(_base, _create_clock, methods=["POST"], tags=["test clocks"])
    router.add_api_route(_base, _list_clocks, methods=["GET"], tags=["test clocks"])
    router.add_api_route(_base + "/{clock_id}", _get_clock, methods=["GET"],
                         tags=["test clocks"])
    router.add_api_route(_base + "/{clock_id}/advance", _advance_clock, methods=["POST"],
                         tags=["test clocks"])


@router.get("/events", tags=["events"])
def list_events(request: Request, ctx: Ctx, page: Paging, type: str | None = None,
                object_id: str | None = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        query = select(m.Event).where(m.Event.org_id == ctx.org_id)
        if type:
            query = query.where(m.Event.type.like(type.replace("*", "%")))
        if object_id:
            query = query.where(m.Event.object_id == object_id)
        result = scoping.paginate(uow.session, query, m.Event, **page.asdict())
        return listing(request, result, objects.event)


@router.get("/events/{event_id}", tags=["events"])
def get_event(event_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.event(scoping.get(uow.session, m.Event, ctx.org_id, event_id))


@router.get("/organization", tags=["organization"])
def get_organization(ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.organization(organizations.get_organization(uow.session, ctx.org_id))


@router.post("/organization", tags=["organization"])
def update_organization(body: OrganizationUpdate, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.organization(organizations.update_organization(uow, ctx.org_id,
                                                                      body.fields()))
