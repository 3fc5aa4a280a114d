"""Kassa's tables. Every row belongs to an organization (`org_id`), and queries are scoped by it."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from kassa.store.types import ExactDecimal, UTCDateTime


class Base(DeclarativeBase):
    # Named constraints, so later migrations can drop or alter them on every database.
    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s"})
    type_annotation_map = {
        datetime: UTCDateTime(),
        Decimal: ExactDecimal(),
        dict[str, Any]: JSON(),
        int: BigInteger(),
    }


def _org(*, index: bool = True) -> Mapped[str]:
    """The owning organization. `index=False` where an index led by `org_id` already serves
    tenant-scoped reads, or where rows are read only through another table (a second index
    would only be written, never read; organizations are never deleted, so the foreign key's
    checks need none)."""
    return mapped_column(String(40), ForeignKey("organizations.id"), index=index)


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    legal_name: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[dict[str, Any]] = mapped_column(default=dict)
    country: Mapped[str | None] = mapped_column(String(2))
    vat_id: Mapped[str | None] = mapped_column(String(40))
    iban: Mapped[str | None] = mapped_column(String(40))
    default_currency: Mapped[str] = mapped_column(String(3), default="eur")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    locale: Mapped[str] = mapped_column(String(16), default="en")
    invoice_prefix: Mapped[str] = mapped_column(String(20))
    invoice_number_format: Mapped[str] = mapped_column(String(60))
    brand_color: Mapped[str | None] = mapped_column(String(7))
    logo_url: Mapped[str | None] = mapped_column(String(500))
    # An uploaded logo: its path in the file store (POST /v1/organization/logo).
    logo_path: Mapped[str | None] = mapped_column(String(200))
    draft_grace_seconds: Mapped[int] = mapped_column(default=3600)
    invoice_lead_days: Mapped[int] = mapped_column(default=0)
    days_until_due: Mapped[int] = mapped_column(default=14)
    proration_granularity: Mapped[str] = mapped_column(String(10), default="second")
    # The currency reports are in (None: the default currency); exchange rates convert.
    reporting_currency: Mapped[str | None] = mapped_column(String(3))
    # Kassa computes tax on every invoice (Stripe's automatic_tax); off: no tax at all.
    automatic_tax: Mapped[bool] = mapped_column(Boolean, default=True)
    # Customer e-mails: which kinds are off, reminder lead days, sender (services/emails.py).
    email_settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    support_email: Mapped[str | None] = mapped_column(String(320))
    # Payments: refund window, SEPA creditor id, accepted methods (services/payments.py).
    payment_settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What customers may do in the self-service portal (services/portal_settings.py).
    portal_settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Gross margin in percent, for customer lifetime value and CAC payback (reports).
    gross_margin_percent: Mapped[Decimal] = mapped_column(default=Decimal(80))
    created: Mapped[datetime]


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    secret_hash: Mapped[str] = mapped_column(String(128), unique=True)
    last4: Mapped[str] = mapped_column(String(4))
    name: Mapped[str | None] = mapped_column(String(100))
    created: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # secret (sk_) | publishable (pk_, for the portal's browser side; no /v1 access)
    type: Mapped[str] = mapped_column(String(20), default="secret", server_default="secret")
    # {"mode": "full" | "read_only" | "restricted", "resources": {name: "read" | "write"}}
    scope: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    expires_at: Mapped[datetime | None]  # a rolled key stops working then
    last_used_at: Mapped[datetime | None]


class TestClock(Base):
    __tablename__ = "test_clocks"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    name: Mapped[str | None] = mapped_column(String(200))
    frozen_time: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="ready")
    created: Mapped[datetime]


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("org_id", "external_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    address: Mapped[dict[str, Any]] = mapped_column(default=dict)
    country: Mapped[str | None] = mapped_column(String(2))
    vat_id: Mapped[str | None] = mapped_column(String(40))
    currency: Mapped[str | None] = mapped_column(String(3))
    timezone: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(16))
    tax_exempt: Mapped[str] = mapped_column(String(10), default="none")
    # The VAT id's check with the EU's VIES: unchecked | valid | invalid | unavailable.
    vat_status: Mapped[str] = mapped_column(String(12), default="unchecked")
    vat_checked_at: Mapped[datetime | None]
    # The customer's Peppol participant id "scheme:identifier" (e.g. "0208:0123456789").
    peppol_id: Mapped[str | None] = mapped_column(String(80))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    external_id: Mapped[str | None] = mapped_column(String(200))
    balance: Mapped[int] = mapped_column(default=0)
    # The payment method charged automatically, and the customer's id at each gateway.
    default_payment_method_id: Mapped[str | None] = mapped_column(String(40))
    # None: the organization's default dunning policy.
    dunning_policy_id: Mapped[str | None] = mapped_column(String(40))
    gateway_refs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    test_clock_id: Mapped[str | None] = mapped_column(ForeignKey("test_clocks.id"), index=True)
    created: Mapped[datetime]
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # Personal data erased (services/privacy.py); invoices keep what tax law needs.
    erased_at: Mapped[datetime | None]


class BalanceTransaction(Base):
    __tablename__ = "balance_transactions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    type: Mapped[str] = mapped_column(String(30))
    description: Mapped[str | None] = mapped_column(String(500))
    invoice_id: Mapped[str | None] = mapped_column(String(40))
    ending_balance: Mapped[int]
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict,
                                                      server_default="{}")
    created: Mapped[datetime]


class Product(Base):
    __tablename__ = "products"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    name: Mapped[str] = mapped_column(String(250))
    description: Mapped[str | None] = mapped_column(Text)
    # What one unit of quantity is called on invoices ("seat"), as Stripe's unit_label.
    unit_label: Mapped[str | None] = mapped_column(String(12))
    # What kind of supply it is for tax (domain/tax.py TAX_CODES); None: a digital service.
    tax_code: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created: Mapped[datetime]


class Price(Base):
    __tablename__ = "prices"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    unit_amount_decimal: Mapped[Decimal | None]
    type: Mapped[str] = mapped_column(String(20))
    billing_scheme: Mapped[str] = mapped_column(String(20), default="per_unit")
    recurring_interval: Mapped[str | None] = mapped_column(String(10))
    recurring_interval_count: Mapped[int | None] = mapped_column(Integer)
    recurring_usage_type: Mapped[str | None] = mapped_column(String(10))
    tiers_mode: Mapped[str | None] = mapped_column(String(10))
    tiers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    transform_quantity: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    currency_options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    meter_id: Mapped[str | None] = mapped_column(ForeignKey("meters.id"))
    percentage: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # exclusive: tax is added on top; inclusive: the amount includes tax, extracted.
    tax_behavior: Mapped[str] = mapped_column(String(12), default="exclusive")
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"))
    nickname: Mapped[str | None] = mapped_column(String(250))
    lookup_key: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created: Mapped[datetime]

    product: Mapped[Product] = relationship(lazy="joined")


class Subscription(Base):
    __tablename__ = "subscriptions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    collection_method: Mapped[str] = mapped_column(String(30))
    days_until_due: Mapped[int | None]
    payment_behavior: Mapped[str] = mapped_column(String(30), default="allow_incomplete")
    awaiting_first_payment: Mapped[bool] = mapped_column(Boolean, default=False)
    start_date: Mapped[datetime]
    billing_cycle_anchor: Mapped[datetime]
    prorate_first_period: Mapped[bool] = mapped_column(Boolean, default=True)
    trial_start: Mapped[datetime | None]
    trial_end: Mapped[datetime | None]
    current_period_start: Mapped[datetime]
    current_period_end: Mapped[datetime]
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel_at: Mapped[datetime | None]
    canceled_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    invoice_lead_days: Mapped[int | None]
    billed_through: Mapped[datetime | None]
    usage_billed_through: Mapped[datetime | None]
    usage_closed_through: Mapped[datetime | None]
    minimum_amount: Mapped[int | None]
    next_billing_at: Mapped[datetime | None]
    next_action_at: Mapped[datetime | None] = mapped_column(index=True)
    latest_invoice_id: Mapped[str | None] = mapped_column(String(40))
    # None: the organization's granularity ("second" or "day").
    proration_granularity: Mapped[str | None] = mapped_column(String(10))
    # The effective time of the latest item change: an earlier (backdated) one is refused.
    items_changed_at: Mapped[datetime | None]
    # {"behavior": keep_as_draft | mark_uncollectible | void, "resumes_at": unix | None}
    pause_collection: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Service paused from this moment (unused time credited); billing restarts on resume.
    paused_at: Mapped[datetime | None]
    resumes_at: Mapped[datetime | None]
    # Service began again here (after a pause, or a billing cycle reset to this moment).
    restarted_at: Mapped[datetime | None]
    # Service (entitlements) suspended by dunning since this moment, until the invoice is
    # paid; derived from the open dunning cases of its invoices (services/schedule.py).
    suspended_at: Mapped[datetime | None]
    # Why it ended: cancellation_requested | payment_failed (dunning's final action).
    cancellation_reason: Mapped[str | None] = mapped_column(String(40))
    # What the customer said when cancelling (domain/subscriptions.CANCELLATION_FEEDBACK).
    cancellation_feedback: Mapped[str | None] = mapped_column(String(40))
    cancellation_comment: Mapped[str | None] = mapped_column(String(500))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created: Mapped[datetime]

    items: Mapped[list[SubscriptionItem]] = relationship(
        back_populates="subscription", lazy="selectin", order_by="SubscriptionItem.id")


class SubscriptionItem(Base):
    __tablename__ = "subscription_items"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    price_id: Mapped[str] = mapped_column(ForeignKey("prices.id"))
    quantity: Mapped[int] = mapped_column(default=1)
    # Set for the items of a subscription schedule: they bill from this phase start on.
    phase_start: Mapped[datetime | None]
    # A removed item is kept (its usage up to this moment is still billed); None: current.
    ended_at: Mapped[datetime | None]
    # A price migration moves the item to this price from `migrate_at` (a renewal) on.
    migrate_to_price_id: Mapped[str | None] = mapped_column(String(40))
    migrate_at: Mapped[datetime | None]
    # A change at the period's end (a downgrade) may also set the quantity from then on.
    migrate_quantity: Mapped[int | None]
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created: Mapped[datetime]

    subscription: Mapped[Subscription] = relationship(back_populates="items")
    price: Mapped[Price] = relationship(lazy="joined", foreign_keys=[price_id])
    migrate_to_price: Mapped[Price | None] = relationship(
        primaryjoin="foreign(SubscriptionItem.migrate_to_price_id) == Price.id",
        lazy="joined", viewonly=True)


_FINALIZES = "status = 'draft' AND auto_finalize_at IS NOT NULL"


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("org_id", "number"),
        # Drafts whose grace period runs out (services/billing.py `due_customer_ids`). Partial,
        # so no index leads with `status`: the billing batch's reads of its customers' open
        # invoices and drafts (services/prefetch.py) take the customer index, whatever the
        # statistics say; by status they scanned every open invoice, which a billing run
        # makes more of with each batch.
        Index("ix_invoices_draft_finalize", "auto_finalize_at",
              postgresql_where=text(_FINALIZES), sqlite_where=text(_FINALIZES)),
        # The automatic charges due (services/payments.py `due_invoice_ids`).
        Index("ix_invoices_next_payment_attempt", "next_payment_attempt",
              postgresql_where=text("next_payment_attempt IS NOT NULL"),
              sqlite_where=text("next_payment_attempt IS NOT NULL")),
        Index("ix_invoices_customer_billing", "customer_id", "billing_at", "currency"),
        # Reports: what was invoiced in a month, what was still unpaid at a moment.
        Index("ix_invoices_org_finalized", "org_id", "finalized_at"),
        Index("ix_invoices_org_paid", "org_id", "paid_at"),
        # Dunning's next steps (services/dunning.py); most invoices have none.
        Index("ix_invoices_next_dunning_at", "next_dunning_at",
              postgresql_where=text("next_dunning_at IS NOT NULL"),
              sqlite_where=text("next_dunning_at IS NOT NULL")),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org(index=False)  # led by (org_id, number) and the reports' two
    # The customer's invoices: led by ix_invoices_customer_billing.
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    subscription_id: Mapped[str | None] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(20))
    number: Mapped[str | None] = mapped_column(String(60))
    currency: Mapped[str] = mapped_column(String(3))
    billing_reason: Mapped[str] = mapped_column(String(40))
    collection_method: Mapped[str] = mapped_column(String(30))
    billing_at: Mapped[datetime | None]
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    subtotal: Mapped[int] = mapped_column(default=0)
    tax: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    starting_balance: Mapped[int] = mapped_column(default=0)
    ending_balance: Mapped[int | None]
    amount_due: Mapped[int] = mapped_column(default=0)
    amount_paid: Mapped[int] = mapped_column(default=0)
    amount_remaining: Mapped[int] = mapped_column(default=0)
    days_until_due: Mapped[int | None]
    due_date: Mapped[datetime | None]
    auto_advance: Mapped[bool] = mapped_column(Boolean, default=True)
    auto_finalize_at: Mapped[datetime | None]
    paid_out_of_band: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text)
    customer_name: Mapped[str | None] = mapped_column(String(200))
    customer_email: Mapped[str | None] = mapped_column(String(320))
    customer_address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    customer_vat_id: Mapped[str | None] = mapped_column(String(40))
    total_discount: Mapped[int] = mapped_column(default=0)
    discounts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    total_excluding_tax: Mapped[int] = mapped_column(default=0)
    # One entry per tax group (category, rate, country): taxable amount, tax, legal note.
    tax_breakdown: Mapped[list[Any] | None] = mapped_column(JSON)
    # When the supply took place for tax: the rates valid then apply.
    supply_date: Mapped[datetime | None]
    # The unguessable token of the invoice's public hosted page (set at finalization).
    hosted_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created: Mapped[datetime]
    finalized_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]
    marked_uncollectible_at: Mapped[datetime | None]
    # Automatic collection: how many charges were tried, and when the next one is due.
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    next_payment_attempt: Mapped[datetime | None]
    # When the latest charge failed (cleared when one succeeds): the subscription is past due.
    payment_failed_at: Mapped[datetime | None]
    # The next moment dunning looks at the invoice again: a reminder, its due date passing,
    # a suspension or the final action (services/dunning.py).
    next_dunning_at: Mapped[datetime | None]

    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", lazy="selectin", order_by="InvoiceLine.position",
        cascade="all, delete-orphan")


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org(index=False)  # lines are read through their invoice
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(20))
    subscription_id: Mapped[str | None] = mapped_column(String(40))
    subscription_item_id: Mapped[str | None] = mapped_column(String(40))
    invoice_item_id: Mapped[str | None] = mapped_column(String(40))
    price_id: Mapped[str | None] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text)
    quantity: Mapped[int]
    unit_amount_decimal: Mapped[Decimal]
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    proration: Mapped[bool] = mapped_column(Boolean, default=False)
    proration_fraction: Mapped[Decimal | None]
    quantity_decimal: Mapped[Decimal | None]
    tier: Mapped[int | None] = mapped_column(Integer)
    discount_amount: Mapped[int] = mapped_column(default=0)
    # exclusive | inclusive: whether `amount` includes the tax.
    tax_behavior: Mapped[str] = mapped_column(String(12), default="exclusive")
    tax_code: Mapped[str | None] = mapped_column(String(40))
    # The tax decision (EN 16931 category code: S, Z, E, AE, K, G, O) and its share.
    tax_category: Mapped[str | None] = mapped_column(String(4))
    tax_rate: Mapped[Decimal | None]
    tax_country: Mapped[str | None] = mapped_column(String(2))
    tax_region: Mapped[str | None] = mapped_column(String(10))
    tax_rate_id: Mapped[str | None] = mapped_column(String(40))
    tax_amount: Mapped[int] = mapped_column(default=0)
    amount_excluding_tax: Mapped[int] = mapped_column(default=0)

    invoice: Mapped[Invoice] = relationship(back_populates="lines")


class BilledPeriod(Base):
    """One row per invoiced service period: the database's guard against double billing."""

    __tablename__ = "billed_periods"
    __table_args__ = (UniqueConstraint("subscription_id", "period_start", "kind"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    org_id: Mapped[str] = _org(index=False)  # read by subscription or invoice
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    # "advance": the period's licensed fees; "arrears": its usage, invoiced when it ends.
    kind: Mapped[str] = mapped_column(String(10), default="advance")
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), index=True)

    # Tells the unit of work to insert the invoice first when both are new in one flush.
    invoice: Mapped[Invoice] = relationship(lazy="raise")


