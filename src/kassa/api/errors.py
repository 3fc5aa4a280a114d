"""The one error envelope: {"error": {"type", "code", "message", "param"}} with a 4xx status."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from kassa.core import errors

log = logging.getLogger("kassa.api")

STATUS = {
    errors.AuthenticationFailed: 401,
    errors.NotFound: 404,
    errors.PayloadTooLarge: 413,
    errors.PaymentFailed: 402,
    errors.Conflict: 409,
    errors.InvalidRequest: 400,
}


def envelope(status: int, type_: str, code: str, message: str,
             param: str | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {
        "type": type_, "code": code, "message": message, "param": param}})


def status_of(exc: errors.KassaError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def _param(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    # pydantic also names the member of a union ("constrained-int", "literal['now']"); the
    # caller only needs the field names and list indexes.
    parts = [p for p in parts
             if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\[[a-z_]+\])?|\d+", p)]
    if not parts:
        return None
    return parts[0] + "".join(f"[{p}]" for p in parts[1:])


def _validation_error(exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0]
    kind = first.get("type", "")
    if kind == "json_invalid":
        return envelope(400, "invalid_request_error", "json_invalid",
                        "The request body is not valid JSON.")
    if kind == "model_attributes_type" or (kind == "dict_type" and len(first["loc"]) <= 1):
        return envelope(400, "invalid_request_error", "body_invalid",
                        "The request body must be a JSON object.")
    param = _param(tuple(first.get("loc", ())))
    if kind == "missing":
        return envelope(400, "invalid_request_error", "parameter_missing",
                        f"Missing required parameter: {param}.", param)
    if kind == "extra_forbidden":
        return envelope(400, "invalid_request_error", "parameter_unknown",
                        f"Received unknown parameter: {param}.", param)
    return envelope(400, "invalid_request_error", "parameter_invalid",
                    f"Invalid {param}: {first.get('msg', 'invalid value')}.", param)


PageRenderer = Callable[[Request, int, str], Response]


def install(app: FastAPI, pages: Mapping[str, PageRenderer] | None = None) -> None:
    """Map every error to the envelope; nothing but a bug may become a 5xx. Under the path
    prefixes of `pages` (web pages, not the API), a malformed request or an unknown address
    is answered with the page `pages[prefix]` renders from its status and message."""

    def _as_page(request: Request, response: JSONResponse) -> Response:
        for prefix, render in (pages or {}).items():
            if request.url.path == prefix or request.url.path.startswith(prefix + "/"):
                message = json.loads(response.body)["error"]["message"]
                return render(request, response.status_code, message)
        return response

    @app.exception_handler(errors.KassaError)
    async def _kassa(_: Request, exc: errors.KassaError) -> JSONResponse:
        return envelope(status_of(exc), exc.type, exc.code, exc.message, exc.param)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return _as_page(request, _validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "resource_missing", 405: "method_not_allowed"}.get(exc.status_code,
                                                                       "invalid_request")
        message = "Unrecognized request URL." if exc.status_code == 404 else str(exc.detail)
        return _as_page(request, envelope(exc.status_code, "invalid_request_error", code,
                                          message))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return envelope(500, "api_error", "internal_error",
                        "Something went wrong on Kassa's side; this is a bug.")
