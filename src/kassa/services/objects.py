"""The JSON shapes of Kassa's resources, shared by the API and the events in the outbox.

Field names follow Stripe's where Stripe has the concept; times are Unix seconds.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kassa.core.clock import to_unix
from kassa.domain.entitlements import Entitlement
from kassa.services import email_settings, payment_settings, portal_settings
from kassa.store import models as m
from kassa.store import rows

if TYPE_CHECKING:
    from kassa.services.price_migrations import Detail, Plan


def _ts(value: datetime | None) -> int | None:
    return None if value is None else to_unix(value)


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else decimal_text(value)


def decimal_text(value: Decimal) -> str:
    """A Decimal as plain text without exponent or trailing zeros: '12.5', '1000'."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _int_amount(value: Decimal | None) -> int | None:
    if value is None or value != value.to_integral_value():
        return None
    return int(value)


def organization(org: m.Organization) -> dict[str, Any]:
    return {
        "id": org.id, "object": "organization", "name": org.name, "legal_name": org.legal_name,
        "address": org.address, "country": org.country, "vat_id": org.vat_id, "iban": org.iban,
        "default_currency": org.default_currency, "timezone": org.timezone,
        "locale": org.locale, "invoice_prefix": org.invoice_prefix,
        "invoice_number_format": org.invoice_number_format, "brand_color": org.brand_color,
        "logo_url": org.logo_url, "logo_uploaded": org.logo_path is not None,
        "draft_grace_seconds": org.draft_grace_seconds,
        "invoice_lead_days": org.invoice_lead_days, "days_until_due": org.days_until_due,
        "proration_granularity": org.proration_granularity,
        "automatic_tax": org.automatic_tax, "reporting_currency": org.reporting_currency,
        "support_email": org.support_email,
        "email_settings": email_settings.effective(org.email_settings),
        "payment_settings": payment_settings.effective(org.payment_settings),
        "portal_settings": portal_settings.effective(org.portal_settings),
        "gross_margin_percent": str(org.gross_margin_percent),
        "created": _ts(org.created),
    }


def test_clock(clock: m.TestClock) -> dict[str, Any]:
    return {"id": clock.id, "object": "test_helpers.test_clock", "name": clock.name,
            "frozen_time": _ts(clock.frozen_time), "status": clock.status,
            "created": _ts(clock.created)}


def customer(c: m.Customer) -> dict[str, Any]:
    return {
        "id": c.id, "object": "customer", "name": c.name, "email": c.email,
        "address": c.address or None, "country": c.country, "vat_id": c.vat_id,
        "peppol_id": c.peppol_id, "vat_status": c.vat_status,
        "vat_checked_at": _ts(c.vat_checked_at),
        "currency": c.currency, "timezone": c.timezone, "preferred_locales":
        [c.locale] if c.locale else [], "tax_exempt": c.tax_exempt, "metadata": c.metadata_,
        "external_id": c.external_id, "balance": c.balance, "test_clock": c.test_clock_id,
        "dunning_policy": c.dunning_policy_id, "erased_at": _ts(c.erased_at),
        "created": _ts(c.created), "deleted": c.deleted or None,
    }


def balance_transaction(t: m.BalanceTransaction) -> dict[str, Any]:
    return {"id": t.id, "object": "customer_balance_transaction", "customer": t.customer_id,
            "amount": t.amount, "currency": t.currency, "type": t.type,
            "description": t.description, "invoice": t.invoice_id,
            "ending_balance": t.ending_balance, "metadata": t.metadata_ or {},
            "created": _ts(t.created)}


def product(p: m.Product) -> dict[str, Any]:
    return {"id": p.id, "object": "product", "name": p.name, "description": p.description,
            "unit_label": p.unit_label, "tax_code": p.tax_code, "active": p.active,
            "metadata": p.metadata_,
            "created": _ts(p.created)}


