"""Request dependencies: the Kassa instance, the caller's organization, list parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from kassa.config import Kassa
from kassa.core.errors import AuthenticationFailed
from kassa.services import organizations
from kassa.services.scoping import MAX_PAGE, Page


def get_kassa(request: Request) -> Kassa:
    kassa: Kassa = request.app.state.kassa
    return kassa


# The dependencies of every route are `async`: they do no I/O (the outer layer, api/audit.py,
# verified the key), and FastAPI would run a plain `def` dependency on a worker thread.

async def _kassa(request: Request) -> Kassa:
    return get_kassa(request)


def bearer_secret(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise AuthenticationFailed("No API key provided. Send 'Authorization: Bearer sk_...'.")
    return secret.strip()


async def authenticate(request: Request, kassa: Annotated[Kassa, Depends(_kassa)]) -> str:
    """The organization id of the caller's secret key."""
    cached: str | None = getattr(request.state, "org_id", None)
    if cached:
        return cached
    # The outer layer found no valid key: say why (on a worker thread, as it may read).
    org_id = await run_in_threadpool(_authenticate, kassa, request)
    request.state.org_id = org_id
    return org_id


def _authenticate(kassa: Kassa, request: Request) -> str:
    with kassa.uow() as uow:
        return organizations.authenticate(uow.session, kassa.pepper, bearer_secret(request),
                                          kassa.clock.now())


@dataclass
class Context:
    kassa: Kassa
    org_id: str


async def context(kassa: Annotated[Kassa, Depends(_kassa)],
                  org_id: Annotated[str, Depends(authenticate)]) -> Context:
    return Context(kassa, org_id)


Ctx = Annotated[Context, Depends(context)]


@dataclass
class PageParams:
    limit: int
    starting_after: str | None
    ending_before: str | None
    created: dict[str, int]

    def asdict(self) -> dict[str, Any]:
        page: dict[str, Any] = {"limit": self.limit, "starting_after": self.starting_after,
                                "ending_before": self.ending_before}
        if self.created:
            page["created"] = self.created
        return page


Stamp = Annotated[int | None, Query(ge=0, le=4_102_444_800)]


async def page_params(limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 10,
                      starting_after: Annotated[str | None, Query(max_length=100)] = None,
                      ending_before: Annotated[str | None, Query(max_length=100)] = None,
                      created_gt: Annotated[Stamp, Query(alias="created[gt]")] = None,
                      created_gte: Annotated[Stamp, Query(alias="created[gte]")] = None,
                      created_lt: Annotated[Stamp, Query(alias="created[lt]")] = None,
                      created_lte: Annotated[Stamp, Query(alias="created[lte]")] = None,
                      ) -> PageParams:
    """Stripe's list parameters: `limit`, the cursors, and `created[gt|gte|lt|lte]` (Unix
    timestamps) on every list."""
    bounds = {"gt": created_gt, "gte": created_gte, "lt": created_lt, "lte": created_lte}
    return PageParams(limit, starting_after, ending_before,
                      {op: value for op, value in bounds.items() if value is not None})


Paging = Annotated[PageParams, Depends(page_params)]


def listing(request: Request, page: Page, render: Any) -> dict[str, Any]:
    """A Stripe-style list object."""
    return {"object": "list", "url": request.url.path, "has_more": page.has_more,
            "data": [render(row) for row in page.rows]}


Expand = Annotated[list[str] | None, Query(
    alias="expand[]", max_length=10,
    description="Properties to expand into objects: customer, subscription, invoice, "
                "latest_invoice, payment, payment_method, price, product (data.x on lists)")]
