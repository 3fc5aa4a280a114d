"""A local stand-in for a gateway's HTTP API, and the gateways' own example objects.

`FakeAPI` is a real HTTP server on 127.0.0.1 (a free port, in a thread): a test registers
what each route answers (a status and a JSON body, or a function of the request) and reads
back every request the SDK sent (method, path, query, headers, form or JSON body). The SDKs
under test talk to it over HTTP exactly as they would to the gateway.

The answers are built from the gateways' own examples, read at run time from
`../shared/samples/gateways/` (Stripe's `fixtures3.json`, Mollie's SDK test responses) and
changed per test: `stripe_object("payment_intent", status="succeeded")`.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "gateways"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any]  # the form fields (Stripe: flat, `metadata[k]` keys) or the JSON


Reply = tuple[int, Any]  # (HTTP status, JSON body)
Route = Reply | Callable[[Request], Reply]


@dataclass
class FakeAPI:
    """Routes are keyed by (method, path); a route given several replies answers them in
    turn and then repeats the last one. An unknown route answers 404."""

    content_type: str = "application/json"
    requests: list[Request] = field(default_factory=list)
    _routes: dict[tuple[str, str], list[Route]] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def route(self, method: str, path: str, *replies: Route) -> None:
        self._routes[(method.upper(), path)] = list(replies)

    def sent(self, method: str, path: str) -> list[Request]:
        return [r for r in self.requests if r.method == method.upper() and r.path == path]

    def answer(self, request: Request) -> Reply:
        self.requests.append(request)
        replies = self._routes.get((request.method, request.path))
        if not replies:
            return 404, {"error": {"type": "invalid_request_error",
                                   "message": f"no route {request.method} {request.path}"},
                         "status": 404, "title": "Not Found", "detail": "No route"}
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        return reply(request) if callable(reply) else reply

    def __enter__(self) -> FakeAPI:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()


def _handler_for(api: FakeAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            headers = {k.lower(): v for k, v in self.headers.items()}
            if not raw:
                body: dict[str, Any] = {}
            elif "json" in headers.get("content-type", ""):
                body = json.loads(raw)
            else:
                body = dict(parse_qsl(raw, keep_blank_values=True))
            request = Request(self.command, url.path, dict(parse_qsl(url.query)), headers, body)
            status, payload = api.answer(request)
            data = b"" if status == 204 else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", api.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", f"req_fake_{len(api.requests)}")
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest's output quiet

    return Handler


def _sample_path(*parts: str) -> Path:
    path = SAMPLES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"gateway samples not found at {path}")
    return path


@cache
def _stripe_resources() -> dict[str, Any]:
    resources: dict[str, Any] = json.loads(
        _sample_path("stripe", "fixtures3.json").read_text())["resources"]
    return resources


def stripe_object(name: str, **changes: Any) -> dict[str, Any]:
    """A fresh copy of Stripe's example `name` object (payment_intent, customer...) with
    `changes` applied to its top-level fields."""
    return {**copy.deepcopy(_stripe_resources()[name]), **changes}


def mollie_response(name: str, **changes: Any) -> dict[str, Any]:
    """A fresh copy of the Mollie SDK's test response `name` (e.g. "payment_single") with
    `changes` applied to its top-level fields."""
    data = json.loads(_sample_path("mollie", "tests", "responses", f"{name}.json").read_text())
    return {**data, **changes}
