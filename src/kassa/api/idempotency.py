"""`Idempotency-Key` on every POST: a retry replays the first response, never a second effect.

The key is reserved in its own committed transaction before the request runs, so a
concurrent duplicate sees it and never runs twice: it waits for the first to finish (up to
WAIT) and answers with the same response; still running after that, 409. A request that ends
in a 5xx releases its key, so the client can retry it.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from starlette.middleware.base import RequestResponseEndpoint

from kassa.api.errors import envelope
from kassa.config import Kassa
from kassa.store import models as m

MAX_KEY_LENGTH = 255
WAIT = 10.0  # seconds a duplicate waits for the first request's answer
POLL = 0.05


def _reserve(kassa: Kassa, org_id: str, key: str, digest: str) -> m.IdempotencyRecord | None:
    """Reserve the key; return the existing record if it was taken before."""
    with kassa.uow() as uow:
        uow.session.add(m.IdempotencyRecord(org_id=org_id, key=key, request_hash=digest,
                                            created=kassa.clock.now()))
        try:
            uow.commit()
            return None
        except IntegrityError:
            uow.rollback()
        return uow.session.scalars(select(m.IdempotencyRecord).where(
            m.IdempotencyRecord.org_id == org_id, m.IdempotencyRecord.key == key)).first()


def _complete(kassa: Kassa, org_id: str, key: str, status: int, body: bytes) -> None:
    with kassa.uow() as uow:
        if status >= 500:
            uow.session.execute(delete(m.IdempotencyRecord).where(
                m.IdempotencyRecord.org_id == org_id, m.IdempotencyRecord.key == key))
        else:
            record = uow.session.get(m.IdempotencyRecord, (org_id, key))
            if record is not None:
                record.status_code = status
                record.response_body = body.decode()
        uow.commit()


def _record(kassa: Kassa, org_id: str, key: str) -> m.IdempotencyRecord | None:
    with kassa.uow() as uow:
        return uow.session.get(m.IdempotencyRecord, (org_id, key))


async def _finished(kassa: Kassa, org_id: str, key: str,
                    record: m.IdempotencyRecord) -> m.IdempotencyRecord | None:
    """The record once its request has an answer (None: released after a 5xx, or still
    running after WAIT)."""
    waited = 0.0
    current: m.IdempotencyRecord | None = record
    while current is not None and current.status_code is None and waited < WAIT:
        await asyncio.sleep(POLL)
        waited += POLL
        current = await run_in_threadpool(_record, kassa, org_id, key)
    return current


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def idempotency(request: Request, call_next: RequestResponseEndpoint) -> Any:
        key = request.headers.get("idempotency-key")
        if request.method != "POST" or key is None:
            return await call_next(request)
        if not key or len(key) > MAX_KEY_LENGTH:
            return envelope(400, "invalid_request_error", "idempotency_key_invalid",
                            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.")
        kassa: Kassa = request.app.state.kassa
        # The outer layer (api/audit.py) authenticated the key; no org: the route answers 401.
        org_id = getattr(request.state, "org_id", None)
        if org_id is None:
            return await call_next(request)
        request.state.org_id = org_id
        body = await request.body()
        digest = hashlib.sha256(request.method.encode() + b" " + request.url.path.encode()
                                + b"\n" + body).hexdigest()
        existing = await run_in_threadpool(_reserve, kassa, org_id, key, digest)
        if existing is not None:
            if existing.request_hash != digest:
                return envelope(409, "idempotency_error", "idempotency_key_reused",
                                "This Idempotency-Key was used with a different request.")
            finished = await _finished(kassa, org_id, key, existing)
            if finished is None:
                return envelope(409, "idempotency_error", "idempotency_key_in_use",
                                "The first request with this Idempotency-Key failed; "
                                "send it again.")
            if finished.status_code is None:
                return envelope(409, "idempotency_error", "idempotency_key_in_use",
                                "A request with this Idempotency-Key is still in progress.")
            existing = finished
            return Response(existing.response_body, status_code=existing.status_code,
                            media_type="application/json",
                            headers={"Idempotent-Replayed": "true"})
        try:
            response = await call_next(request)
        except BaseException:
            await run_in_threadpool(_complete, kassa, org_id, key, 500, b"")
            raise
        chunks = [chunk async for chunk in response.body_iterator]  # type: ignore[attr-defined]
        content = b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks)
        await run_in_threadpool(_complete, kassa, org_id, key, response.status_code, content)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return Response(content, status_code=response.status_code, headers=headers,
                        media_type=response.media_type)
