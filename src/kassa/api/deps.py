"""Request dependencies: the Kassa instance, the caller's organization, list parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from kassa.config import Kassa
from kassa.core.errors import AuthenticationFailed
from kassa.services import organizations
from kassa.services.scoping import MAX_PAGE, Page


def get_kassa(request: Request) -> Kassa:
    kassa: Kassa = request.app.state.kassa
    return kassa


def bearer_secret(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise AuthenticationFailed("No API key provided. Send 'Authorization: Bearer sk_...'.")
    return secret.strip()


def authenticate(request: Request, kassa: Annotated[Kassa, Depends(get_kassa)]) -> str:
    """The organization id of the caller's secret key."""
    cached: str | None = getattr(request.state, "org_id", None)
    if cached:
        return cached
    with kassa.uow() as uow:
        org_id = organizations.authenticate(uow.session, kassa.pepper, bearer_secret(request))
    request.state.org_id = org_id
    return org_id


@dataclass
class Context:
    kassa: Kassa
    org_id: str


def context(kassa: Annotated[Kassa, Depends(get_kassa)],
            org_id: Annotated[str, Depends(authenticate)]) -> Context:
    return Context(kassa, org_id)


Ctx = Annotated[Context, Depends(context)]


@dataclass
class PageParams:
    limit: int
    starting_after: str | None
    ending_before: str | None

    def asdict(self) -> dict[str, Any]:
        return {"limit": self.limit, "starting_after": self.starting_after,
                "ending_before": self.ending_before}


def page_params(limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 10,
                starting_after: str | None = None,
                ending_before: str | None = None) -> PageParams:
    return PageParams(limit, starting_after, ending_before)


Paging = Annotated[PageParams, Depends(page_params)]


def listing(request: Request, page: Page, render: Any) -> dict[str, Any]:
    """A Stripe-style list object."""
    return {"object": "list", "url": request.url.path, "has_more": page.has_more,
            "data": [render(row) for row in page.rows]}