def price(p: m.Price) -> dict[str, Any]:
    recurring = None
    if p.type == "recurring":
        recurring = {"interval": p.recurring_interval,
                     "interval_count": p.recurring_interval_count,
                     "usage_type": p.recurring_usage_type, "meter": p.meter_id}
    return {
        "id": p.id, "object": "price", "product": p.product_id, "currency": p.currency,
        "unit_amount": _int_amount(p.unit_amount_decimal),
        "unit_amount_decimal": _dec(p.unit_amount_decimal), "type": p.type,
        "billing_scheme": p.billing_scheme, "recurring": recurring,
        "tiers_mode": p.tiers_mode, "tiers": _tiers(p), "transform_quantity": p.transform_quantity,
        "percentage": p.percentage, "customer": p.customer_id,
        "currency_options": _currency_options(p), "nickname": p.nickname,
        "lookup_key": p.lookup_key, "tax_behavior": p.tax_behavior, "active": p.active,
        "metadata": p.metadata_,
        "created": _ts(p.created),
    }


def _tiers(p: m.Price) -> list[dict[str, Any]] | None:
    if not p.tiers:
        return None
    result = []
    for tier in p.tiers["tiers"]:
        unit, flat = Decimal(tier["unit_amount_decimal"]), Decimal(tier["flat_amount_decimal"])
        result.append({"up_to": tier["up_to"] if tier["up_to"] is not None else "inf",
                       "unit_amount": _int_amount(unit), "unit_amount_decimal": _dec(unit),
                       "flat_amount": _int_amount(flat), "flat_amount_decimal": _dec(flat)})
    return result


def _currency_options(p: m.Price) -> dict[str, Any] | None:
    if not p.currency_options:
        return None
    result = {}
    for code, option in p.currency_options.items():
        unit = Decimal(option["unit_amount_decimal"])
        result[code] = {"unit_amount": _int_amount(unit), "unit_amount_decimal": _dec(unit)}
    return result


def meter(mt: m.Meter) -> dict[str, Any]:
    return {
        "id": mt.id, "object": "billing.meter", "display_name": mt.display_name,
        "event_name": mt.event_name, "status": mt.status,
        "default_aggregation": {"formula": mt.formula},
        "value_settings": {"event_payload_key": mt.value_key},
        "customer_mapping": {"event_payload_key": mt.customer_key,
                             "type": "by_id_or_external_id"},
        "dimension_filters": mt.dimension_filters or None,
        "group_by": (mt.group_by or {}).get("keys") or None, "created": _ts(mt.created),
    }


def meter_event(e: m.MeterEvent) -> dict[str, Any]:
    return {"object": "billing.meter_event", "identifier": e.identifier, "meter": e.meter_id,
            "customer": e.customer_id, "timestamp": _ts(e.timestamp),
            "value": _dec(e.value), "payload": e.payload, "counted": e.counted,
            "voided": e.voided_at is not None, "created": _ts(e.created)}


def meter_alert(a: m.MeterAlert) -> dict[str, Any]:
    return {"id": a.id, "object": "billing.alert", "title": a.title, "meter": a.meter_id,
            "customer": a.customer_id, "threshold": _dec(a.threshold), "status": a.status,
            "created": _ts(a.created)}


def subscription_item(item: m.SubscriptionItem) -> dict[str, Any]:
    pending = None
    if item.migrate_at is not None:
        pending = {"price": item.migrate_to_price_id, "quantity": item.migrate_quantity
                   if item.migrate_quantity is not None else item.quantity,
                   "effective_at": _ts(item.migrate_at)}
    return {"id": item.id, "object": "subscription_item", "subscription": item.subscription_id,
            "price": price(item.price), "quantity": item.quantity,
            "pending_change": pending, "metadata": item.metadata_,
            "created": _ts(item.created)}


