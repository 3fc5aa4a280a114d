"""Request bodies. Unknown fields are refused, and numbers are never coerced from strings or
floats, so a malformed request fails loudly with the parameter named."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kassa.core.clock import MAX_TIMESTAMP

# Bounds keep every value inside what the database stores (64-bit integers, column widths)
# and what date arithmetic can reach, so an absurd value is a 400, never a 500.
UnixTime = Annotated[int, Field(ge=0, le=MAX_TIMESTAMP)]
Timestamp = UnixTime | Literal["now"]
Amount = Annotated[int, Field(ge=-(10**12), le=10**12)]
UnitAmount = Annotated[int, Field(ge=0, le=10**12)]
DecimalText = Annotated[str, Field(max_length=40)]
Quantity = Annotated[int, Field(ge=0, le=10**6)]
Days = Annotated[int, Field(ge=0, le=365)]
Name = Annotated[str, Field(max_length=200)]
Code = Annotated[str, Field(max_length=40)]
Metadata = Annotated[dict[Annotated[str, Field(max_length=40)],
                          Annotated[str, Field(max_length=500)]], Field(max_length=50)]


MAX_DEPTH = 20  # no Kassa parameter nests deeper; a deeper one is refused, not recursed


def _has_nul(value: Any) -> bool:
    """Whether a NUL character hides anywhere in `value` (walked without recursion;
    ValueError when it nests deeper than MAX_DEPTH)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend((part, depth + 1) for pair in item.items() for part in pair)
        elif isinstance(item, list):
            stack.extend((part, depth + 1) for part in item)
    return False


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_max_length=5000)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("text must not contain NUL characters")
        return value

    def fields(self) -> dict[str, Any]:
        """The fields the caller actually sent, as plain data."""
        return self.model_dump(exclude_unset=True)


class Address(Body):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    postal_code: str | None = None
    state: str | None = None
    country: Code | None = None