class InvoiceItem(Base):
    """A one-off charge (or credit) waiting for the customer's next invoice, or on one."""

    __tablename__ = "invoice_items"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    invoice_id: Mapped[str | None] = mapped_column(String(40), index=True)
    price_id: Mapped[str | None] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(Text)
    quantity: Mapped[int] = mapped_column(default=1)
    unit_amount_decimal: Mapped[Decimal]
    amount: Mapped[int]
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    # Set on proration items: the subscription (item) whose change they bill or credit.
    subscription_id: Mapped[str | None] = mapped_column(String(40), index=True)
    subscription_item_id: Mapped[str | None] = mapped_column(String(40))
    proration: Mapped[bool] = mapped_column(Boolean, default=False)
    proration_fraction: Mapped[Decimal | None]
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created: Mapped[datetime]


class InvoiceSequence(Base):
    """The next invoice number of each series; finalization locks the row, so no gaps."""

    __tablename__ = "invoice_sequences"

    org_id: Mapped[str] = mapped_column(String(40), ForeignKey("organizations.id"),
                                        primary_key=True)
    series: Mapped[str] = mapped_column(String(60), primary_key=True)
    next_number: Mapped[int] = mapped_column(default=1)


class Event(Base):
    """The outbox: every state change writes its event in the same transaction."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_org_id_id", "org_id", "id"),
                      # the events still to hand to webhook endpoints (services/webhooks.py)
                      Index("ix_events_unrouted", "id", postgresql_where=text("routed IS NULL"),
                            sqlite_where=text("routed IS NULL")),
                      # An API request's events (the audit trail); the events of the system's
                      # own jobs (a billing run's, say) have no request and stay out of it.
                      Index("ix_events_request_id", "request_id",
                            postgresql_where=text("request_id IS NOT NULL"),
                            sqlite_where=text("request_id IS NOT NULL")))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40), ForeignKey("organizations.id"))
    # Read by organization (ix_events_org_id_id), filtered by type: no index of its own.
    type: Mapped[str] = mapped_column(String(80))
    object_id: Mapped[str] = mapped_column(String(40), index=True)
    data: Mapped[dict[str, Any]]
    created: Mapped[datetime]
    # When the event was handed to the organization's webhook endpoints (None: not yet).
    routed: Mapped[datetime | None]
    # Who caused it (core/actors.py): the API request's id, and the actor (None: the system).
    request_id: Mapped[str | None] = mapped_column(String(40))
    actor: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    org_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime]


class Meter(Base):
    """What usage is measured: events named `event_name`, aggregated by `formula`."""

    __tablename__ = "meters"
    __table_args__ = (UniqueConstraint("org_id", "event_name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    display_name: Mapped[str] = mapped_column(String(250))
    event_name: Mapped[str] = mapped_column(String(100))
    formula: Mapped[str] = mapped_column(String(20))
    value_key: Mapped[str] = mapped_column(String(100), default="value")
    customer_key: Mapped[str] = mapped_column(String(100), default="customer")
    dimension_filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    group_by: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="active")
    created: Mapped[datetime]


class MeterEvent(Base):
    """A usage event, stored once per identifier (duplicates are acknowledged, not counted)."""

    __tablename__ = "meter_events"
    # On PostgreSQL the index carries what reading usage needs, so a customer's events in a
    # period are aggregated from the index alone (services/usage_reading.py).
    __table_args__ = (Index("ix_meter_events_usage", "meter_id", "customer_id", "timestamp",
                            postgresql_include=["identifier", "value", "key", "counted",
                                                "voided_at"]),)

    org_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    identifier: Mapped[str] = mapped_column(String(100), primary_key=True)
    meter_id: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[str] = mapped_column(String(40))
    timestamp: Mapped[datetime]
    value: Mapped[Decimal]
    key: Mapped[str | None] = mapped_column(String(200))
    counted: Mapped[bool] = mapped_column(Boolean, default=True)
    payload: Mapped[dict[str, Any]]
    voided_at: Mapped[datetime | None]
    created: Mapped[datetime]


class UsageHour(Base):
    """Running count, sum and max of one customer's counted events on one meter in one hour.

    Sums and maxima are kept in millionths (values carry at most six decimals), so the
    database adds them exactly.
    """

    __tablename__ = "usage_hours"

    meter_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    sum_micros: Mapped[int] = mapped_column(default=0)
    max_micros: Mapped[int | None]


class MeterAlert(Base):
    """A usage threshold for one customer on one meter; it triggers once per period."""

    __tablename__ = "meter_alerts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    meter_id: Mapped[str] = mapped_column(ForeignKey("meters.id"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    title: Mapped[str] = mapped_column(String(250))
    threshold: Mapped[Decimal]
    status: Mapped[str] = mapped_column(String(20), default="active")
    created: Mapped[datetime]


class MeterAlertTrigger(Base):
    __tablename__ = "meter_alert_triggers"
    __table_args__ = (UniqueConstraint("alert_id", "period_start"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("meter_alerts.id"))
    period_start: Mapped[datetime]
    value: Mapped[Decimal]
    created: Mapped[datetime]


class Feature(Base):
    """Something a plan entitles its customer to, optionally up to a numeric limit."""

    __tablename__ = "features"
    __table_args__ = (UniqueConstraint("org_id", "lookup_key"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    name: Mapped[str] = mapped_column(String(250))
    lookup_key: Mapped[str] = mapped_column(String(200))
    limit: Mapped[int | None]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created: Mapped[datetime]


class ProductFeature(Base):
    __tablename__ = "product_features"
    __table_args__ = (UniqueConstraint("product_id", "feature_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    feature_id: Mapped[str] = mapped_column(ForeignKey("features.id"))
    created: Mapped[datetime]

    feature: Mapped[Feature] = relationship(lazy="joined")


class Coupon(Base):
    __tablename__ = "coupons"

    id: Mapped[str] = mapped_column(String(60), primary_key=True)
    org_id: Mapped[str] = _org()
    name: Mapped[str | None] = mapped_column(String(250))
    percent_off: Mapped[Decimal | None]
    amount_off: Mapped[int | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    duration: Mapped[str] = mapped_column(String(20))
    duration_in_months: Mapped[int | None]
    max_redemptions: Mapped[int | None]
    times_redeemed: Mapped[int] = mapped_column(default=0)
    redeem_by: Mapped[datetime | None]
    applies_to_products: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    valid: Mapped[bool] = mapped_column(Boolean, default=True)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created: Mapped[datetime]


class PromotionCode(Base):
    __tablename__ = "promotion_codes"
    __table_args__ = (UniqueConstraint("org_id", "code"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    code: Mapped[str] = mapped_column(String(100))
    coupon_id: Mapped[str] = mapped_column(ForeignKey("coupons.id"))
    customer_id: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    max_redemptions: Mapped[int | None]
    times_redeemed: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime | None]
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict,
                                                      server_default="{}")
    created: Mapped[datetime]


class Discount(Base):
    """A coupon applied to a customer or one subscription, from `start` until `end`."""

    __tablename__ = "discounts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    coupon_id: Mapped[str] = mapped_column(ForeignKey("coupons.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    subscription_id: Mapped[str | None] = mapped_column(String(40), index=True)
    promotion_code_id: Mapped[str | None] = mapped_column(String(40))
    start: Mapped[datetime]
    end: Mapped[datetime | None]
    used_on_invoice_id: Mapped[str | None] = mapped_column(String(40))
    created: Mapped[datetime]

    coupon: Mapped[Coupon] = relationship(lazy="joined")


class SubscriptionSchedule(Base):
    """A contract's phases (ramp deals): which items the subscription bills from when."""

    __tablename__ = "subscription_schedules"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    end_behavior: Mapped[str] = mapped_column(String(20))
    phases: Mapped[dict[str, Any]]
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created: Mapped[datetime]