def current_items(s: m.Subscription) -> list[m.SubscriptionItem]:
    """The items billed now: for a schedule, those of the phase the current period is in.
    Removed items are not listed."""
    phased = [i for i in s.items if i.phase_start is not None]
    if not phased:
        return [i for i in s.items if i.ended_at is None]
    started = [i.phase_start for i in phased if i.phase_start <= s.current_period_start]
    start = max(started) if started else min(i.phase_start for i in phased)
    return [i for i in phased if i.phase_start == start]


def subscription_schedule(sched: m.SubscriptionSchedule,
                          sub: m.Subscription) -> dict[str, Any]:
    """The schedule with each phase's dates, read off the subscription's phased items."""
    starts = sorted({i.phase_start for i in sub.items if i.phase_start is not None})
    ends = [*starts[1:], sub.cancel_at]
    now = sub.current_period_start
    phases = [{"start_date": _ts(start), "end_date": _ts(end),
               "iterations": spec.get("iterations"),
               "items": [{"price": i.price_id, "quantity": i.quantity}
                         for i in sub.items if i.phase_start == start]}
              for start, end, spec in zip(starts, ends, sched.phases["phases"], strict=False)]
    current = next((phase for phase, start, end in zip(phases, starts, ends, strict=False)
                    if start <= now and (end is None or now < end)), None)
    status = "canceled" if sub.status == "canceled" else \
        ("active" if current else "not_started")
    return {"id": sched.id, "object": "subscription_schedule", "customer": sched.customer_id,
            "subscription": sched.subscription_id, "end_behavior": sched.end_behavior,
            "status": status, "phases": phases,
            "current_phase": {"start_date": current["start_date"],
                              "end_date": current["end_date"]} if current else None,
            "metadata": sched.metadata_, "created": _ts(sched.created)}


def subscription(s: m.Subscription) -> dict[str, Any]:
    return {
        "id": s.id, "object": "subscription", "customer": s.customer_id, "status": s.status,
        "currency": s.currency, "collection_method": s.collection_method,
        "days_until_due": s.days_until_due, "payment_behavior": s.payment_behavior,
        "start_date": _ts(s.start_date), "billing_cycle_anchor": _ts(s.billing_cycle_anchor),
        "trial_start": _ts(s.trial_start), "trial_end": _ts(s.trial_end),
        "current_period_start": _ts(s.current_period_start),
        "current_period_end": _ts(s.current_period_end),
        "cancel_at_period_end": s.cancel_at_period_end, "cancel_at": _ts(s.cancel_at),
        "canceled_at": _ts(s.canceled_at), "ended_at": _ts(s.ended_at),
        "invoice_lead_days": s.invoice_lead_days, "latest_invoice": s.latest_invoice_id,
        "minimum_amount": s.minimum_amount,
        "next_billing_at": _ts(s.next_billing_at),
        "proration_granularity": s.proration_granularity,
        "pause_collection": s.pause_collection,
        "paused_at": _ts(s.paused_at), "resumes_at": _ts(s.resumes_at),
        "suspended_at": _ts(s.suspended_at),
        "cancellation_details": {"reason": s.cancellation_reason,
                                 "feedback": s.cancellation_feedback,
                                 "comment": s.cancellation_comment},
        "items": {"object": "list", "data": [subscription_item(i) for i in current_items(s)]},
        "metadata": s.metadata_, "created": _ts(s.created),
    }