class CustomerCreate(Body):
    name: Name | None = None
    email: str | None = Field(None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    address: Address | None = None
    country: Code | None = None
    vat_id: Code | None = None
    peppol_id: Annotated[str, Field(max_length=80)] | None = None
    currency: Code | None = None
    timezone: Annotated[str, Field(max_length=64)] | None = None
    locale: Annotated[str, Field(max_length=16)] | None = None
    tax_exempt: Literal["none", "exempt", "reverse"] | None = None
    metadata: Metadata | None = None
    external_id: Name | None = None
    test_clock: Code | None = None
    coupon: Annotated[str, Field(max_length=60)] | None = None
    promotion_code: Annotated[str, Field(max_length=60)] | None = None
    dunning_policy: Code | None = None  # null: the organization's default


class CustomerUpdate(CustomerCreate):
    pass


class BalanceTransactionCreate(Body):
    amount: Amount
    currency: Code
    description: str | None = None
    metadata: Metadata | None = None


UnitLabel = Annotated[str, Field(min_length=1, max_length=12)]


class ProductCreate(Body):
    name: Annotated[str, Field(min_length=1, max_length=250)]
    description: str | None = None
    unit_label: UnitLabel | None = None
    tax_code: Annotated[str, Field(max_length=40)] | None = None
    active: bool = True
    metadata: Metadata | None = None


class Recurring(Body):
    interval: Literal["day", "week", "month", "year"]
    interval_count: Annotated[int, Field(ge=1, le=365)] = 1
    usage_type: Literal["licensed", "metered"] = "licensed"
    meter: Code | None = None


class TierInput(Body):
    up_to: Annotated[int, Field(ge=1, le=10**12)] | Literal["inf"]
    unit_amount: UnitAmount | None = None
    unit_amount_decimal: DecimalText | None = None
    flat_amount: UnitAmount | None = None
    flat_amount_decimal: DecimalText | None = None


class TransformQuantity(Body):
    divide_by: Annotated[int, Field(ge=1, le=10**9)]
    round: Literal["up", "down"]


class PercentageInput(Body):
    rate: DecimalText
    fixed_fee: DecimalText | None = None
    free_units: DecimalText | None = None
    free_events: Annotated[int, Field(ge=0, le=10**9)] = 0
    minimum_fee: DecimalText | None = None
    maximum_fee: DecimalText | None = None


class CurrencyOption(Body):
    unit_amount: UnitAmount | None = None
    unit_amount_decimal: DecimalText | None = None


class ProductData(Body):
    name: Annotated[str, Field(min_length=1, max_length=250)]
    unit_label: UnitLabel | None = None
    tax_code: Annotated[str, Field(max_length=40)] | None = None


class PriceCreate(Body):
    product: Code | None = None
    product_data: ProductData | None = None
    currency: Code
    unit_amount: UnitAmount | None = None
    unit_amount_decimal: DecimalText | None = None
    recurring: Recurring | None = None
    billing_scheme: Literal["per_unit", "tiered", "percentage"] = "per_unit"
    tiers_mode: Literal["graduated", "volume"] | None = None
    tiers: list[TierInput] | None = Field(None, min_length=1, max_length=50)
    transform_quantity: TransformQuantity | None = None
    percentage: PercentageInput | None = None
    currency_options: dict[Code, CurrencyOption] | None = Field(None, max_length=50)
    customer: Code | None = None
    nickname: Annotated[str, Field(max_length=250)] | None = None
    lookup_key: Annotated[str, Field(max_length=200)] | None = None
    tax_behavior: Literal["exclusive", "inclusive"] = "exclusive"
    active: bool = True
    metadata: Metadata | None = None


class SubscriptionItemInput(Body):
    price: Code
    quantity: Quantity = 1
    metadata: Metadata | None = None


class SubscriptionCreate(Body):
    customer: Code
    items: list[SubscriptionItemInput] = Field(min_length=1, max_length=20)
    start_date: Timestamp | None = None
    backdate_start_date: UnixTime | None = None
    trial_period_days: Annotated[int, Field(ge=1, le=730)] | None = None
    trial_end: Timestamp | None = None
    billing_cycle_anchor: UnixTime | None = None
    proration_behavior: Literal["create_prorations", "none"] = "create_prorations"
    proration_granularity: Literal["second", "day"] | None = None
    collection_method: Literal["charge_automatically", "send_invoice"] = "charge_automatically"
    days_until_due: Days | None = None
    cancel_at_period_end: bool = False
    cancel_at: UnixTime | None = None
    payment_behavior: Literal["allow_incomplete", "default_incomplete"] = "allow_incomplete"
    invoice_lead_days: Annotated[int, Field(ge=0, le=90)] | None = None
    minimum_amount: Annotated[int, Field(ge=1, le=10**12)] | None = None
    coupon: Annotated[str, Field(max_length=60)] | None = None
    promotion_code: Annotated[str, Field(max_length=60)] | None = None
    metadata: Metadata | None = None


class SubscriptionItemChange(Body):
    id: Code | None = None
    price: Code | None = None
    quantity: Quantity | None = None
    deleted: bool = False
    metadata: Metadata | None = None


class PauseCollection(Body):
    behavior: Literal["keep_as_draft", "mark_uncollectible", "void"]
    resumes_at: UnixTime | None = None


ProrationBehavior = Literal["create_prorations", "always_invoice", "none"]
Granularity = Literal["second", "day"]


class CancellationDetails(Body):
    feedback: Literal["too_expensive", "missing_features", "switched_service", "unused",
                      "customer_service", "too_complex", "low_quality", "other"] | None = None
    comment: Annotated[str, Field(max_length=500)] | None = None


class SubscriptionUpdate(Body):
    items: list[SubscriptionItemChange] | None = Field(None, min_length=1, max_length=20)
    proration_behavior: ProrationBehavior = "create_prorations"
    proration_date: UnixTime | None = None
    # Kassa: "now", "period_end" (from the next period on, nothing prorated) or a past moment.
    effective_at: UnixTime | Literal["now", "period_end"] | None = None
    billing_cycle_anchor: Literal["now", "unchanged"] | None = None
    proration_granularity: Granularity | Literal["organization"] | None = None
    pause_collection: PauseCollection | Literal[""] | None = None
    cancel_at_period_end: bool | None = None
    cancel_at: UnixTime | None = None
    cancellation_details: CancellationDetails | None = None
    metadata: Metadata | None = None
    days_until_due: Days | None = None
    invoice_lead_days: Annotated[int, Field(ge=0, le=90)] | None = None


class SubscriptionCancel(Body):
    prorate: bool = False
    invoice_now: bool = False
    cancellation_details: CancellationDetails | None = None


class SubscriptionPause(Body):
    proration_behavior: ProrationBehavior = "create_prorations"
    resumes_at: UnixTime | None = None


class SubscriptionResume(Body):
    billing_cycle_anchor: Literal["now", "unchanged"] = "unchanged"


class Period(Body):
    start: UnixTime
    end: UnixTime


class InvoiceItemCreate(Body):
    customer: Code
    currency: Code | None = None
    amount: Amount | None = None
    unit_amount: UnitAmount | None = None
    unit_amount_decimal: DecimalText | None = None
    price: Code | None = None
    quantity: Annotated[int, Field(ge=1, le=10**6)] = 1
    description: str | None = None
    invoice: Code | None = None
    period: Period | None = None
    metadata: Metadata | None = None


class InvoiceCreate(Body):
    customer: Code
    currency: Code | None = None
    collection_method: Literal["charge_automatically", "send_invoice"] = "send_invoice"
    days_until_due: Days | None = None
    auto_advance: bool = True
    description: str | None = None
    pending_invoice_items_behavior: Literal["include", "exclude"] = "include"
    metadata: Metadata | None = None


class InvoicePay(Body):
    paid_out_of_band: bool = False


class TestClockCreate(Body):
    frozen_time: UnixTime
    name: Name | None = None


class TestClockAdvance(Body):
    frozen_time: UnixTime


class OrganizationUpdate(Body):
    name: Name | None = None
    automatic_tax: bool | None = None
    reporting_currency: Code | None = None
    proration_granularity: Literal["second", "day"] | None = None
    legal_name: Name | None = None
    address: Address | None = None
    country: Code | None = None
    vat_id: Code | None = None
    iban: Code | None = None
    default_currency: Code | None = None
    timezone: Annotated[str, Field(max_length=64)] | None = None
    locale: Annotated[str, Field(max_length=16)] | None = None
    invoice_prefix: str | None = Field(None, min_length=1, max_length=20)
    invoice_number_format: Annotated[str, Field(max_length=60)] | None = None
    brand_color: Annotated[str, Field(max_length=7)] | None = None
    logo_url: Annotated[str, Field(max_length=500)] | None = None
    draft_grace_seconds: Annotated[int, Field(ge=0, le=30 * 86400)] | None = None
    invoice_lead_days: Annotated[int, Field(ge=0, le=90)] | None = None
    days_until_due: Days | None = None
    support_email: str | None = Field(None, max_length=320,
                                      pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    # Checked by services/email_settings.py (one place for its keys, bounds and defaults).
    email_settings: dict[Annotated[str, Field(max_length=40)], Any] | None = Field(
        None, max_length=20, description="Customer e-mails: `disabled` (kinds not sent), "
        "`renewal_reminder_days` (1-60, default 7), `renewal_reminders_for` (yearly | all), "
        "`trial_ending_days` (1-30, default 3), `change_notice_days` (1-90, default 14). "
        "Keys sent are merged into the stored settings; null resets one to its default.")
    # Checked by services/payment_settings.py.
    payment_settings: dict[Annotated[str, Field(max_length=40)], Any] | None = Field(
        None, max_length=10, description="Payments: `default_gateway` (sandbox | stripe | "
        "mollie), `refund_window_days` (0-3650, default 30), `sepa_return_days` (1-90, "
        "default 14). Keys sent are merged; null resets one to its default.")
    # Checked by services/organizations.py (0 to 100; "72.5" as a string).
    gross_margin_percent: Annotated[int, Field(ge=0, le=100)] | DecimalText | None = Field(
        None, description="Gross margin in percent, for CLTV and CAC payback (default 80).")
    # Checked by services/portal_settings.py.
    portal_settings: dict[Annotated[str, Field(max_length=40)], Any] | None = Field(
        None, max_length=10, description="The self-service portal: `plan_prices` (price ids "
        "customers may switch to; [] = no plan changes), `quantity_changes` (bool, default "
        "true), `proration_behavior` (always_invoice | create_prorations | none), "
        "`downgrades` (now | period_end), `cancellation` (at_period_end | off), "
        "`login_page` (bool, default false). Keys sent are merged; null resets one.")


class Aggregation(Body):
    formula: Literal["count", "sum", "max", "unique_count", "latest", "last"]


class PayloadKey(Body):
    event_payload_key: Annotated[str, Field(max_length=100)]


class CustomerMapping(Body):
    event_payload_key: Annotated[str, Field(max_length=100)] = "customer"
    type: Literal["by_id_or_external_id", "by_id"] = "by_id_or_external_id"


class MeterCreate(Body):
    display_name: Annotated[str, Field(min_length=1, max_length=250)]
    event_name: Annotated[str, Field(min_length=1, max_length=100)]
    default_aggregation: Aggregation
    value_settings: PayloadKey | None = None
    customer_mapping: CustomerMapping | None = None
    dimension_filters: dict[Annotated[str, Field(max_length=100)],
                            list[Annotated[str, Field(max_length=200)]]] | None = None
    group_by: list[Annotated[str, Field(max_length=100)]] | None = Field(None, max_length=10)


class MeterEventCancel(Body):
    identifier: Annotated[str, Field(max_length=100)]


class MeterEventAdjustment(Body):
    event_name: Annotated[str, Field(max_length=100)]
    type: Literal["cancel"] = "cancel"
    cancel: MeterEventCancel


class UsageThreshold(Body):
    gte: DecimalText | Annotated[int, Field(ge=1, le=10**15)]
    meter: Code
    customer: Code


class AlertCreate(Body):
    alert_type: Literal["usage_threshold"] = "usage_threshold"
    title: Annotated[str, Field(min_length=1, max_length=250)]
    usage_threshold: UsageThreshold


class AppliesTo(Body):
    products: list[Code] = Field(min_length=1, max_length=100)


class CouponCreate(Body):
    id: Annotated[str, Field(max_length=60)] | None = None
    name: Name | None = None
    percent_off: DecimalText | Annotated[int, Field(ge=1, le=100)] | None = None
    amount_off: UnitAmount | None = None
    currency: Code | None = None
    duration: Literal["once", "repeating", "forever"] = "once"
    duration_in_months: Annotated[int, Field(ge=1, le=120)] | None = None
    max_redemptions: Annotated[int, Field(ge=1, le=10**9)] | None = None
    redeem_by: UnixTime | None = None
    applies_to: AppliesTo | None = None
    metadata: Metadata | None = None


class PromotionCodeCreate(Body):
    coupon: Annotated[str, Field(max_length=60)]
    code: Annotated[str, Field(min_length=1, max_length=60)]
    customer: Code | None = None
    max_redemptions: Annotated[int, Field(ge=1, le=10**9)] | None = None
    expires_at: UnixTime | None = None
    active: bool = True
    metadata: Metadata | None = None


class Empty(Body):
    pass


FeatureLimit = Annotated[int, Field(ge=0, le=10**12)]


class FeatureCreate(Body):
    name: Name
    lookup_key: Name
    limit: FeatureLimit | None = None
    metadata: Metadata | None = None


class FeatureUpdate(Body):
    name: Name | None = None
    limit: FeatureLimit | None = None
    active: bool | None = None
    metadata: Metadata | None = None


class ProductFeatureCreate(Body):
    entitlement_feature: Code


class PhaseInput(Body):
    items: list[SubscriptionItemInput] = Field(min_length=1, max_length=20)
    iterations: Annotated[int, Field(ge=1, le=120)] | None = None


class ScheduleCreate(Body):
    customer: Code
    start_date: Timestamp = "now"
    end_behavior: Literal["release", "cancel"] = "release"
    phases: list[PhaseInput] = Field(min_length=1, max_length=10)
    collection_method: Literal["charge_automatically", "send_invoice"] = "charge_automatically"
    days_until_due: Days | None = None
    invoice_lead_days: Annotated[int, Field(ge=0, le=90)] | None = None
    metadata: Metadata | None = None


CreditAmount = Annotated[int, Field(ge=0, le=10**12)]


class CreditNoteLineInput(Body):
    type: Literal["invoice_line_item", "custom_line_item"]
    invoice_line: Code | None = None
    quantity: Annotated[int, Field(ge=1, le=10**6)] | None = None
    amount: Amount | None = None
    description: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    unit_amount: UnitAmount | None = None


class CreditNoteCreate(Body):
    invoice: Code
    lines: list[CreditNoteLineInput] | None = Field(None, min_length=1, max_length=100)
    amount: Amount | None = None
    reason: Literal["duplicate", "fraudulent", "order_change",
                    "product_unsatisfactory"] | None = None
    memo: Annotated[str, Field(max_length=5000)] | None = None
    credit_amount: CreditAmount | None = None
    refund_amount: CreditAmount | None = None
    out_of_band_amount: CreditAmount | None = None
    metadata: Metadata | None = None


class PriceMigrationCreate(Body):
    from_price: Code
    to_price: Code
    notice_date: Timestamp
    subscriptions: list[Code] | None = Field(None, min_length=1, max_length=1000)
    description: Annotated[str, Field(max_length=1000)] | None = None
    metadata: Metadata | None = None


DayText = Annotated[str, Field(max_length=10)]  # YYYY-MM-DD
Day = UnixTime | DayText


class TaxRateCreate(Body):
    display_name: Annotated[str, Field(min_length=1, max_length=50)]
    tax_type: Literal["vat", "gst", "hst", "pst", "qst", "sales_tax", "jct", "rst"]
    country: Code
    state: Annotated[str, Field(max_length=10)] | None = None
    # A decimal string ("9.975") or a whole number; the service checks 0 to 100.
    percentage: DecimalText | Annotated[int, Field(ge=-(10**6), le=10**6)]
    inclusive: bool = False
    valid_from: Day | None = None
    valid_until: Day | None = None
    description: Annotated[str, Field(max_length=500)] | None = None
    active: bool = True
    metadata: Metadata | None = None


class TaxRateUpdate(Body):
    display_name: Annotated[str, Field(min_length=1, max_length=50)] | None = None
    description: Annotated[str, Field(max_length=500)] | None = None
    active: bool | None = None
    metadata: Metadata | None = None
    valid_until: Day | None = None  # null: valid with no end


class ExchangeRateCreate(Body):
    date: Day
    base: Code
    currency: Code
    rate: DecimalText | Annotated[int, Field(ge=-(10**12), le=10**12)]


class PaymentMethodCreate(Body):
    customer: Code
    token: Annotated[str, Field(min_length=1, max_length=2000)]
    gateway: Annotated[str, Field(max_length=20)] | None = None
    set_default: bool | None = None


class PaymentCreate(Body):
    invoice: Code
    amount: Annotated[int, Field(gt=0, le=10**15)] | None = None
    method: Literal["manual", "bank_transfer"] = "manual"
    reference: Annotated[str, Field(max_length=200)] | None = None


class RefundCreate(Body):
    payment: Code
    amount: Annotated[int, Field(gt=0, le=10**15)] | None = None
    reason: Literal["duplicate", "fraudulent", "requested_by_customer"] | None = None
    override_reason: Annotated[str, Field(min_length=3, max_length=500)] | None = None


class MatchedInvoice(Body):
    invoice: Code
    amount: Annotated[int, Field(gt=0, le=10**15)] | None = None


class BankTransactionMatch(Body):
    invoices: list[MatchedInvoice] | None = Field(None, max_length=100)
    customer: Code | None = None


class SepaDebitFileCreate(Body):
    collection_date: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None


DaySchedule = Annotated[list[int], Field(max_length=100)]


class DunningPolicyFields(Body):
    """The policy's rules (domain/dunning.py explains each and its default)."""

    retry_schedule: DaySchedule | None = None
    retry_time: Annotated[str, Field(max_length=10)] | None = None
    insufficient_funds_retry: Annotated[str, Field(max_length=20)] | None = None
    reminder_schedule: DaySchedule | None = None
    suspend_after_days: int | None = None  # null: never
    final_action: Annotated[str, Field(max_length=40)] | None = None
    final_action_after_days: int | None = None
    metadata: Metadata | None = None


class DunningPolicyCreate(DunningPolicyFields):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    is_default: bool = False


class DunningPolicyUpdate(DunningPolicyFields):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    is_default: bool | None = None
    active: bool | None = None


EventTypes = Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=100)]
WebhookUrl = Annotated[str, Field(min_length=1, max_length=2000)]


