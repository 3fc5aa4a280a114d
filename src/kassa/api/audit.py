"""Every request gets an id (`Request-Id` in the answer) and, when it carries a valid API key,
an actor for the events it writes (core/actors.py); the key's scope and rate are checked
before anything runs (403, 429); a mutation that succeeded is written to the audit log
(`GET /v1/audit_log`)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kassa.api.deps import Ctx, Paging, bearer_secret, listing
from kassa.api.errors import envelope
from kassa.config import Kassa
from kassa.core import actors
from kassa.core.errors import AuthenticationFailed
from kassa.core.ids import new_id
from kassa.core.ratelimit import retry_after
from kassa.services import api_keys, audit

router = APIRouter(tags=["audit log"])

MUTATIONS = ("POST", "DELETE", "PUT", "PATCH")
MAX_CAPTURE = 64 * 1024  # enough of a JSON answer to read its "id"
# In the request's scope state: (session, status, body) -> None, adding the audit entry of a
# mutation to a transaction. Whoever takes it out writes the entry; else this layer does.
ENTRY = "kassa.audit_entry"


@router.get("/audit_log")
def list_audit_log(request: Request, ctx: Ctx, page: Paging, resource: str | None = None,
                   actor: str | None = None) -> dict[str, Any]:
    """Every change made through the API, newest first: the actor (the API key's id), the
    request (id, method, path, status, address) and, per object changed, its fields before
    and after. Filter by `resource` (the object a request answered with) or `actor`."""
    with ctx.kassa.uow() as uow:
        result = audit.list_entries(uow, ctx.org_id, object_id=resource, actor=actor,
                                    **page.asdict())
        return listing(request, result, audit.entry_object)


class RequestActors:
    """The outermost layer: request id, actor, and the audit entry of a mutation."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kassa: Kassa = scope["app"].state.kassa
        request_id = new_id("req")
        client = scope.get("client")
        key = await _key(kassa, scope)
        actor, refusal = _admit(kassa, scope, key, request_id, client[0] if client else None)
        if refusal is not None:
            refusal.headers["request-id"] = request_id
            await refusal(scope, receive, send)
            return
        # A mutation's entry is written after its answer; the idempotency layer takes this
        # to write it in the same transaction as the answer it keeps for retries.
        if actor is not None and scope["method"] in MUTATIONS and scope["path"].startswith("/v1/"):
            scope["state"][ENTRY] = functools.partial(_add_entry, kassa, scope, actor)
        status = 0
        replayed = False
        captured = bytearray()

        async def send_with_id(message: Message) -> None:
            nonlocal status, replayed
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                replayed = any(k.lower() == b"idempotent-replayed" for k, _ in headers)
                headers.append((b"request-id", request_id.encode()))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and len(captured) < MAX_CAPTURE:
                captured.extend(message.get("body", b"")[:MAX_CAPTURE - len(captured)])
            await send(message)

        token = actors.current.set(actor)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            actors.current.reset(token)
        entry = scope.get("state", {}).pop(ENTRY, None)  # not taken by the idempotency layer
        if entry is not None and not replayed:
            await run_in_threadpool(_write_entry, kassa, entry, status, bytes(captured))



async def _key(kassa: Kassa, scope: Scope) -> api_keys.VerifiedKey | None:
    """The valid API key the request carries, if any: from this process's cache in the event
    loop, else from the database in a thread."""
    try:
        secret = bearer_secret(Request(scope))
    except AuthenticationFailed:
        return None
    key = api_keys.cached_key(kassa.session_factory, kassa.pepper, secret, kassa.clock.now())
    return key if key is not None else await run_in_threadpool(_verified_key, kassa, secret)


def _verified_key(kassa: Kassa, secret: str) -> api_keys.VerifiedKey | None:
    """The valid API key of `secret`, if it is one (the route's own authentication says why
    not)."""
    try:
        return api_keys.verified_key(kassa.session_factory, kassa.pepper, secret,
                                     kassa.clock.now())
    except AuthenticationFailed:
        return None


def _admit(kassa: Kassa, scope: Scope, key: api_keys.VerifiedKey | None, request_id: str,
           ip: str | None) -> tuple[actors.Actor | None, Response | None]:
    """The actor of a request with a valid key (the route's own authentication then reuses
    it), or the refusal of a key whose scope does not reach the resource (403) or that is
    over its rate (429)."""
    if key is None:
        return None, None
    resource = api_keys.resource_of(scope["path"])
    write = scope["method"] not in ("GET", "HEAD", "OPTIONS")
    if resource is not None and not api_keys.allows(key.scope, resource, write):
        return None, envelope(403, "permission_error", "api_key_scope",
                              f"This API key may not {'change' if write else 'read'} "
                              f"{resource}.")
    wait = kassa.rate_limiter.take(key.id)
    if wait:
        refusal = envelope(429, "rate_limit_error", "rate_limited",
                           "Too many requests with this API key; slow down.")
        refusal.headers["retry-after"] = retry_after(wait)
        return None, refusal
    scope.setdefault("state", {})["org_id"] = key.org_id
    scope["state"]["actor_org_id"] = key.org_id
    return actors.Actor("api_key", key.id, request_id, ip), None


def _write_entry(kassa: Kassa, entry: Callable[[Session, int, bytes], None], status: int,
                 body: bytes) -> None:
    with kassa.session_factory() as session:
        entry(session, status, body)
        session.commit()


def _add_entry(kassa: Kassa, scope: Scope, actor: actors.Actor, session: Session, status: int,
               body: bytes) -> None:
    """Add the entry of a mutation that succeeded to `session`'s transaction."""
    if 200 <= status < 300:
        audit.add(session, scope["state"]["actor_org_id"], actor, **_entry_fields(
            kassa, scope, status, body))


def _entry_fields(kassa: Kassa, scope: Scope, status: int, body: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(body) if body else {}
    except ValueError:
        answer = {}
    object_id = answer.get("id") if isinstance(answer, dict) else None
    return {"method": scope["method"], "path": scope["path"], "status_code": status,
            "object_id": object_id if isinstance(object_id, str) else None,
            "now": kassa.clock.now()}