def invoice_line(line: m.InvoiceLine) -> dict[str, Any]:
    line = rows.snapshot(line)  # billing builds two shapes per invoice
    return {
        "id": line.id, "object": "line_item", "type": line.type,
        "subscription": line.subscription_id, "subscription_item": line.subscription_item_id,
        "invoice_item": line.invoice_item_id, "price": line.price_id,
        "description": line.description, "quantity": line.quantity,
        "unit_amount_decimal": _dec(line.unit_amount_decimal), "amount": line.amount,
        "currency": line.currency,
        "period": {"start": _ts(line.period_start), "end": _ts(line.period_end)},
        "quantity_decimal": _dec(line.quantity_decimal), "tier": line.tier,
        "proration": line.proration,
        "proration_fraction": _dec(line.proration_fraction),
        "discount_amount": line.discount_amount or 0,
        "tax_behavior": line.tax_behavior, "tax_code": line.tax_code,
        "amount_excluding_tax": line.amount_excluding_tax,
        "tax_amounts": [] if line.tax_category is None else [{
            "amount": line.tax_amount, "category": line.tax_category,
            "rate": _dec(line.tax_rate), "country": line.tax_country,
            "region": line.tax_region, "tax_rate": line.tax_rate_id}],
    }


def invoice(i: m.Invoice, lines: list[m.InvoiceLine] | None = None) -> dict[str, Any]:
    lines = i.lines if lines is None else lines
    i = rows.snapshot(i)
    return {
        "id": i.id, "object": "invoice", "customer": i.customer_id,
        "subscription": i.subscription_id, "status": i.status, "number": i.number,
        "currency": i.currency, "billing_reason": i.billing_reason,
        "collection_method": i.collection_method, "period_start": _ts(i.period_start),
        "period_end": _ts(i.period_end), "subtotal": i.subtotal, "tax": i.tax,
        "total_discount_amounts": (i.discounts or {}).get("discounts", []),
        "total_discount": i.total_discount or 0, "total": i.total,
        "total_excluding_tax": i.total_excluding_tax,
        "tax_breakdown": i.tax_breakdown or [],
        "supply_date": _ts(i.supply_date),
        "starting_balance": i.starting_balance,
        "ending_balance": i.ending_balance, "amount_due": i.amount_due,
        "amount_paid": i.amount_paid, "amount_remaining": i.amount_remaining,
        "due_date": _ts(i.due_date), "auto_advance": i.auto_advance,
        "automatically_finalizes_at": _ts(i.auto_finalize_at) if i.status == "draft" else None,
        "paid": i.status == "paid", "paid_out_of_band": i.paid_out_of_band,
        "attempted": bool(i.attempt_count), "attempt_count": i.attempt_count or 0,
        "next_payment_attempt": _ts(i.next_payment_attempt),
        # The public page's path, under the deployment's KASSA_PUBLIC_URL.
        "hosted_invoice_path": f"/i/{i.hosted_token}" if i.hosted_token else None,
        "description": i.description, "customer_name": i.customer_name,
        "customer_email": i.customer_email, "customer_address": i.customer_address,
        "customer_vat_id": i.customer_vat_id,
        "status_transitions": {"finalized_at": _ts(i.finalized_at), "paid_at": _ts(i.paid_at),
                               "voided_at": _ts(i.voided_at),
                               "marked_uncollectible_at": _ts(i.marked_uncollectible_at)},
        "lines": {"object": "list", "data": [invoice_line(line) for line in lines]},
        "metadata": i.metadata_, "created": _ts(i.created),
    }


def invoice_item(ii: m.InvoiceItem) -> dict[str, Any]:
    return {
        "id": ii.id, "object": "invoiceitem", "customer": ii.customer_id,
        "invoice": ii.invoice_id, "price": ii.price_id, "currency": ii.currency,
        "description": ii.description, "quantity": ii.quantity,
        "unit_amount_decimal": _dec(ii.unit_amount_decimal), "amount": ii.amount,
        "period": {"start": _ts(ii.period_start), "end": _ts(ii.period_end)},
        "subscription": ii.subscription_id, "subscription_item": ii.subscription_item_id,
        "proration": bool(ii.proration),
        "metadata": ii.metadata_, "date": _ts(ii.created),
    }


def credit_note_balance_transaction_id(credit_note_id: str) -> str:
    """The id of the balance transaction that credits a credit note's `credit_amount`: the
    credit note's id body under the `cbtxn_` prefix, so the note names it without a lookup."""
    return f"cbtxn_{credit_note_id.partition('_')[2]}"