class CreditNote(Base):
    """A correction of a finalized invoice: credited to the balance, refunded, or settled
    outside Kassa. Numbered in its own gapless series."""

    __tablename__ = "credit_notes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), index=True)
    number: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20))  # issued | void
    # pre_payment (the invoice was open: reduces what is due) | post_payment
    type: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str | None] = mapped_column(String(40))
    memo: Mapped[str | None] = mapped_column(Text)
    subtotal: Mapped[int]
    tax: Mapped[int] = mapped_column(default=0)
    tax_breakdown: Mapped[list[Any] | None] = mapped_column(JSON)
    total: Mapped[int]
    amount: Mapped[int]
    # How the amount is settled: reduces the open invoice, goes to the customer's balance,
    # is refunded, or is settled outside Kassa.
    pre_payment_amount: Mapped[int] = mapped_column(default=0)
    credit_amount: Mapped[int] = mapped_column(default=0)
    refund_amount: Mapped[int] = mapped_column(default=0)
    out_of_band_amount: Mapped[int] = mapped_column(default=0)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created: Mapped[datetime]
    voided_at: Mapped[datetime | None]

    lines: Mapped[list[CreditNoteLine]] = relationship(
        back_populates="credit_note", lazy="selectin", order_by="CreditNoteLine.position",
        cascade="all, delete-orphan")


