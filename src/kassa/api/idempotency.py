"""`Idempotency-Key` on every POST: a retry replays the first response, never a second effect.

The key is reserved in its own committed transaction before the request runs, so a
concurrent duplicate sees it and never runs twice: it waits for the first to finish (up to
WAIT) and answers with the same response; still running after that, 409. A request that ends
in a 5xx releases its key, so the client can retry it. The answer is kept in the same
transaction as the request's audit entry: a kept answer always has its entry.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kassa.api.audit import ENTRY
from kassa.api.errors import envelope
from kassa.api.guards import replay
from kassa.config import Kassa
from kassa.store import models as m

MAX_KEY_LENGTH = 255
WAIT = 10.0  # seconds a duplicate waits for the first request's answer
POLL = 0.05

# The statements are built once. A write request reserves its key in one transaction and keeps
# its answer (or releases the key) in another, with the request's audit entry.
_records = m.IdempotencyRecord.__table__
_THIS_KEY = (_records.c.org_id == bindparam("org"), _records.c.key == bindparam("name"))
_RECORD = select(_records.c.request_hash, _records.c.status_code,
                 _records.c.response_body).where(*_THIS_KEY)
_ANSWER = update(_records).where(*_THIS_KEY).values(
    status_code=bindparam("status"), response_body=bindparam("body"))
_RELEASE = delete(_records).where(*_THIS_KEY)


def _reservation(insert: Any) -> Any:
    return insert(_records).values(
        org_id=bindparam("org"), key=bindparam("name"), request_hash=bindparam("digest"),
        created=bindparam("at")).on_conflict_do_nothing().returning(_records.c.key)


_RESERVE = {"postgresql": _reservation(postgresql.insert), "sqlite": _reservation(sqlite.insert)}
_Record = Any  # a row of _RECORD


def _reserve(kassa: Kassa, org_id: str, key: str, digest: str) -> _Record | None:
    """Reserve the key; return the existing record if it was taken before."""
    with kassa.engine.begin() as connection:
        reserved = connection.execute(_RESERVE[connection.dialect.name], {
            "org": org_id, "name": key, "digest": digest, "at": kassa.clock.now()}).first()
    if reserved:
        return None
    return _record(kassa, org_id, key)


def _complete(kassa: Kassa, org_id: str, key: str, status: int, body: bytes,
              audit_entry: Callable[[Session, int, bytes], None] | None = None) -> None:
    """Keep the answer for retries (release the key after a 5xx), with the request's audit
    entry in the same transaction."""
    with kassa.session_factory() as session:
        if status >= 500:
            session.execute(_RELEASE, {"org": org_id, "name": key})
        else:
            session.execute(_ANSWER, {"org": org_id, "name": key, "status": status,
                                      "body": body.decode()})
            if audit_entry is not None:
                audit_entry(session, status, body)
        session.commit()


def _record(kassa: Kassa, org_id: str, key: str) -> _Record | None:
    with kassa.engine.connect() as connection:
        return connection.execute(_RECORD, {"org": org_id, "name": key}).first()


async def _finished(kassa: Kassa, org_id: str, key: str,
                    record: _Record) -> _Record | None:
    """The record once its request has an answer (None: released after a 5xx, or still
    running after WAIT)."""
    waited = 0.0
    current: _Record | None = record
    while current is not None and current.status_code is None and waited < WAIT:
        await asyncio.sleep(POLL)
        waited += POLL
        current = await run_in_threadpool(_record, kassa, org_id, key)
    return current


class Idempotency:
    """The layer below the request guards (which read the body) and above the routes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _header(scope, b"idempotency-key") \
            if scope["type"] == "http" and scope["method"] == "POST" else None
        # The outer layer (api/audit.py) authenticated the key; no org: the route answers 401.
        org_id = scope.get("state", {}).get("org_id")
        if key is not None and (not key or len(key) > MAX_KEY_LENGTH):
            await envelope(400, "invalid_request_error", "idempotency_key_invalid",
                           f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters."
                           )(scope, receive, send)
            return
        if key is None or org_id is None:
            await self.app(scope, receive, send)
            return
        body, receive = await _read_body(receive)
        digest = hashlib.sha256(b"POST " + Request(scope).url.path.encode() + b"\n"
                                + body).hexdigest()
        kassa: Kassa = scope["app"].state.kassa
        existing = await run_in_threadpool(_reserve, kassa, org_id, key, digest)
        if existing is not None:
            await _answer_again(kassa, org_id, key, digest, existing)(scope, receive, send)
            return
        start: Message = {}
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self.app(scope, receive, keep)
        except BaseException:
            await run_in_threadpool(_complete, kassa, org_id, key, 500, b"")
            raise
        content = b"".join(chunks)
        await run_in_threadpool(_complete, kassa, org_id, key, start["status"], content,
                                scope["state"].pop(ENTRY, None))
        # The answer goes out only once it is recorded: a retry after it always replays it.
        status = start["status"]
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        if not (status < 200 or status in (204, 304)):
            headers.append((b"content-length", str(len(content)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": content})


def _answer_again(kassa: Kassa, org_id: str, key: str, digest: str,
                  existing: _Record) -> Any:
    """What a request with a key taken before gets: the first answer, or why not."""

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        if existing.request_hash != digest:
            response: Response = envelope(
                409, "idempotency_error", "idempotency_key_reused",
                "This Idempotency-Key was used with a different request.")
        else:
            finished = await _finished(kassa, org_id, key, existing)
            if finished is None:
                response = envelope(409, "idempotency_error", "idempotency_key_in_use",
                                    "The first request with this Idempotency-Key failed; "
                                    "send it again.")
            elif finished.status_code is None:
                response = envelope(409, "idempotency_error", "idempotency_key_in_use",
                                    "A request with this Idempotency-Key is still in "
                                    "progress.")
            else:
                response = Response(finished.response_body, status_code=finished.status_code,
                                    media_type="application/json",
                                    headers={"Idempotent-Replayed": "true"})
        await response(scope, receive, send)

    return answer


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole body, and a `receive` that gives it to the route again."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), receive
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    return body, replay(body, receive)


def install(app: FastAPI) -> None:
    app.add_middleware(Idempotency)
