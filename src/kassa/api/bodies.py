"""Request bodies that are files (an XML rate file, a logo): type-checked and size-bounded
while they are read, so an oversized upload is refused without being held in memory."""

from __future__ import annotations

from collections.abc import Collection

from fastapi import Request

from kassa.core.errors import InvalidRequest, PayloadTooLarge


async def read(request: Request, *, types: Collection[str] | None, max_bytes: int,
               too_large: str, wrong_type: str = "", param: str | None = None) -> bytes:
    """The body, if its Content-Type is one of `types` (None: any) and it has at most
    `max_bytes`."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if types is not None and kind not in types:
        raise InvalidRequest(wrong_type, param=param, code="content_type_invalid")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(too_large, param=param)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(too_large, param=param)
        chunks.append(chunk)
    return b"".join(chunks)