class CreditNoteLine(Base):
    __tablename__ = "credit_note_lines"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    credit_note_id: Mapped[str] = mapped_column(ForeignKey("credit_notes.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(30))  # invoice_line_item | custom_line_item
    invoice_line_id: Mapped[str | None] = mapped_column(String(40), index=True)
    description: Mapped[str] = mapped_column(Text)
    quantity: Mapped[int] = mapped_column(default=1)
    unit_amount_decimal: Mapped[Decimal | None]
    amount: Mapped[int]
    tax_category: Mapped[str | None] = mapped_column(String(4))
    tax_rate: Mapped[Decimal | None]
    tax_amount: Mapped[int] = mapped_column(default=0)

    credit_note: Mapped[CreditNote] = relationship(back_populates="lines")


class PriceMigration(Base):
    """Moves subscriptions from one price to another at each one's first renewal after the
    notice date; subscriptions left out keep their price (grandfathered)."""

    __tablename__ = "price_migrations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    from_price_id: Mapped[str] = mapped_column(ForeignKey("prices.id"))
    to_price_id: Mapped[str] = mapped_column(ForeignKey("prices.id"))
    notice_date: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20))  # scheduled | completed | canceled
    description: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created: Mapped[datetime]


class PriceMigrationEntry(Base):
    """One subscription item a price migration moves: when, and from what to what."""

    __tablename__ = "price_migration_entries"
    __table_args__ = (UniqueConstraint("migration_id", "subscription_item_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    migration_id: Mapped[str] = mapped_column(ForeignKey("price_migrations.id"), index=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    subscription_item_id: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[str] = mapped_column(String(40))
    old_amount: Mapped[int]
    new_amount: Mapped[int]
    notify_at: Mapped[datetime]
    effective_at: Mapped[datetime]
    notified_at: Mapped[datetime | None]
    applied_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20))  # scheduled | applied | canceled


