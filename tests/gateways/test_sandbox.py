"""The sandbox gateway: deterministic outcomes from stateless, signed tokens."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from stdnum import iban as stdnum_iban

from kassa.adapters.gateways.base import (
    ChargeResult,
    Gateway,
    GatewayError,
    GatewayEvent,
    MethodDetails,
    SignatureError,
)
from kassa.adapters.gateways.sandbox import (
    TEST_IBANS,
    TEST_TOKENS,
    SandboxGateway,
    event_body,
)

SECRET = b"sandbox-test-secret-0123456789"
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def gateway() -> SandboxGateway:
    return SandboxGateway(SECRET, public_url="https://kassa.test/")


def customer(gateway: SandboxGateway, key: str = "cus-key") -> str:
    return gateway.create_customer(email="ann@example.com", name="Ann", idempotency_key=key)


def attach(gateway: SandboxGateway, token: str, key: str = "attach-key") -> MethodDetails:
    return gateway.attach_payment_method(customer_ref=customer(gateway), token=token,
                                         idempotency_key=key, now=NOW)


def charge(gateway: SandboxGateway, method: MethodDetails, *, amount: int = 1999,
           currency: str = "eur", key: str = "charge-key",
           now: datetime = NOW) -> ChargeResult:
    return gateway.charge(customer_ref=customer(gateway), method_ref=method.ref, amount=amount,
                          currency=currency, idempotency_key=key, description="Invoice 1",
                          metadata={"invoice": "in_1"}, now=now)


def test_sandbox_satisfies_the_gateway_protocol(gateway: SandboxGateway) -> None:
    as_protocol: Gateway = gateway
    assert as_protocol.name == "sandbox"


# -- cards -----------------------------------------------------------------------------------

CARD_OUTCOMES = [
    # number, brand, status, decline code, decline type
    ("4242 4242 4242 4242", "visa", "succeeded", None, None),
    ("5555 5555 5555 4444", "mastercard", "succeeded", None, None),
    ("4000 0000 0000 0002", "visa", "failed", "generic_decline", "soft"),
    ("4000 0000 0000 9995", "visa", "failed", "insufficient_funds", "soft"),
    ("4000 0000 0000 9987", "visa", "failed", "lost_card", "hard"),
    ("4000 0000 0000 9979", "visa", "failed", "stolen_card", "hard"),
    ("4000 0000 0000 0069", "visa", "failed", "expired_card", "hard"),
    ("4000 0000 0000 0341", "visa", "failed", "generic_decline", "soft"),
    ("4000 0027 6000 3184", "visa", "requires_action", None, None),
    ("3782 822463 10005", "amex", "succeeded", None, None),
    ("2223 0031 2200 3222", "mastercard", "succeeded", None, None),
    ("4012 8888 8888 1881", "visa", "succeeded", None, None),
]


@pytest.mark.parametrize(("number", "brand", "status", "code", "kind"), CARD_OUTCOMES)
def test_test_card_charges_as_documented(gateway: SandboxGateway, number: str, brand: str,
                                         status: str, code: str | None,
                                         kind: str | None) -> None:
    token = gateway.tokenize_card(number, 12, 2030, "123", now=NOW)
    method = attach(gateway, token)
    digits = number.replace(" ", "")
    assert (method.type, method.brand, method.last4) == ("card", brand, digits[-4:])
    assert (method.exp_month, method.exp_year) == (12, 2030)

    result = charge(gateway, method)
    assert (result.status, result.decline_code, result.decline_type) == (status, code, kind)
    assert (result.amount, result.currency) == (1999, "eur")
    if code:
        assert result.message
    assert gateway.retrieve_charge(charge_ref=result.ref, now=NOW + timedelta(days=30)) == result
    assert digits not in token + method.ref + result.ref


TOKEN_OUTCOMES = [
    ("pm_card_visa", "visa", "4242", "succeeded", None),
    ("pm_card_mastercard", "mastercard", "4444", "succeeded", None),
    ("pm_card_chargeDeclined", "visa", "0002", "failed", "generic_decline"),
    ("pm_card_chargeDeclinedInsufficientFunds", "visa", "9995", "failed", "insufficient_funds"),
    ("pm_card_chargeDeclinedLostCard", "visa", "9987", "failed", "lost_card"),
    ("pm_card_chargeDeclinedStolenCard", "visa", "9979", "failed", "stolen_card"),
    ("pm_card_chargeDeclinedExpiredCard", "visa", "0069", "failed", "expired_card"),
    ("pm_card_chargeCustomerFail", "visa", "0341", "failed", "generic_decline"),
    ("pm_card_authenticationRequired", "visa", "3184", "requires_action", None),
]


@pytest.mark.parametrize(("token", "brand", "last4", "status", "code"), TOKEN_OUTCOMES)
def test_test_token_charges_as_documented(gateway: SandboxGateway, token: str, brand: str,
                                          last4: str, status: str, code: str | None) -> None:
    method = attach(gateway, token)
    assert (method.brand, method.last4, method.type) == (brand, last4, "card")
    assert method.exp_year is not None and method.exp_year > NOW.year
    result = charge(gateway, method)
    assert (result.status, result.decline_code) == (status, code)


def test_a_test_token_and_its_card_share_a_fingerprint(gateway: SandboxGateway) -> None:
    by_token = attach(gateway, "pm_card_visa")
    by_card = attach(gateway, gateway.tokenize_card("4242424242424242", 1, 2031, "999", now=NOW))
    other = attach(gateway, "pm_card_mastercard")
    assert by_token.fingerprint == by_card.fingerprint != other.fingerprint


def test_decline_types_follow_base_hard_declines(gateway: SandboxGateway) -> None:
    hard = {"pm_card_chargeDeclinedLostCard", "pm_card_chargeDeclinedStolenCard",
            "pm_card_chargeDeclinedExpiredCard"}
    for token in TEST_TOKENS:
        if not token.startswith("pm_card_charge"):
            continue
        result = charge(gateway, attach(gateway, token))
        assert result.decline_type == ("hard" if token in hard else "soft"), token


def test_number_failing_luhn_is_incorrect_number(gateway: SandboxGateway) -> None:
    with pytest.raises(GatewayError) as error:
        gateway.tokenize_card("4242 4242 4242 4241", 12, 2030, "123", now=NOW)
    assert error.value.code == "incorrect_number"
    assert "4242" not in str(error.value)


@pytest.mark.parametrize("number", ["", "abcd", "4242", "4242-4242-4242-424x"])
def test_malformed_numbers_are_incorrect_number(gateway: SandboxGateway, number: str) -> None:
    with pytest.raises(GatewayError) as error:
        gateway.tokenize_card(number, 12, 2030, "123", now=NOW)
    assert error.value.code == "incorrect_number"


def test_past_expiry_is_expired_card_at_tokenization(gateway: SandboxGateway) -> None:
    with pytest.raises(GatewayError) as error:
        gateway.tokenize_card("4242424242424242", 2, 2026, "123", now=NOW)
    assert error.value.code == "expired_card"
    # the current month is still good, and two-digit years are this century
    assert gateway.tokenize_card("4242424242424242", 3, 26, "123", now=NOW)


@pytest.mark.parametrize(("month", "year", "cvc", "code"), [
    (13, 2030, "123", "invalid_expiry_month"),
    (0, 2030, "123", "invalid_expiry_month"),
    (12, 2300, "123", "invalid_expiry_year"),
    (12, 2030, "12", "invalid_cvc"),
    (12, 2030, "12a", "invalid_cvc"),
])
def test_bad_expiry_or_cvc_is_refused(gateway: SandboxGateway, month: int, year: int, cvc: str,
                                      code: str) -> None:
    with pytest.raises(GatewayError) as error:
        gateway.tokenize_card("4242424242424242", month, year, cvc, now=NOW)
    assert error.value.code == code


# -- 3-D Secure ------------------------------------------------------------------------------

def test_authentication_required_points_to_the_sandbox_page(gateway: SandboxGateway) -> None:
    result = charge(gateway, attach(gateway, "pm_card_authenticationRequired"))
    assert result.status == "requires_action"
    assert result.next_action_url == f"https://kassa.test/sandbox/authenticate/{result.ref}"


@pytest.mark.parametrize(("approve", "status", "code"), [
    (True, "succeeded", None), (False, "failed", "authentication_required")])
def test_completed_authentication_is_a_new_ref_of_the_same_charge(
        gateway: SandboxGateway, approve: bool, status: str, code: str | None) -> None:
    pending = charge(gateway, attach(gateway, "pm_card_authenticationRequired"))
    done = gateway.complete_authentication(pending.ref, approve, now=NOW + timedelta(minutes=2))
    assert (done.status, done.decline_code) == (status, code)
    assert done.ref != pending.ref
    assert gateway.charge_id(done.ref) == gateway.charge_id(pending.ref)
    later = NOW + timedelta(days=1)
    assert gateway.retrieve_charge(charge_ref=done.ref, now=later).status == status
    # stateless: the original ref cannot learn of the answer
    assert gateway.retrieve_charge(charge_ref=pending.ref, now=later).status == "requires_action"
    with pytest.raises(GatewayError) as error:
        gateway.complete_authentication(done.ref, True)
    assert error.value.code == "payment_intent_unexpected_state"


def test_only_a_charge_awaiting_authentication_can_be_authenticated(
        gateway: SandboxGateway) -> None:
    result = charge(gateway, attach(gateway, "pm_card_visa"))
    with pytest.raises(GatewayError) as error:
        gateway.complete_authentication(result.ref, True)
    assert error.value.code == "payment_intent_unexpected_state"


# -- SEPA Direct Debit -----------------------------------------------------------------------

def test_the_test_ibans_are_valid() -> None:
    assert all(stdnum_iban.is_valid(number) for number in TEST_IBANS)


def test_iban_method_has_a_mandate_from_the_idempotency_key(gateway: SandboxGateway) -> None:
    token = gateway.tokenize_iban("DE89 3704 0044 0532 0130 00", "Ann Example", now=NOW)
    method = attach(gateway, token, key="mandate-1")
    assert (method.type, method.last4, method.country, method.bank_code) == (
        "sepa_debit", "3000", "DE", "37040044")
    assert method.mandate_reference and method.mandate_reference.startswith("SBX-")
    assert method.mandate_signed_at == NOW  # when the IBAN was entered and the mandate given
    again = attach(gateway, token, key="mandate-1")
    assert again.mandate_reference == method.mandate_reference
    assert attach(gateway, token, key="mandate-2").mandate_reference != method.mandate_reference
    compact = attach(gateway, gateway.tokenize_iban("DE89370400440532013000", "Ann"))
    assert method.fingerprint == compact.fingerprint
    assert method.fingerprint != attach(gateway, "pm_sepa_debit").fingerprint


@pytest.mark.parametrize("number", ["NL91ABNA0417164301", "XX00", ""])
def test_invalid_iban_is_refused(gateway: SandboxGateway, number: str) -> None:
    with pytest.raises(GatewayError) as error:
        gateway.tokenize_iban(number, "Ann")
    assert error.value.code == "invalid_iban"


def test_iban_needs_an_account_holder(gateway: SandboxGateway) -> None:
    with pytest.raises(GatewayError) as error:
        gateway.tokenize_iban("NL91ABNA0417164300", " ")
    assert error.value.code == "invalid_owner_name"


def status_on(gateway: SandboxGateway, ref: str, days: float) -> tuple[str, str | None]:
    result = gateway.retrieve_charge(charge_ref=ref, now=NOW + timedelta(days=days))
    return result.status, result.decline_code


@pytest.mark.parametrize("token", ["pm_sepa_debit", "NL91ABNA0417164300",
                                   "DE89370400440532013000", "NL20INGB0001234567"])
def test_sepa_debit_processes_then_settles_on_day_two(gateway: SandboxGateway,
                                                     token: str) -> None:
    if not token.startswith("pm_"):
        token = gateway.tokenize_iban(token, "Ann", now=NOW)
    result = charge(gateway, attach(gateway, token))
    assert result.status == "processing"
    assert status_on(gateway, result.ref, 0) == ("processing", None)
    assert status_on(gateway, result.ref, 1.99) == ("processing", None)
    assert status_on(gateway, result.ref, 2) == ("succeeded", None)
    assert status_on(gateway, result.ref, 60) == ("succeeded", None)


@pytest.mark.parametrize(("token", "iban", "code"), [
    ("pm_sepa_debit_returned_AM04", "NL18RABO0123459876", "AM04"),
    ("pm_sepa_debit_returned_MD06", "NL88RABO0123459877", "MD06"),
])
def test_returned_sepa_debit_succeeds_then_fails(gateway: SandboxGateway, token: str,
                                                 iban: str, code: str) -> None:
    for source in (token, gateway.tokenize_iban(iban, "Ann", now=NOW)):
        result = charge(gateway, attach(gateway, source))
        assert status_on(gateway, result.ref, 1) == ("processing", None)
        assert status_on(gateway, result.ref, 2) == ("succeeded", None)
        assert status_on(gateway, result.ref, 2.99) == ("succeeded", None)
        failed = gateway.retrieve_charge(charge_ref=result.ref, now=NOW + timedelta(days=3))
        assert (failed.status, failed.decline_code, failed.decline_type) == (
            "failed", code, "soft")


def test_return_delay_is_configurable() -> None:
    slow = SandboxGateway(SECRET, return_delay_days=10)
    result = charge(slow, attach(slow, "pm_sepa_debit_returned_AM04"))
    assert status_on(slow, result.ref, 9) == ("succeeded", None)
    assert status_on(slow, result.ref, 10) == ("failed", "AM04")
    with pytest.raises(ValueError):
        SandboxGateway(SECRET, return_delay_days=2)


def test_sepa_debit_charges_only_euros(gateway: SandboxGateway) -> None:
    with pytest.raises(GatewayError) as error:
        charge(gateway, attach(gateway, "pm_sepa_debit"), currency="usd")
    assert error.value.code == "currency_not_supported"


# -- customers, statelessness, tampering ---------------------------------------------------

def test_customer_id_follows_the_idempotency_key(gateway: SandboxGateway) -> None:
    first = customer(gateway, "key-1")
    assert first.startswith("cus_sbx_")
    assert customer(gateway, "key-1") == first != customer(gateway, "key-2")


def test_tokens_are_read_by_another_instance_with_the_same_secret(
        gateway: SandboxGateway) -> None:
    token = gateway.tokenize_card("4000000000009995", 12, 2030, "123", now=NOW)
    other = SandboxGateway(SECRET)
    method = attach(other, token)
    assert method == attach(gateway, token)
    result = charge(gateway, method)
    assert other.retrieve_charge(charge_ref=result.ref, now=NOW).decline_code == (
        "insufficient_funds")
    refund = other.refund(charge_ref=charge(gateway, attach(gateway, "pm_card_visa")).ref,
                          amount=1, currency="eur", idempotency_key="r", reason=None)
    assert refund.status == "succeeded"


def test_another_secret_refuses_the_tokens(gateway: SandboxGateway) -> None:
    token = gateway.tokenize_card("4242424242424242", 12, 2030, "123", now=NOW)
    method = attach(gateway, token)
    result = charge(gateway, method)
    stranger = SandboxGateway(b"another-secret-0123456789")
    calls = [
        lambda: attach(stranger, token),
        lambda: charge(stranger, method),
        lambda: stranger.retrieve_charge(charge_ref=result.ref, now=NOW),
        lambda: stranger.detach_payment_method(method_ref=method.ref),
    ]
    for call in calls:
        with pytest.raises(GatewayError) as error:
            call()
        assert error.value.code == "resource_missing"


def flip(token: str, position: int) -> str:
    char = token[position]
    return token[:position] + ("A" if char != "A" else "B") + token[position + 1:]


def test_a_tampered_token_is_refused(gateway: SandboxGateway) -> None:
    method = attach(gateway, "pm_card_chargeDeclinedLostCard")
    result = charge(gateway, method)
    head, _, mac = result.ref.rpartition(".")
    payload = json.loads(_b64decode(head.removeprefix("ch_sbx_")))
    payload["x"] = "ok"  # claim the card succeeds
    forged = f"ch_sbx_{_b64encode(json.dumps(payload).encode())}.{mac}"
    for bad in (forged, flip(result.ref, 10), flip(result.ref, len(result.ref) - 3),
                result.ref + "x", result.ref.replace("ch_sbx_", "pm_sbx_"), "ch_sbx_", ""):
        with pytest.raises(GatewayError) as error:
            gateway.retrieve_charge(charge_ref=bad, now=NOW)
        assert error.value.code == "resource_missing"
    # a method ref is no charge ref, and the other way round
    with pytest.raises(GatewayError):
        gateway.retrieve_charge(charge_ref=method.ref, now=NOW)


def test_a_method_is_charged_only_for_its_customer(gateway: SandboxGateway) -> None:
    method = attach(gateway, "pm_card_visa")
    with pytest.raises(GatewayError) as error:
        gateway.charge(customer_ref=customer(gateway, "someone-else"), method_ref=method.ref,
                       amount=100, currency="eur", idempotency_key="k", description="",
                       metadata={}, now=NOW)
    assert error.value.code == "resource_missing"


def test_unknown_customer_or_token_is_resource_missing(gateway: SandboxGateway) -> None:
    for customer_ref, token in (("cus_123", "pm_card_visa"),
                                (customer(gateway), "pm_card_unknown"),
                                (customer(gateway), "tok_bogus")):
        with pytest.raises(GatewayError) as error:
            gateway.attach_payment_method(customer_ref=customer_ref, token=token,
                                          idempotency_key="k")
        assert error.value.code == "resource_missing"


def test_the_same_charge_key_at_the_same_time_is_the_same_charge(
        gateway: SandboxGateway) -> None:
    method = attach(gateway, "pm_card_visa")
    assert charge(gateway, method, key="a") == charge(gateway, method, key="a")
    assert charge(gateway, method, key="a").ref != charge(gateway, method, key="b").ref
    later = charge(gateway, method, key="a", now=NOW + timedelta(seconds=5))
    assert gateway.charge_id(later.ref) == gateway.charge_id(charge(gateway, method, key="a").ref)


def test_every_ref_fits_kassas_255_character_columns(gateway: SandboxGateway) -> None:
    far = datetime(2099, 12, 31, 23, 59, tzinfo=UTC)
    cus = customer(gateway)
    for token in TEST_TOKENS:
        method = gateway.attach_payment_method(customer_ref=cus, token=token,
                                               idempotency_key="k" * 300, now=far)
        result = gateway.charge(customer_ref=cus, method_ref=method.ref, amount=10**15,
                                currency="eur", idempotency_key="c" * 300, description="",
                                metadata={}, now=far)
        if result.status == "requires_action":
            result = gateway.complete_authentication(result.ref, True, now=far)
        refund = gateway.refund(charge_ref=result.ref, amount=10**15, currency="eur",
                                idempotency_key="r", reason=None, now=far + timedelta(days=2)
                                ) if result.status != "failed" else None
        assert len(method.ref) <= 255 and len(result.ref) <= 255, token
        assert refund is None or len(refund.ref) <= 255


# -- refunds ---------------------------------------------------------------------------------

def test_refund_up_to_the_charged_amount(gateway: SandboxGateway) -> None:
    result = charge(gateway, attach(gateway, "pm_card_visa"), amount=5000)
    full = gateway.refund(charge_ref=result.ref, amount=5000, currency="eur",
                          idempotency_key="r1", reason="requested_by_customer")
    assert (full.status, full.amount) == ("succeeded", 5000)
    assert full.ref.startswith("re_sbx_")
    part = gateway.refund(charge_ref=result.ref, amount=1, currency="eur", idempotency_key="r2",
                          reason=None)
    assert part.amount == 1 and part.ref != full.ref
    with pytest.raises(GatewayError) as error:
        gateway.refund(charge_ref=result.ref, amount=5001, currency="eur",
                       idempotency_key="r3", reason=None)
    assert error.value.code == "amount_too_large"


@pytest.mark.parametrize("token", ["pm_card_chargeDeclined", "pm_card_authenticationRequired"])
def test_a_charge_that_did_not_succeed_is_not_refundable(gateway: SandboxGateway,
                                                         token: str) -> None:
    result = charge(gateway, attach(gateway, token))
    with pytest.raises(GatewayError) as error:
        gateway.refund(charge_ref=result.ref, amount=1, currency="eur", idempotency_key="r",
                       reason=None)
    assert error.value.code == "charge_not_refundable"


def test_sepa_debit_is_refundable_once_settled(gateway: SandboxGateway) -> None:
    result = charge(gateway, attach(gateway, "pm_sepa_debit"))
    with pytest.raises(GatewayError) as error:
        gateway.refund(charge_ref=result.ref, amount=1, currency="eur", idempotency_key="r",
                       reason=None, now=NOW + timedelta(days=1))
    assert error.value.code == "charge_not_refundable"
    refund = gateway.refund(charge_ref=result.ref, amount=1, currency="eur",
                            idempotency_key="r", reason=None, now=NOW + timedelta(days=2))
    assert refund.status == "succeeded"


# -- webhooks --------------------------------------------------------------------------------

def webhook(event_type: str = "payment.succeeded", **data: object) -> bytes:
    return json.dumps({"id": "evt_1", "type": event_type, "created": 1773144000,
                       "data": {"charge_ref": "ch_sbx_x", "amount": 100, "currency": "eur",
                                **data}}).encode()


def test_a_signed_webhook_is_parsed(gateway: SandboxGateway) -> None:
    body = webhook("payment.failed", decline_code="stolen_card")
    headers = gateway.sign_webhook(body, NOW)
    [event] = gateway.parse_webhook(body=body, headers=headers, now=NOW + timedelta(seconds=299))
    assert (event.id, event.type, event.charge_ref, event.amount, event.currency) == (
        "evt_1", "payment.failed", "ch_sbx_x", 100, "eur")
    assert (event.decline_code, event.decline_type) == ("stolen_card", "hard")
    assert event.created == datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert event.raw["id"] == "evt_1"
    # header names are case-insensitive
    lower = {name.lower(): value for name, value in headers.items()}
    assert gateway.parse_webhook(body=body, headers=lower, now=NOW) == [event]


def test_webhook_signed_with_another_secret_is_refused(gateway: SandboxGateway) -> None:
    body = webhook()
    headers = SandboxGateway(b"another-secret-0123456789").sign_webhook(body, NOW)
    with pytest.raises(SignatureError):
        gateway.parse_webhook(body=body, headers=headers, now=NOW)


def test_webhook_with_a_changed_body_is_refused(gateway: SandboxGateway) -> None:
    headers = gateway.sign_webhook(webhook(amount=100), NOW)
    with pytest.raises(SignatureError):
        gateway.parse_webhook(body=webhook(amount=100000), headers=headers, now=NOW)


def test_webhook_older_than_five_minutes_is_refused(gateway: SandboxGateway) -> None:
    body = webhook()
    headers = gateway.sign_webhook(body, NOW)
    with pytest.raises(SignatureError, match="too old"):
        gateway.parse_webhook(body=body, headers=headers, now=NOW + timedelta(seconds=301))


@pytest.mark.parametrize("header", [
    None, "", "garbage", "t=abc,v1=00", "v1=00", "t=1773144000", "t=1773144000,v0=00",
    "t=99999999999999999999,v1=00"])
def test_malformed_signature_header_is_refused(gateway: SandboxGateway,
                                               header: str | None) -> None:
    headers = {} if header is None else {"Sandbox-Signature": header}
    with pytest.raises(SignatureError):
        gateway.parse_webhook(body=webhook(), headers=headers, now=NOW)


def test_signed_body_that_is_no_event_is_an_invalid_event(gateway: SandboxGateway) -> None:
    for body in (b"not json", b"[]", webhook("payment.exploded"), b'{"id": "e", "type": '
                 b'"payment.succeeded", "data": []}'):
        with pytest.raises(GatewayError) as error:
            gateway.parse_webhook(body=body, headers=gateway.sign_webhook(body, NOW), now=NOW)
        assert error.value.code == "invalid_event"


def test_events_of_a_returned_sepa_debit(gateway: SandboxGateway) -> None:
    result = charge(gateway, attach(gateway, "pm_sepa_debit_returned_AM04"))
    events = gateway.events_between(result.ref, NOW - timedelta(seconds=1),
                                    NOW + timedelta(days=30))
    assert [(e.type, e.created) for e in events] == [
        ("payment.processing", NOW),
        ("payment.succeeded", NOW + timedelta(days=2)),
        ("payment.returned", NOW + timedelta(days=3)),
    ]
    returned = events[-1]
    assert (returned.reason, returned.decline_code, returned.amount) == ("AM04", "AM04", 1999)
    # the window is (since, until]; ids are stable
    assert gateway.events_between(result.ref, NOW, NOW + timedelta(days=2)) == [events[1]]
    assert gateway.events_between(result.ref, NOW, NOW + timedelta(days=1)) == []


def test_events_round_trip_through_a_signed_webhook(gateway: SandboxGateway) -> None:
    pending = charge(gateway, attach(gateway, "pm_card_authenticationRequired"))
    done = gateway.complete_authentication(pending.ref, True, now=NOW + timedelta(minutes=1))
    events = gateway.events_between(done.ref, NOW - timedelta(days=1), NOW + timedelta(days=1))
    assert [e.type for e in events] == ["payment.requires_action", "payment.succeeded"]
    for event in events:
        body = event_body(event)
        [parsed] = gateway.parse_webhook(body=body, headers=gateway.sign_webhook(body, NOW),
                                         now=NOW)
        assert _without_raw(parsed) == _without_raw(event)


def _without_raw(event: GatewayEvent) -> GatewayEvent:
    return GatewayEvent(**{**event.__dict__, "raw": {}})


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
