"""Request guards below the routes: an empty POST body means "no parameters" (as in Stripe),
a NUL character anywhere in the URL is refused before it can reach the database, and a body
larger than Kassa ever takes is refused with 413 while it is read (JSON: 1 MB; files such as
bank statements: 20 MB, each route checking its own smaller limit)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kassa.api.errors import envelope

MAX_JSON_BYTES = 1024 * 1024
MAX_FILE_BYTES = 20 * 1024 * 1024


class RequestGuards:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nul_param = _nul_in_url(scope)
        if nul_param is not None:
            response = envelope(400, "invalid_request_error", "parameter_invalid",
                                "The URL must not contain NUL characters.", nul_param or None)
            await response(scope, receive, send)
            return
        if scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        limit = _limit_for(scope)
        body = await _read_body(receive, limit)
        if body is None:
            response = envelope(413, "invalid_request_error", "request_too_large",
                                f"The request body is larger than {limit // 1024} KB.")
            await response(scope, receive, send)
            return
        if not body.strip():
            body = b"{}"
            headers = [(k, v) for k, v in scope["headers"]
                       if k not in (b"content-type", b"content-length")]
            scope = {**scope, "headers": [*headers, (b"content-type", b"application/json"),
                                          (b"content-length", b"2")]}
        await self.app(scope, replay(body, receive), send)


def _nul_in_url(scope: Scope) -> str | None:
    """The query parameter holding a NUL character ('id' for the path), or None."""
    if "\x00" in scope.get("path", ""):
        return "id"
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "")
    return None


def _limit_for(scope: Scope) -> int:
    """JSON (or no declared type) gets the JSON limit; a file upload the file limit."""
    headers = dict(scope["headers"])
    kind = headers.get(b"content-type", b"").partition(b";")[0].strip().lower()
    return MAX_JSON_BYTES if kind in (b"", b"application/json") else MAX_FILE_BYTES


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None once it grows past `limit` (the rest is not read)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then the client's own."""
    sent = False

    async def receive_again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receive_again