class TaxRate(Base):
    """A tax rate the seller maintains for a jurisdiction outside the built-in EU VAT table:
    GST, HST, PST, US state sales tax. Ranges of validity for one jurisdiction never
    overlap."""

    __tablename__ = "tax_rates"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    display_name: Mapped[str] = mapped_column(String(50))
    description: Mapped[str | None] = mapped_column(Text)
    tax_type: Mapped[str] = mapped_column(String(20))  # gst, hst, pst, qst, sales_tax, vat
    country: Mapped[str] = mapped_column(String(2))
    state: Mapped[str | None] = mapped_column(String(10))
    percentage: Mapped[Decimal]
    inclusive: Mapped[bool] = mapped_column(Boolean, default=False)
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created: Mapped[datetime]


class ExchangeRate(Base):
    """How many units of `currency` one unit of `base` bought on `date`, for reporting in the
    organization's currency only; never used to change what a customer is billed."""

    __tablename__ = "exchange_rates"
    __table_args__ = (UniqueConstraint("org_id", "date", "base", "currency"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    date: Mapped[datetime]
    base: Mapped[str] = mapped_column(String(3))
    currency: Mapped[str] = mapped_column(String(3))
    rate: Mapped[Decimal]
    source: Mapped[str] = mapped_column(String(40), default="manual")
    created: Mapped[datetime]


class Document(Base):
    """A rendered document (an invoice's PDF, a credit note's UBL...), rendered once and kept
    in the file store; re-downloads serve the stored file."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("object_id", "format", "locale"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    object_type: Mapped[str] = mapped_column(String(20))  # invoice | credit_note | statement
    object_id: Mapped[str] = mapped_column(String(40), index=True)
    format: Mapped[str] = mapped_column(String(10))  # pdf | html | ubl
    locale: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(500))  # relative to the file store's root
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    created: Mapped[datetime]


class EmailMessage(Base):
    """An e-mail in the outbox: written in the transaction that caused it, delivered at least
    once by the delivery job (retried with backoff), never twice for one `dedupe_key`."""

    __tablename__ = "email_messages"
    __table_args__ = (UniqueConstraint("org_id", "dedupe_key"),
                      Index("ix_email_messages_due", "status", "next_attempt_at"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org(index=False)  # led by (org_id, dedupe_key)
    customer_id: Mapped[str | None] = mapped_column(String(40), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(16), default="en")
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    # [{"filename", "content_type", "document_id"}]
    attachments: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[datetime | None]
    created: Mapped[datetime]


class PaymentMethod(Base):
    """A card or bank account at a gateway, as display data only: never a card number."""

    __tablename__ = "payment_methods"
    __table_args__ = (UniqueConstraint("org_id", "gateway", "gateway_ref"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    gateway: Mapped[str] = mapped_column(String(20))
    gateway_ref: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(20))  # card | sepa_debit
    brand: Mapped[str | None] = mapped_column(String(20))
    last4: Mapped[str | None] = mapped_column(String(4))
    exp_month: Mapped[int | None] = mapped_column(Integer)
    exp_year: Mapped[int | None] = mapped_column(Integer)
    country: Mapped[str | None] = mapped_column(String(2))
    bank_code: Mapped[str | None] = mapped_column(String(20))
    mandate_reference: Mapped[str | None] = mapped_column(String(100))
    mandate_signed_at: Mapped[datetime | None]
    fingerprint: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(12), default="attached")  # | detached
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created: Mapped[datetime]
    detached_at: Mapped[datetime | None]


class Payment(Base):
    """Money received (or tried) for one invoice: a gateway charge, a bank transfer matched
    from a statement, or a payment an operator recorded."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("org_id", "idempotency_key"),
                      UniqueConstraint("gateway", "gateway_ref"),
                      Index("ix_payments_status", "status", "next_check_at"),
                      # Reports: collected and attempted per month.
                      Index("ix_payments_org_succeeded", "org_id", "succeeded_at"),
                      Index("ix_payments_org_created", "org_id", "created"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    # card | sepa_debit | bank_transfer | manual
    method_type: Mapped[str] = mapped_column(String(20))
    payment_method_id: Mapped[str | None] = mapped_column(String(40))
    gateway: Mapped[str | None] = mapped_column(String(20))
    gateway_ref: Mapped[str | None] = mapped_column(String(255))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    # processing | requires_action | succeeded | failed | returned (a SEPA debit reversed)
    status: Mapped[str] = mapped_column(String(20))
    decline_code: Mapped[str | None] = mapped_column(String(60))
    decline_type: Mapped[str | None] = mapped_column(String(10))  # soft | hard
    failure_message: Mapped[str | None] = mapped_column(String(500))
    next_action_url: Mapped[str | None] = mapped_column(String(1000))
    # When to ask the gateway again about a payment that is not final (SEPA, 3-D Secure).
    next_check_at: Mapped[datetime | None]
    amount_refunded: Mapped[int] = mapped_column(default=0)
    bank_transaction_id: Mapped[str | None] = mapped_column(String(40), index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    description: Mapped[str | None] = mapped_column(String(500))
    reference: Mapped[str | None] = mapped_column(String(200))  # a manual payment's note
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created: Mapped[datetime]
    succeeded_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    returned_at: Mapped[datetime | None]
    return_reason: Mapped[str | None] = mapped_column(String(20))


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (UniqueConstraint("org_id", "idempotency_key"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    invoice_id: Mapped[str | None] = mapped_column(String(40), index=True)
    credit_note_id: Mapped[str | None] = mapped_column(String(40))
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(12))  # pending | succeeded | failed
    reason: Mapped[str | None] = mapped_column(String(40))
    gateway_ref: Mapped[str | None] = mapped_column(String(255))
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    # Set when an operator refunds after the refund window, with why (audit-logged).
    override_reason: Mapped[str | None] = mapped_column(String(500))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created: Mapped[datetime]


class Dispute(Base):
    __tablename__ = "disputes"
    __table_args__ = (UniqueConstraint("gateway", "gateway_ref"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    invoice_id: Mapped[str | None] = mapped_column(String(40), index=True)
    gateway: Mapped[str] = mapped_column(String(20))
    gateway_ref: Mapped[str] = mapped_column(String(255))
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(String(60))
    created: Mapped[datetime]
    updated: Mapped[datetime]


class GatewayEventRecord(Base):
    """An inbound gateway webhook as received: verified or rejected, processed once."""

    __tablename__ = "gateway_events"
    __table_args__ = (UniqueConstraint("org_id", "gateway", "event_id"),
                      Index("ix_gateway_events_due", "status", "next_attempt_at"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    gateway: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str | None] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # received | processed | ignored | failed | rejected (signature did not verify)
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]


class BankStatement(Base):
    __tablename__ = "bank_statements"
    __table_args__ = (UniqueConstraint("org_id", "sha256"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    format: Mapped[str] = mapped_column(String(20))  # mt940 | camt.053
    filename: Mapped[str | None] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    account_iban: Mapped[str | None] = mapped_column(String(40))
    statement_ref: Mapped[str | None] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    opening_balance: Mapped[int | None]
    closing_balance: Mapped[int | None]
    entries: Mapped[int] = mapped_column(Integer, default=0)
    imported_at: Mapped[datetime]


class BankTransaction(Base):
    """One entry of an imported statement, and what it was matched to."""

    __tablename__ = "bank_transactions"
    __table_args__ = (UniqueConstraint("org_id", "fingerprint"),
                      Index("ix_bank_transactions_status", "org_id", "status"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    statement_id: Mapped[str] = mapped_column(ForeignKey("bank_statements.id"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    booking_date: Mapped[date]
    value_date: Mapped[date | None]
    amount: Mapped[int]  # credit > 0, debit < 0
    currency: Mapped[str] = mapped_column(String(3))
    counterparty_name: Mapped[str | None] = mapped_column(String(200))
    counterparty_iban: Mapped[str | None] = mapped_column(String(40), index=True)
    remittance: Mapped[str] = mapped_column(Text, default="")
    structured_reference: Mapped[str | None] = mapped_column(String(100))
    end_to_end_id: Mapped[str | None] = mapped_column(String(100))
    bank_reference: Mapped[str | None] = mapped_column(String(100))
    is_return: Mapped[bool] = mapped_column(Boolean, default=False)
    return_reason: Mapped[str | None] = mapped_column(String(20))
    # unmatched | matched | ignored (a debit, or set aside by a person) | returned
    status: Mapped[str] = mapped_column(String(12))
    customer_id: Mapped[str | None] = mapped_column(String(40), index=True)
    matched_amount: Mapped[int] = mapped_column(default=0)
    match_method: Mapped[str | None] = mapped_column(String(30))
    suggestions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created: Mapped[datetime]


class DunningPolicy(Base):
    """How an organization chases unpaid invoices (domain/dunning.py); customers are
    assigned one, or follow the organization's default."""

    __tablename__ = "dunning_policies"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    name: Mapped[str] = mapped_column(String(200))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)  # domain.policy_fields
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created: Mapped[datetime]


class DunningCase(Base):
    """One invoice's time in dunning: from the first failed charge (or its due date passing)
    until it is paid (recovered), dunning gives up (exhausted) or it is voided, credited or
    written off by hand (closed)."""

    __tablename__ = "dunning_cases"
    __table_args__ = (Index("ix_dunning_cases_started", "org_id", "started_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), index=True)
    subscription_id: Mapped[str | None] = mapped_column(String(40), index=True)
    policy_id: Mapped[str | None] = mapped_column(String(40))  # None: the built-in default
    collection_method: Mapped[str] = mapped_column(String(30))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int]  # what remained to be paid when it started
    status: Mapped[str] = mapped_column(String(20))  # active | recovered | exhausted | closed
    started_at: Mapped[datetime]
    # The failure that opened it (None for an overdue sent invoice) and the latest one.
    decline_code: Mapped[str | None] = mapped_column(String(60))
    last_decline_code: Mapped[str | None] = mapped_column(String(60))
    method_type: Mapped[str] = mapped_column(String(20))  # card | sepa_debit | send_invoice
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    retries_stopped: Mapped[str | None] = mapped_column(String(30))  # hard_decline
    next_retry_at: Mapped[datetime | None]
    suspend_at: Mapped[datetime | None]
    give_up_at: Mapped[datetime | None]
    final_action: Mapped[str | None] = mapped_column(String(30))
    canceled_subscriptions: Mapped[int] = mapped_column(Integer, default=0)
    recovered_attempt: Mapped[int | None]
    ended_at: Mapped[datetime | None]
    # The steps taken, oldest first: {"type", "at", ...}.
    steps: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created: Mapped[datetime]


class WebhookEndpoint(Base):
    """Where an organization wants its events POSTed, signed with a secret derived from the
    installation's key and the endpoint's secret version (no secret is stored)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(500))
    enabled_events: Mapped[list[Any]] = mapped_column(JSON)  # event types, or ["*"]
    status: Mapped[str] = mapped_column(String(20))  # enabled | disabled
    secret_version: Mapped[int] = mapped_column(Integer, default=1)
    # After a rotation the previous secret still signs (a second v1) until this moment.
    previous_secret_version: Mapped[int | None]
    previous_secret_expires_at: Mapped[datetime | None]
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created: Mapped[datetime]


class WebhookDelivery(Base):
    """One event on its way to one endpoint: pending until the endpoint answers 2xx,
    retried with backoff for about three days, then failed (until resent)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("endpoint_id", "event_id"),
                      Index("ix_webhook_deliveries_due", "status", "next_attempt_at"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))  # pending | succeeded | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]  # taken by a worker until then
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class WebhookAttempt(Base):
    """One POST of a delivery: the endpoint's answer and how long it took."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_endpoint", "endpoint_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    endpoint_id: Mapped[str] = mapped_column(String(40))
    delivery_id: Mapped[str] = mapped_column(String(40), index=True)
    event_id: Mapped[str] = mapped_column(String(40))
    status_code: Mapped[int | None]
    duration_ms: Mapped[int]
    error: Mapped[str | None] = mapped_column(String(500))
    created: Mapped[datetime]


class AuditEntry(Base):
    """One mutation through the API: who (the actor), from where, what request, and the
    objects it changed with their fields before and after (from the events it wrote)."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_org_id_id", "org_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40), ForeignKey("organizations.id"))
    request_id: Mapped[str] = mapped_column(String(40), unique=True)
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str] = mapped_column(String(40), index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    status_code: Mapped[int] = mapped_column(Integer)
    object_id: Mapped[str | None] = mapped_column(String(40), index=True)
    # [{"event", "type", "object", "object_type", "changes": {field: {"before", "after"}}}]
    changes: Mapped[list[Any]] = mapped_column(JSON)
    created: Mapped[datetime]


class PortalSession(Base):
    """A customer's way into the self-service portal: a one-time link (its hash), then a
    browser session (its cookie's hash), bound to one customer; it ends at logout, at
    `expires_at`, or when the API key that made it stops working."""

    __tablename__ = "portal_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    api_key_id: Mapped[str | None] = mapped_column(String(40))
    origin: Mapped[str] = mapped_column(String(10), default="api")  # api | email
    link_hash: Mapped[str] = mapped_column(String(128), unique=True)
    link_expires_at: Mapped[datetime]
    cookie_hash: Mapped[str | None] = mapped_column(String(128), unique=True)
    expires_at: Mapped[datetime]
    return_url: Mapped[str | None] = mapped_column(String(2000))
    locale: Mapped[str | None] = mapped_column(String(16))
    created: Mapped[datetime]
    used_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]


class AcquisitionCost(Base):
    """What the organization spent on acquiring customers in one month through one channel
    (entered by finance); CAC is this over the month's new customers."""

    __tablename__ = "acquisition_costs"
    __table_args__ = (UniqueConstraint("org_id", "month", "channel", "currency"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    channel: Mapped[str] = mapped_column(String(60))
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created: Mapped[datetime]


class Operator(Base):
    """A person of the SaaS's own staff (finance, support) who signs in to the operator
    dashboard of one organization, with a role (services/operators.py). The e-mail is the
    login, unique in the installation; only an argon2 hash of the password is kept."""

    __tablename__ = "operators"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    email: Mapped[str] = mapped_column(String(320), unique=True)  # lower case
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(10))  # admin | finance | support
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[datetime]
    last_login_at: Mapped[datetime | None]
    deactivated_at: Mapped[datetime | None]


class OperatorSession(Base):
    """An operator's browser session in the dashboard: the hash of its cookie, its end
    (8 hours after sign-in), when it was last used (it ends after 30 idle minutes) and
    when it was ended (sign-out, or the operator was deactivated)."""

    __tablename__ = "operator_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    operator_id: Mapped[str] = mapped_column(ForeignKey("operators.id"), index=True)
    cookie_hash: Mapped[str] = mapped_column(String(128), unique=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    created: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class OperatorLoginFailure(Base):
    """One failed sign-in to the dashboard, by the keyed hash of the e-mail typed (known
    or not, so a lockout tells nothing about which addresses exist)."""

    __tablename__ = "operator_login_failures"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(128), index=True)
    created: Mapped[datetime]


class LedgerAccount(Base):
    """An account of the organization's chart (services/ledger.py): its code and name as
    finance knows them, and the role (and key: a gateway, a jurisdiction, a product) whose
    postings it receives (domain/ledger.py)."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (UniqueConstraint("org_id", "code"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(10))  # asset | liability | equity | revenue | expense
    role: Mapped[str] = mapped_column(String(30))
    key: Mapped[str | None] = mapped_column(String(60))
    created: Mapped[datetime]


class JournalEntry(Base):
    """One balanced journal entry, posted in the same transaction as the change it records
    and never changed after: a correction is a reversing entry. One entry per source and
    kind (the database's guard against posting an event twice)."""

    __tablename__ = "journal_entries"
    __table_args__ = (UniqueConstraint("org_id", "source_id", "kind"),
                      Index("ix_journal_entries_org_posted", "org_id", "posted_on"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org(index=False)  # led by (org_id, source_id, kind)
    kind: Mapped[str] = mapped_column(String(40))
    source_type: Mapped[str] = mapped_column(String(30))
    source_id: Mapped[str] = mapped_column(String(60))
    # The accounting date (in the organization's timezone): the period it belongs to.
    posted_on: Mapped[date]
    description: Mapped[str] = mapped_column(String(300))
    reverses_id: Mapped[str | None] = mapped_column(String(40))
    created: Mapped[datetime]

    lines: Mapped[list[JournalLine]] = relationship(
        back_populates="entry", lazy="selectin", order_by="JournalLine.position",
        cascade="all, delete-orphan")


class JournalLine(Base):
    """A debit (amount > 0) or credit (amount < 0) of one account in one currency, with the
    customer, product and invoice it concerns."""

    __tablename__ = "journal_lines"
    __table_args__ = (Index("ix_journal_lines_org_account", "org_id", "account_id", "posted_on"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org(index=False)  # led by ix_journal_lines_org_account
    entry_id: Mapped[str] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id"))
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    posted_on: Mapped[date]
    customer_id: Mapped[str | None] = mapped_column(String(40), index=True)
    product_id: Mapped[str | None] = mapped_column(String(40))
    invoice_id: Mapped[str | None] = mapped_column(String(40))

    entry: Mapped[JournalEntry] = relationship(back_populates="lines")


class RevenueSchedule(Base):
    """How one invoice line (or credit note line, with a negative amount) is earned: evenly
    per day over its service period, usage over the period it was used, a one-off on the
    invoice's date (domain/recognition.py). `recognized_through` is the first day whose
    share is not yet posted from deferred to recognized revenue."""

    __tablename__ = "revenue_schedules"
    __table_args__ = (UniqueConstraint("org_id", "source_id", "entry_id"),
                      Index("ix_revenue_schedules_due", "done", "recognized_through"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org(index=False)  # led by (org_id, source_id, entry_id)
    entry_id: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[str] = mapped_column(String(40), index=True)
    invoice_id: Mapped[str | None] = mapped_column(String(40), index=True)
    source_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(12))  # subscription | usage | one_off
    product_id: Mapped[str | None] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int]
    first_day: Mapped[date]
    end_day: Mapped[date]
    recognized: Mapped[int] = mapped_column(default=0)
    recognized_through: Mapped[date]
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime]


class LedgerPeriod(Base):
    """A closed month ("YYYY-MM"): nothing dated in it may be posted any more."""

    __tablename__ = "ledger_periods"
    __table_args__ = (UniqueConstraint("org_id", "period"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    period: Mapped[str] = mapped_column(String(7))
    closed_at: Mapped[datetime]
    closed_by: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Payout(Base):
    """Money a gateway moved from its balance (the clearing account) to the organization's
    bank: `amount` left the gateway in `currency`, of which `fee` the gateway kept;
    `bank_amount` arrived in `bank_currency`."""

    __tablename__ = "payouts"
    __table_args__ = (UniqueConstraint("org_id", "gateway", "reference"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = _org()
    gateway: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str] = mapped_column(String(255))
    amount: Mapped[int]
    fee: Mapped[int] = mapped_column(default=0)
    currency: Mapped[str] = mapped_column(String(3))
    bank_amount: Mapped[int]
    bank_currency: Mapped[str] = mapped_column(String(3))
    arrival_date: Mapped[date]
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created: Mapped[datetime]


class BillingBatch(Base):
    """A bounded slice of one billing run: the customers one worker bills in one transaction.

    Not an organization's row: the billing run crosses organizations, as the job queue does.
    A worker claims a pending batch (or one whose lease ran out: its worker died or hung)
    with SKIP LOCKED, bills it and marks it done; `claimed_by` and `client_addr` say which
    worker and which host did it.
    """

    __tablename__ = "billing_batches"
    __table_args__ = (UniqueConstraint("run_at", "seq"),
                      Index("ix_billing_batches_claimable", "status", "lease_until"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    run_at: Mapped[datetime]  # the run bills everything due by this instant
    seq: Mapped[int] = mapped_column(Integer)
    customer_ids: Mapped[list[Any]] = mapped_column(JSON)
    subscriptions: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending|done
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    client_addr: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    created: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    customers_billed: Mapped[int] = mapped_column(Integer, default=0)
    customers_skipped: Mapped[int] = mapped_column(Integer, default=0)
    customers_failed: Mapped[int] = mapped_column(Integer, default=0)
    invoices: Mapped[int] = mapped_column(Integer, default=0)