class WebhookEndpointCreate(Body):
    url: WebhookUrl
    enabled_events: EventTypes
    description: Annotated[str, Field(max_length=500)] | None = None
    metadata: Metadata | None = None


class WebhookEndpointUpdate(Body):
    url: WebhookUrl | None = None
    enabled_events: EventTypes | None = None
    description: Annotated[str, Field(max_length=500)] | None = None
    disabled: bool | None = None
    metadata: Metadata | None = None


class SecretRotation(Body):
    expires_in: Annotated[int, Field(ge=0, le=604800)] | None = None  # seconds of overlap


class EventResend(Body):
    webhook_endpoint: Code | None = None


class ApiKeyCreate(Body):
    name: Annotated[str, Field(max_length=100)] | None = None
    type: Literal["secret", "publishable"] = "secret"
    # "full" (default), "read_only", or {"restricted": {resource: "read" | "write"}}
    scope: str | dict[str, dict[str, str]] | None = None
    expires_at: UnixTime | None = None


class ApiKeyRoll(Body):
    expires_in: Annotated[int, Field(ge=0, le=604800)] | None = None  # seconds of overlap


class PortalSessionCreate(Body):
    customer: Code
    return_url: Annotated[str, Field(max_length=2000)] | None = None
    locale: Annotated[str, Field(max_length=16)] | None = None


