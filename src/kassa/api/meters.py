from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from kassa.api.deps import Ctx, Paging, listing
from kassa.api.schemas import AlertCreate, Empty, MeterCreate, MeterEventAdjustment
from kassa.config import Kassa
from kassa.core.errors import InvalidRequest
from kassa.services import alerts, meters, objects, scoping
from kassa.store import models as m

router = APIRouter(prefix="/billing", tags=["usage"])

_EVENT_SCHEMA = {"type": "object", "required": ["event_name", "payload"], "properties": {
    "identifier": {"type": "string", "maxLength": 100},
    "event_name": {"type": "string"}, "timestamp": {"type": "integer"},
    "payload": {"type": "object", "additionalProperties": True}}}


@router.post("/meters")
def create_meter(body: MeterCreate, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.meter(meters.create_meter(uow, ctx.org_id, **body.fields()))


@router.get("/meters")
def list_meters(request: Request, ctx: Ctx, page: Paging) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        query = select(m.Meter).where(m.Meter.org_id == ctx.org_id)
        return listing(request, scoping.paginate(uow.session, query, m.Meter, **page.asdict()),
                       objects.meter)


@router.get("/meters/{meter_id}")
def get_meter(meter_id: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.meter(scoping.get(uow.session, m.Meter, ctx.org_id, meter_id))


@router.post("/meters/{meter_id}/deactivate")
def deactivate_meter(meter_id: str, ctx: Ctx, body: Empty | None = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.meter(meters.set_meter_status(uow, ctx.org_id, meter_id, "inactive"))


@router.post("/meters/{meter_id}/reactivate")
def reactivate_meter(meter_id: str, ctx: Ctx, body: Empty | None = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        return objects.meter(meters.set_meter_status(uow, ctx.org_id, meter_id, "active"))


@router.get("/meters/{meter_id}/event_summaries")
def event_summaries(request: Request, meter_id: str, ctx: Ctx, customer: str,
                    start_time: int, end_time: int, value_grouping_window: str | None = None,
                    group_by: str | None = None) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        data = meters.summaries(uow, ctx.org_id, meter_id, customer=customer,
                                start_time=start_time, end_time=end_time,
                                value_grouping_window=value_grouping_window,
                                group_by=group_by)
    return {"object": "list", "url": request.url.path, "has_more": False, "data": data}


async def _json_body(request: Request) -> Any:
    """The body parsed with exact decimals: usage values never pass through a float."""
    try:
        return json.loads(await request.body(), parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("The request body is not valid JSON.", code="json_invalid") \
            from None


def _ingest(kassa: Kassa, org_id: str, events: Any) -> list[meters.Outcome]:
    with kassa.uow() as uow:
        return meters.ingest(uow, org_id, events, kassa.clock.now())


@router.post("/meter_events", openapi_extra={"requestBody": {
    "required": True, "content": {"application/json": {"schema": _EVENT_SCHEMA}}}})
async def create_meter_event(request: Request, ctx: Ctx) -> dict[str, Any]:
    """Record one usage event. A repeated identifier is acknowledged and not counted twice."""
    event = await _json_body(request)
    [outcome] = await run_in_threadpool(_ingest, ctx.kassa, ctx.org_id, [event])
    if outcome.status == "rejected":
        raise InvalidRequest(outcome.message or "The event was rejected.",
                             code=outcome.code, param="payload" if outcome.code and
                             outcome.code.startswith(("value", "customer")) else None)
    return {"object": "billing.meter_event", "identifier": outcome.identifier,
            "event_name": event["event_name"], "status": outcome.status,
            "timestamp": event.get("timestamp"), "payload": event["payload"]}


@router.post("/meter_events/batch", openapi_extra={"requestBody": {
    "required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["events"], "properties": {
            "events": {"type": "array", "maxItems": meters.MAX_BATCH,
                       "items": _EVENT_SCHEMA}}}}}}})
async def create_meter_events(request: Request, ctx: Ctx) -> dict[str, Any]:
    """Record up to 10,000 events; the response says, per event, whether it was accepted,
    a duplicate, or rejected and why."""
    body = await _json_body(request)
    if not isinstance(body, dict) or set(body) - {"events"}:
        raise InvalidRequest("The body is {\"events\": [...]}.", param="events")
    outcomes = await run_in_threadpool(_ingest, ctx.kassa, ctx.org_id, body.get("events"))
    counts = {status: sum(1 for o in outcomes if o.status == status)
              for status in ("accepted", "duplicate", "rejected")}
    return {"object": "billing.meter_event_batch", **counts,
            "results": [outcome.asdict() for outcome in outcomes]}


@router.post("/meter_event_adjustments")
def cancel_meter_event(body: MeterEventAdjustment, ctx: Ctx) -> dict[str, Any]:
    """Cancel an event (until its period is invoiced)."""
    with ctx.kassa.uow() as uow:
        event = meters.void_event(uow, ctx.org_id, body.cancel.identifier,
                                  ctx.kassa.clock.now())
        meter = uow.session.get(m.Meter, event.meter_id)
        if meter is None or meter.event_name != body.event_name:
            raise InvalidRequest("The event belongs to another event_name.",
                                 param="event_name")
        return {"object": "billing.meter_event_adjustment", "event_name": body.event_name,
                "type": "cancel", "cancel": {"identifier": event.identifier},
                "status": "complete"}


@router.post("/alerts")
def create_alert(body: AlertCreate, ctx: Ctx) -> dict[str, Any]:
    threshold = body.usage_threshold
    with ctx.kassa.uow() as uow:
        return objects.meter_alert(alerts.create_alert(
            uow, ctx.org_id, title=body.title, meter=threshold.meter,
            customer=threshold.customer, threshold=str(threshold.gte)))


@router.get("/alerts")
def list_alerts(request: Request, ctx: Ctx, page: Paging) -> dict[str, Any]:
    with ctx.kassa.uow() as uow:
        query = select(m.MeterAlert).where(m.MeterAlert.org_id == ctx.org_id)
        result = scoping.paginate(uow.session, query, m.MeterAlert, **page.asdict())
        return listing(request, result, objects.meter_alert)