def credit_note_line(line: m.CreditNoteLine) -> dict[str, Any]:
    return {"id": line.id, "object": "credit_note_line_item", "type": line.type,
            "invoice_line": line.invoice_line_id, "description": line.description,
            "quantity": line.quantity, "unit_amount_decimal": _dec(line.unit_amount_decimal),
            "amount": line.amount,
            "tax_amounts": [] if line.tax_category is None else [{
                "amount": line.tax_amount or 0, "category": line.tax_category,
                "rate": _dec(line.tax_rate)}]}


def credit_note(cn: m.CreditNote) -> dict[str, Any]:
    """A credit note; a preview (not stored) has no id and no number."""
    return {
        "id": cn.id, "object": "credit_note", "number": cn.number, "invoice": cn.invoice_id,
        "customer": cn.customer_id, "status": cn.status, "type": cn.type,
        "currency": cn.currency, "amount": cn.amount, "subtotal": cn.subtotal,
        "tax": cn.tax or 0, "total": cn.total, "pre_payment_amount": cn.pre_payment_amount,
        "credit_amount": cn.credit_amount, "refund_amount": cn.refund_amount,
        "out_of_band_amount": cn.out_of_band_amount, "reason": cn.reason, "memo": cn.memo,
        "lines": {"object": "list", "data": [credit_note_line(line) for line in cn.lines]},
        "customer_balance_transaction": credit_note_balance_transaction_id(cn.id)
        if cn.id and cn.credit_amount else None,
        "created": _ts(cn.created), "voided_at": _ts(cn.voided_at), "metadata": cn.metadata_,
    }


def event(e: m.Event) -> dict[str, Any]:
    return {"id": e.id, "object": "event", "type": e.type, "created": _ts(e.created),
            "data": e.data}


def coupon(c: m.Coupon) -> dict[str, Any]:
    return {"id": c.id, "object": "coupon", "name": c.name,
            "percent_off": _dec(c.percent_off), "amount_off": c.amount_off,
            "currency": c.currency, "duration": c.duration,
            "duration_in_months": c.duration_in_months, "max_redemptions": c.max_redemptions,
            "times_redeemed": c.times_redeemed, "redeem_by": _ts(c.redeem_by),
            "applies_to": c.applies_to_products, "valid": c.valid, "metadata": c.metadata_,
            "created": _ts(c.created)}


def promotion_code(p: m.PromotionCode) -> dict[str, Any]:
    return {"id": p.id, "object": "promotion_code", "code": p.code, "coupon": p.coupon_id,
            "customer": p.customer_id, "active": p.active,
            "max_redemptions": p.max_redemptions, "times_redeemed": p.times_redeemed,
            "expires_at": _ts(p.expires_at), "metadata": p.metadata_ or {},
            "created": _ts(p.created)}


def discount(d: m.Discount) -> dict[str, Any]:
    return {"id": d.id, "object": "discount", "coupon": coupon(d.coupon),
            "customer": d.customer_id, "subscription": d.subscription_id,
            "promotion_code": d.promotion_code_id, "start": _ts(d.start), "end": _ts(d.end)}


def entitlement_feature(f: m.Feature) -> dict[str, Any]:
    return {"id": f.id, "object": "entitlements.feature", "name": f.name,
            "lookup_key": f.lookup_key, "limit": f.limit, "active": f.active,
            "metadata": f.metadata_, "created": _ts(f.created)}


def product_feature(pf: m.ProductFeature) -> dict[str, Any]:
    return {"id": pf.id, "object": "product_feature", "product": pf.product_id,
            "entitlement_feature": entitlement_feature(pf.feature), "created": _ts(pf.created)}


def deleted_product_feature(pf: m.ProductFeature) -> dict[str, Any]:
    return {"id": pf.id, "object": "product_feature", "deleted": True}


