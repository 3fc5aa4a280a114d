"""The FastAPI application: /v1 routes, the error envelope and idempotency."""

from __future__ import annotations

import gc

from fastapi import APIRouter, FastAPI

import kassa
from kassa.adapters.gateways import sandbox_page
from kassa.api import (
    audit,
    bank,
    billing_portal,
    catalog,
    clocks_and_events,
    coupons,
    credit_notes,
    customers,
    documents,
    dunning,
    emails,
    entitlements,
    errors,
    exchange_rates,
    idempotency,
    invoices,
    keys,
    ledger,
    logos,
    meters,
    payments,
    price_migrations,
    reports,
    subscriptions,
    tax_rates,
    tax_reports,
    vat,
    webhooks,
)
from kassa.api.guards import RequestGuards
from kassa.config import Kassa, Settings
from kassa.web import dashboard as web_dashboard
from kassa.web import portal as web_portal
from kassa.web import portal_login, portal_subscriptions


def create_app(instance: Kassa) -> FastAPI:
    app = FastAPI(title="Kassa", version=kassa.__version__,
                  description="Subscription billing and payments. Stripe's resource names and "
                              "semantics where Stripe has the concept; amounts are integers "
                              "in the currency's minor unit.")
    app.state.kassa = instance
    v1 = APIRouter(prefix="/v1")
    for module in (customers, catalog, subscriptions, invoices, credit_notes, meters, coupons,
                   clocks_and_events, entitlements, price_migrations, tax_rates,
                   exchange_rates, tax_reports, vat, emails, logos, payments, bank, dunning,
                   webhooks, audit, keys, billing_portal, reports, ledger):
        v1.include_router(module.router)
    v1.include_router(documents.router)
    app.include_router(v1)
    app.include_router(documents.public)  # the hosted invoice page: no API key
    app.include_router(payments.public)  # gateway webhooks: verified by their signature
    # the customer portal: its own session cookie
    web_portal.install(app, portal_subscriptions.router, portal_login.router)
    web_dashboard.install(app)  # the operator dashboard: its own session cookie
    # The sandbox gateway's own pages (hosted card fields, 3-D Secure): not Kassa's API.
    app.include_router(sandbox_page.router(instance.sandbox))

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    errors.install(app, pages={"/portal": web_portal.error_page})
    idempotency.install(app)
    app.add_middleware(RequestGuards)  # runs before idempotency
    app.add_middleware(audit.RequestActors)  # outermost: ids every request
    return app


def create_app_from_env() -> FastAPI:
    """The app configured from the environment as `kassa serve` configures it, for uvicorn's
    `--factory` (e.g. `uvicorn kassa.api.app:create_app_from_env --factory --workers 4`: each
    worker process builds its own). It neither migrates nor runs the scheduler."""
    app = create_app(Kassa(Settings.from_env()))
    # What exists now lives as long as the process: keep it out of the garbage collector's
    # full passes, which large requests (a batch of 10,000 usage events) trigger often.
    gc.freeze()
    return app
