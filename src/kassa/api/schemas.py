"""Request bodies. Unknown fields are refused, and numbers are never coerced from strings or
floats, so a malformed request fails loudly with the parameter named."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Timestamp = int | Literal["now"]
Metadata = dict[str, str]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    def fields(self) -> dict[str, Any]:
        """The fields the caller actually sent, as plain data."""
        return self.model_dump(exclude_unset=True)


class Address(Body):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    postal_code: str | None = None
    state: str | None = None
    country: str | None = None


class CustomerCreate(Body):
    name: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    address: Address | None = None
    country: str | None = None
    vat_id: str | None = None
    currency: str | None = None
    timezone: str | None = None
    locale: str | None = None
    tax_exempt: Literal["none", "exempt", "reverse"] | None = None
    metadata: Metadata | None = None
    external_id: str | None = Field(None, max_length=200)
    test_clock: str | None = None


class CustomerUpdate(CustomerCreate):
    pass


class BalanceTransactionCreate(Body):
    amount: int
    currency: str
    description: str | None = None


class ProductCreate(Body):
    name: str = Field(max_length=250)
    description: str | None = None
    active: bool = True
    metadata: Metadata | None = None


class Recurring(Body):
    interval: Literal["day", "week", "month", "year"]
    interval_count: int = 1
    usage_type: Literal["licensed", "metered"] = "licensed"


class ProductData(Body):
    name: str


class PriceCreate(Body):
    product: str | None = None
    product_data: ProductData | None = None
    currency: str
    unit_amount: int | None = None
    unit_amount_decimal: str | None = None
    recurring: Recurring | None = None
    billing_scheme: Literal["per_unit"] = "per_unit"
    nickname: str | None = None
    lookup_key: str | None = None
    active: bool = True
    metadata: Metadata | None = None


class SubscriptionItemInput(Body):
    price: str
    quantity: int = 1


class SubscriptionCreate(Body):
    customer: str
    items: list[SubscriptionItemInput] = Field(min_length=1)
    start_date: Timestamp | None = None
    backdate_start_date: int | None = None
    trial_period_days: int | None = None
    trial_end: Timestamp | None = None
    billing_cycle_anchor: int | None = None
    proration_behavior: Literal["create_prorations", "none"] = "create_prorations"
    collection_method: Literal["charge_automatically", "send_invoice"] = "charge_automatically"
    days_until_due: int | None = None
    cancel_at_period_end: bool = False
    cancel_at: int | None = None
    payment_behavior: Literal["allow_incomplete", "default_incomplete"] = "allow_incomplete"
    invoice_lead_days: int | None = None
    metadata: Metadata | None = None


class SubscriptionUpdate(Body):
    cancel_at_period_end: bool | None = None
    cancel_at: int | None = None
    metadata: Metadata | None = None
    days_until_due: int | None = None
    invoice_lead_days: int | None = None


class Period(Body):
    start: int
    end: int


class InvoiceItemCreate(Body):
    customer: str
    currency: str | None = None
    amount: int | None = None
    unit_amount: int | None = None
    unit_amount_decimal: str | None = None
    price: str | None = None
    quantity: int = 1
    description: str | None = None
    invoice: str | None = None
    period: Period | None = None
    metadata: Metadata | None = None


class InvoiceCreate(Body):
    customer: str
    currency: str | None = None
    collection_method: Literal["charge_automatically", "send_invoice"] = "send_invoice"
    days_until_due: int | None = None
    auto_advance: bool = True
    description: str | None = None
    pending_invoice_items_behavior: Literal["include", "exclude"] = "include"
    metadata: Metadata | None = None


class InvoicePay(Body):
    paid_out_of_band: bool = False


class TestClockCreate(Body):
    frozen_time: int
    name: str | None = None


class TestClockAdvance(Body):
    frozen_time: int


class OrganizationUpdate(Body):
    name: str | None = None
    legal_name: str | None = None
    address: Address | None = None
    country: str | None = None
    vat_id: str | None = None
    iban: str | None = None
    default_currency: str | None = None
    timezone: str | None = None
    locale: str | None = None
    invoice_prefix: str | None = Field(None, min_length=1, max_length=20)
    invoice_number_format: str | None = None
    brand_color: str | None = None
    logo_url: str | None = None
    draft_grace_seconds: int | None = None
    invoice_lead_days: int | None = None
    days_until_due: int | None = None


class Empty(Body):
    pass