def active_entitlement_id(customer_id: str, feature_id: str) -> str:
    """The id of a derived entitlement: the feature's id body, then a digest of the customer.

    Stable for as long as the customer holds the feature, and, for one customer, sorted as
    the feature ids are, so it serves as a pagination cursor.
    """
    digest = hashlib.sha256(customer_id.encode()).hexdigest()[:10]
    return f"ent_{feature_id.partition('_')[2]}{digest}"


def active_entitlement(customer_id: str, e: Entitlement) -> dict[str, Any]:
    return {"id": active_entitlement_id(customer_id, e.feature_id),
            "object": "entitlements.active_entitlement", "feature": e.feature_id,
            "lookup_key": e.lookup_key, "limit": e.limit}


def price_migration_entry(e: m.PriceMigrationEntry, currency: str) -> dict[str, Any]:
    return {"id": e.id, "object": "price_migration_entry", "price_migration": e.migration_id,
            "subscription": e.subscription_id, "subscription_item": e.subscription_item_id,
            "customer": e.customer_id, "old_amount": e.old_amount, "new_amount": e.new_amount,
            "currency": currency, "notify_at": _ts(e.notify_at),
            "notified_at": _ts(e.notified_at), "effective_at": _ts(e.effective_at),
            "applied_at": _ts(e.applied_at), "status": e.status}


def price_migration(detail: Detail) -> dict[str, Any]:
    """A price migration with a page of its entries (the rest: its `entries.url`)."""
    mig, currency = detail.migration, detail.currency
    return {"id": mig.id, "object": "price_migration", "from_price": mig.from_price_id,
            "to_price": mig.to_price_id, "currency": currency,
            "notice_date": _ts(mig.notice_date), "status": mig.status,
            "description": mig.description, "metadata": mig.metadata_,
            "entries": {"object": "list", "url": f"/v1/price_migrations/{mig.id}/entries",
                        "has_more": detail.has_more,
                        "data": [price_migration_entry(e, currency) for e in detail.entries]},
            "created": _ts(mig.created)}


def price_migration_preview(plan: Plan) -> dict[str, Any]:
    """What a price migration would do; nothing of it is stored."""
    currency = plan.from_price.currency
    return {"object": "price_migration_preview", "from_price": plan.from_price.id,
            "to_price": plan.to_price.id, "currency": currency,
            "notice_date": _ts(plan.notice_date),
            "entries": [{"subscription": move.subscription.id,
                         "customer": move.subscription.customer_id,
                         "subscription_item": move.item.id, "quantity": move.item.quantity,
                         "old_amount": move.old_amount, "new_amount": move.new_amount,
                         "currency": currency, "effective_at": _ts(move.effective_at),
                         "notify_at": _ts(plan.notice_date)} for move in plan.moves],
            "skipped": [{"subscription": skip.subscription.id,
                         "customer": skip.subscription.customer_id, "reason": skip.reason,
                         "message": skip.message} for skip in plan.skipped]}


def tax_rate(r: m.TaxRate) -> dict[str, Any]:
    return {"id": r.id, "object": "tax_rate", "display_name": r.display_name,
            "description": r.description, "tax_type": r.tax_type, "country": r.country,
            "state": r.state,
            "jurisdiction": r.country + (f"-{r.state}" if r.state else ""),
            "percentage": decimal_text(r.percentage), "inclusive": r.inclusive,
            "valid_from": _ts(r.valid_from), "valid_until": _ts(r.valid_until),
            "active": r.active, "metadata": r.metadata_, "created": _ts(r.created)}


def exchange_rate(x: m.ExchangeRate) -> dict[str, Any]:
    """A rate for reports: one `base` bought `rate` units of `currency` on `date`."""
    return {"id": x.id, "object": "exchange_rate", "date": x.date.date().isoformat(),
            "base": x.base, "currency": x.currency, "rate": decimal_text(x.rate),
            "source": x.source, "created": _ts(x.created)}