class AcquisitionCostCreate(Body):
    month: Annotated[str, Field(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")]
    channel: Annotated[str, Field(min_length=1, max_length=60)]
    amount: Annotated[int, Field(ge=0, le=10**12)]
    currency: Annotated[str, Field(min_length=3, max_length=3)]
    metadata: Metadata | None = None


class AcquisitionCostUpdate(Body):
    amount: Annotated[int, Field(ge=0, le=10**12)] | None = None
    metadata: Metadata | None = None


class LedgerAccountCreate(Body):
    code: Annotated[str, Field(min_length=1, max_length=20)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    role: Annotated[str, Field(min_length=1, max_length=30)]
    key: Annotated[str, Field(min_length=1, max_length=60)] | None = None


class LedgerAccountUpdate(Body):
    name: Annotated[str, Field(min_length=1, max_length=200)]


class LedgerPeriodClose(Body):
    period: Annotated[str, Field(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")]


class PayoutCreate(Body):
    gateway: Annotated[str, Field(min_length=1, max_length=20)]
    reference: Annotated[str, Field(min_length=1, max_length=255)]
    amount: Annotated[int, Field(gt=0, le=10**12)]
    fee: Annotated[int, Field(ge=0, le=10**12)] = 0
    currency: Annotated[str, Field(min_length=3, max_length=3)]
    bank_amount: Annotated[int, Field(gt=0, le=10**12)] | None = None
    bank_currency: Annotated[str, Field(min_length=3, max_length=3)] | None = None
    arrival_date: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$",
                                       description="YYYY-MM-DD")]
    metadata: Metadata | None = None
