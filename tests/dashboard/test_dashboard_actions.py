"""Every operator action, as every role, over HTTP: what the role may do is done (the data
checked afterwards through the API) and is audit-logged as the operator, with the events it
wrote naming the operator; what it may not do is a 403 page and changes nothing. A refused
change (bad input, wrong state, a wrong CSRF token) is a 4xx page and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.helpers import create_customer, create_price, list_all, ok, subscribe
from dashboard.world import add_operator, browser, post, sent_invoice, sign_in, token
from kassa.adapters.bank.sepa import StatementLine, statement_for
from kassa.config import Kassa
from kassa.services import operators, payments
from kassa.services.organizations import NewOrganization
from kassa.store import models as m

ROLES = ("admin", "finance", "support")
Read = Callable[[], Any]


def _invoice(api: TestClient, invoice_id: str) -> dict[str, Any]:
    return ok(api.get(f"/v1/invoices/{invoice_id}"))


def _card_customer(api: TestClient, token_: str = "pm_card_visa") -> dict[str, Any]:
    customer = create_customer(api)
    ok(api.post("/v1/payment_methods", json={"customer": customer["id"], "token": token_}))
    return customer


def _unmatched(api: TestClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """An open invoice and a bank transfer that could not be matched to it."""
    invoice = sent_invoice(api, 7500, name="Ada Lovelace")
    statement = statement_for([StatementLine(
        amount=7500, debtor_name="Ada Lovelace", debtor_iban="DE89370400440532013000",
        booking_date=date(2026, 1, 5), remittance="January")],
        account_iban="NL91ABNA0417164300", statement_id="S1",
        created=datetime(2026, 1, 6, tzinfo=UTC))
    ok(api.post("/v1/bank_statements", content=statement,
                headers={"Content-Type": "application/xml"}))
    [waiting] = ok(api.get("/v1/bank_transactions", params={"status": "unmatched"}))["data"]
    return invoice, waiting


# Each case: set up what the action acts on; return the form's path and fields, a reading
# of what it changes, and that reading once it is done.

def void(api: TestClient, kassa: Kassa, org_id: str) -> tuple[str, dict[str, str], Read, Any]:
    invoice = sent_invoice(api)
    return (f"/dashboard/invoices/{invoice['id']}/void", {},
            lambda: _invoice(api, invoice["id"])["status"], "void")


def mark_uncollectible(api: TestClient, kassa: Kassa,
                       org_id: str) -> tuple[str, dict[str, str], Read, Any]:
    invoice = sent_invoice(api)
    return (f"/dashboard/invoices/{invoice['id']}/mark_uncollectible", {},
            lambda: _invoice(api, invoice["id"])["status"], "uncollectible")


def mark_paid(api: TestClient, kassa: Kassa,
              org_id: str) -> tuple[str, dict[str, str], Read, Any]:
    invoice = sent_invoice(api, 5000)

    def read() -> Any:
        found = _invoice(api, invoice["id"])
        paid = list_all(api, "/v1/payments", invoice=invoice["id"])
        return (found["status"], found["paid_out_of_band"],
                [(p["method_type"], p["amount"]) for p in paid])

    return (f"/dashboard/invoices/{invoice['id']}/mark_paid", {}, read,
            ("paid", True, [("manual", 5000)]))


def retry_payment(api: TestClient, kassa: Kassa,
                  org_id: str) -> tuple[str, dict[str, str], Read, Any]:
    """A declined card, then a working one made the default (not yet tried): the retry
    charges it."""
    customer = _card_customer(api, "pm_card_chargeDeclined")
    sub = subscribe(api, customer["id"], create_price(api, 2500)["id"])
    with kassa.uow() as uow:
        payments.attach_method(uow, kassa.gateways, org_id, customer["id"],
                               token="pm_card_visa", set_default=True)

    def read() -> Any:
        paid = list_all(api, "/v1/payments", invoice=sub["latest_invoice"])
        return (_invoice(api, sub["latest_invoice"])["status"],
                sorted(p["status"] for p in paid))

    assert read() == ("open", ["failed"])
    return (f"/dashboard/invoices/{sub['latest_invoice']}/retry_payment", {}, read,
            ("paid", ["failed", "succeeded"]))


def send_reminder(api: TestClient, kassa: Kassa,
                  org_id: str) -> tuple[str, dict[str, str], Read, Any]:
    invoice = sent_invoice(api, email="ada@example.com")

    def read() -> Any:
        return [(e["kind"], e["to"]) for e in list_all(api, "/v1/email_messages",
                                                       kind="invoice_reminder")]

    return (f"/dashboard/invoices/{invoice['id']}/send_reminder", {}, read,
            [("invoice_reminder", "ada@example.com")])


def credit_note(api: TestClient, kassa: Kassa,
                org_id: str) -> tuple[str, dict[str, str], Read, Any]:
    invoice = sent_invoice(api, 5000)

    def read() -> Any:
        notes = list_all(api, "/v1/credit_notes", invoice=invoice["id"])
        return ([(n["amount"], n["reason"], n["memo"]) for n in notes],
                _invoice(api, invoice["id"])["amount_remaining"])

    return (f"/dashboard/invoices/{invoice['id']}/credit_note",
            {"amount": "12.50", "reason": "duplicate", "memo": "Billed twice"}, read,
            ([(1250, "duplicate", "Billed twice")], 3750))


def void_credit_note(api: TestClient, kassa: Kassa,
                     org_id: str) -> tuple[str, dict[str, str], Read, Any]:
    invoice = sent_invoice(api, 5000)
    note = ok(api.post("/v1/credit_notes", json={"invoice": invoice["id"], "amount": 1000}))
    return (f"/dashboard/credit_notes/{note['id']}/void", {},
            lambda: (ok(api.get(f"/v1/credit_notes/{note['id']}"))["status"],
                     _invoice(api, invoice["id"])["amount_remaining"]), ("void", 5000))


def refund(api: TestClient, kassa: Kassa,
           org_id: str) -> tuple[str, dict[str, str], Read, Any]:
    customer = _card_customer(api)
    sub = subscribe(api, customer["id"], create_price(api, 3000)["id"])
    [payment] = list_all(api, "/v1/payments", invoice=sub["latest_invoice"])
    return (f"/dashboard/payments/{payment['id']}/refund",
            {"amount": "10", "reason": "requested_by_customer"},
            lambda: ok(api.get(f"/v1/payments/{payment['id']}"))["amount_refunded"], 1000)


def customer_credit(api: TestClient, kassa: Kassa,
                    org_id: str) -> tuple[str, dict[str, str], Read, Any]:
    customer = create_customer(api)
    return (f"/dashboard/customers/{customer['id']}/credit",
            {"amount": "12.34", "description": "Sorry for the outage"},
            lambda: ok(api.get(f"/v1/customers/{customer['id']}"))["balance"], -1234)


def match(api: TestClient, kassa: Kassa,
          org_id: str) -> tuple[str, dict[str, str], Read, Any]:
    invoice, waiting = _unmatched(api)
    return (f"/dashboard/bank_transactions/{waiting['id']}/match",
            {"invoice": invoice["number"]},
            lambda: (ok(api.get(f"/v1/bank_transactions/{waiting['id']}"))["status"],
                     _invoice(api, invoice["id"])["status"]), ("matched", "paid"))


def ignore(api: TestClient, kassa: Kassa,
           org_id: str) -> tuple[str, dict[str, str], Read, Any]:
    _, waiting = _unmatched(api)
    return (f"/dashboard/bank_transactions/{waiting['id']}/ignore", {},
            lambda: ok(api.get(f"/v1/bank_transactions/{waiting['id']}"))["status"], "ignored")


def _operators(kassa: Kassa) -> list[tuple[str, str, bool]]:
    with kassa.uow() as uow:
        return [(o.email, o.role, o.active) for o in uow.session.scalars(
            select(m.Operator).where(m.Operator.email.like("colleague%")))]


def add_operator_(api: TestClient, kassa: Kassa,
                  org_id: str) -> tuple[str, dict[str, str], Read, Any]:
    return ("/dashboard/operators", {"email": "colleague@example.com", "role": "support"},
            lambda: _operators(kassa), [("colleague@example.com", "support", True)])


def change_role(api: TestClient, kassa: Kassa,
                org_id: str) -> tuple[str, dict[str, str], Read, Any]:
    add_operator(kassa, org_id, "support", "colleague@example.com")
    with kassa.uow() as uow:
        [colleague] = [o for o in operators.list_operators(uow, org_id)
                       if o.email.startswith("colleague")]
    return (f"/dashboard/operators/{colleague.id}/role", {"role": "finance"},
            lambda: _operators(kassa), [("colleague@example.com", "finance", True)])


def deactivate(api: TestClient, kassa: Kassa,
               org_id: str) -> tuple[str, dict[str, str], Read, Any]:
    add_operator(kassa, org_id, "finance", "colleague@example.com")
    with kassa.uow() as uow:
        [colleague] = [o for o in operators.list_operators(uow, org_id)
                       if o.email.startswith("colleague")]
    return (f"/dashboard/operators/{colleague.id}/deactivate", {},
            lambda: _operators(kassa), [("colleague@example.com", "finance", False)])


CASES = {"invoice.void": void, "invoice.mark_uncollectible": mark_uncollectible,
         "invoice.mark_paid": mark_paid, "invoice.retry_payment": retry_payment,
         "invoice.send_reminder": send_reminder, "credit_note.create": credit_note,
         "credit_note.void": void_credit_note, "payment.refund": refund,
         "customer.credit": customer_credit, "bank_transaction.match": match,
         "bank_transaction.ignore": ignore, "operators.manage:add": add_operator_,
         "operators.manage:role": change_role, "operators.manage:deactivate": deactivate}
ALLOWED = {"admin": set(CASES),
           "finance": {case for case in CASES if not case.startswith("operators.")},
           "support": {"invoice.retry_payment", "invoice.send_reminder"}}


def test_the_cases_cover_every_action_and_the_rule_table() -> None:
    assert {case.split(":")[0] for case in CASES} == set(operators.ACTIONS)
    for role in ROLES:
        assert {case.split(":")[0] for case in ALLOWED[role]} == operators.PERMISSIONS[role]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", list(CASES))
def test_each_role_may_do_what_the_table_says_and_nothing_else(
        api: TestClient, kassa: Kassa, org: NewOrganization, case: str, role: str) -> None:
    org_id = org.organization.id
    add_operator(kassa, org_id, "admin", "first-admin@example.com")  # an admin stays
    email = add_operator(kassa, org_id, role)
    client = browser(kassa)
    assert sign_in(client, email).status_code == 303
    path, fields, read, after = CASES[case](api, kassa, org_id)
    before = read()
    assert before != after
    answer = post(client, path, **fields)
    if case not in ALLOWED[role]:
        assert answer.status_code == 403, answer.text
        assert "Not allowed" in answer.text and "Nothing was changed" in answer.text
        assert read() == before
        assert not [e for e in ok(api.get("/v1/audit_log"))["data"]
                    if e["request"]["path"] == path]
        return
    # an added operator's password is shown at once; every other change goes on to a page
    assert answer.status_code == (200 if case == "operators.manage:add" else 303), answer.text
    assert read() == after
    with kassa.uow() as uow:
        operator_id = uow.session.scalars(select(m.Operator.id).where(
            m.Operator.email == email)).one()
    [entry] = [e for e in ok(api.get("/v1/audit_log"))["data"] if e["request"]["path"] == path]
    assert entry["actor"] == {"type": "operator", "id": operator_id}
    assert entry["request"]["method"] == "POST" and entry["request"]["ip"] == "testclient"
    with kassa.uow() as uow:  # the events the action wrote name the operator
        written = list(uow.session.scalars(select(m.Event).where(
            m.Event.request_id == entry["request"]["id"])))
    assert [e.type for e in written] == [change["type"] for change in entry["changes"]]
    assert all(e.actor and e.actor["type"] == "operator" and e.actor["id"] == operator_id
               for e in written)


def test_adding_an_operator_shows_their_password_once_and_it_signs_in(
        kassa: Kassa, org: NewOrganization) -> None:
    client = browser(kassa)
    sign_in(client, add_operator(kassa, org.organization.id, "admin"))
    page = post(client, "/dashboard/operators", email="New.One@Example.com", role="finance")
    assert page.status_code == 200 and "new.one@example.com was added as finance" in page.text
    password = page.text.split("Password for new.one@example.com: <code>")[1].split("<")[0]
    assert len(password) >= 24
    assert password not in client.get("/dashboard/operators").text
    assert sign_in(browser(kassa), "new.one@example.com", password).status_code == 303


def test_the_last_admin_cannot_be_demoted_or_deactivated(
        kassa: Kassa, org: NewOrganization) -> None:
    client = browser(kassa)
    sign_in(client, add_operator(kassa, org.organization.id, "admin"))
    with kassa.uow() as uow:
        [me] = operators.list_operators(uow, org.organization.id)
    for path, fields in ((f"/dashboard/operators/{me.id}/role", {"role": "support"}),
                         (f"/dashboard/operators/{me.id}/deactivate", {})):
        answer = post(client, path, **fields)
        assert answer.status_code == 400 and "at least one admin" in answer.text
    with kassa.uow() as uow:
        [me] = operators.list_operators(uow, org.organization.id)
    assert (me.role, me.active) == ("admin", True)
    duplicate = post(client, "/dashboard/operators", email=me.email, role="support")
    assert duplicate.status_code == 400 and "already exists" in duplicate.text
    bad = post(client, "/dashboard/operators", email="x@example.com", role="owner")
    assert bad.status_code == 400 and "role is one of admin, finance, support" in bad.text
    assert len(_all_operators(kassa)) == 1


def _all_operators(kassa: Kassa) -> list[str]:
    with kassa.uow() as uow:
        return list(uow.session.scalars(select(m.Operator.email)))


def test_refused_changes_show_why_and_change_nothing(api: TestClient, kassa: Kassa,
                                                     org: NewOrganization) -> None:
    client = browser(kassa)
    sign_in(client, add_operator(kassa, org.organization.id, "finance"))
    invoice = sent_invoice(api, 5000)
    path = f"/dashboard/invoices/{invoice['id']}"
    for fields, message in (
            ({"amount": "60.00"}, "exceeds what remains to be credited"),
            ({"amount": "abc"}, "such as 12.50: digits and a decimal point"),
            ({"amount": "12,50"}, "such as 12.50: digits and a decimal point"),
            ({"amount": "1e99999999"}, "digits and a decimal point"),
            ({"amount": "1.234"}, "at most 2 decimals"),
            ({"amount": "-5"}, "digits and a decimal point"),
            ({"amount": "0.00"}, "positive amount"),
            ({"amount": ""}, "Enter the amount"),
            ({"amount": "5", "reason": "because"}, "reason must be one of"),
            ({"amount": "5", "settle": "somehow"}, "Choose how the credit note is settled"),
            ({"amount": "5", "memo": "x" * 501}, "memo has at most 500 characters")):
        answer = post(client, f"{path}/credit_note", **fields)
        assert answer.status_code == 400, fields
        assert message in answer.text, (fields, answer.text[-3000:])
        assert 'role="alert"' in answer.text
    assert ok(api.get("/v1/credit_notes"))["data"] == []
    # a wrong CSRF token: nothing happens
    forged = client.post(f"{path}/void", data={"csrf_token": "f" * 64})
    assert forged.status_code == 400 and "The form has expired" in forged.text
    assert _invoice(api, invoice["id"])["status"] == "open"
    # the wrong state for the action
    post(client, f"{path}/mark_paid")
    for action, message in (("void", "only open or uncollectible invoices can be voided"),
                            ("mark_paid", "only open or uncollectible"),
                            ("send_reminder", "reminders are of invoices"),
                            ("retry_payment", "only an open or uncollectible")):
        answer = post(client, f"{path}/{action}")
        assert answer.status_code == 400 and message in answer.text, action
    assert _invoice(api, invoice["id"])["status"] == "paid"
    assert post(client, f"{path}/explode").status_code == 404
    # a customer credit must be a positive amount in the balance's currency
    customer = create_customer(api)
    refused = post(client, f"/dashboard/customers/{customer['id']}/credit", amount="0")
    assert refused.status_code == 400 and "positive amount" in refused.text
    assert ok(api.get(f"/v1/customers/{customer['id']}"))["balance"] == 0


def test_a_charge_needs_a_default_method_and_a_decline_is_recorded_and_shown(
        api: TestClient, kassa: Kassa, org: NewOrganization) -> None:
    client = browser(kassa)
    sign_in(client, add_operator(kassa, org.organization.id, "support"))
    invoice = sent_invoice(api)
    refused = post(client, f"/dashboard/invoices/{invoice['id']}/retry_payment")
    assert refused.status_code == 400 and "no default payment method" in refused.text
    assert list_all(api, "/v1/payments") == []
    customer = _card_customer(api, "pm_card_chargeDeclined")
    sub = subscribe(api, customer["id"], create_price(api, 2500)["id"])
    answer = post(client, f"/dashboard/invoices/{sub['latest_invoice']}/retry_payment")
    assert answer.headers["location"].endswith("?done=charge_failed")
    page = client.get(answer.headers["location"])
    assert "The charge failed" in page.text and "declined" in page.text.lower()
    assert [p["status"] for p in list_all(api, "/v1/payments",
                                          invoice=sub["latest_invoice"])] == ["failed"] * 2


def test_a_reminder_goes_once_a_day_and_not_for_automatic_collection(
        api: TestClient, kassa: Kassa, org: NewOrganization) -> None:
    client = browser(kassa)
    sign_in(client, add_operator(kassa, org.organization.id, "support"))
    invoice = sent_invoice(api, email="ada@example.com")
    assert post(client, f"/dashboard/invoices/{invoice['id']}/send_reminder"
                ).status_code == 303
    again = post(client, f"/dashboard/invoices/{invoice['id']}/send_reminder")
    assert again.status_code == 400 and "already sent today" in again.text
    automatic = subscribe(api, _card_customer(api, "pm_card_chargeDeclined")["id"],
                          create_price(api)["id"])["latest_invoice"]
    refused = post(client, f"/dashboard/invoices/{automatic}/send_reminder")
    assert refused.status_code == 400 and "charged automatically" in refused.text
    assert len(list_all(api, "/v1/email_messages", kind="invoice_reminder")) == 1


def test_a_transfer_matched_by_hand_to_an_unknown_invoice_is_refused(
        api: TestClient, kassa: Kassa, org: NewOrganization) -> None:
    client = browser(kassa)
    sign_in(client, add_operator(kassa, org.organization.id, "finance"))
    invoice, waiting = _unmatched(api)
    page = client.get(f"/dashboard/bank_transactions/{waiting['id']}")
    assert f"Match to {invoice['number']}" in page.text  # the suggestion, one click away
    answer = post(client, f"/dashboard/bank_transactions/{waiting['id']}/match",
                  invoice="NOPE-0001")
    assert answer.status_code == 400 and "No invoice has this number or id." in answer.text
    too_much = post(client, f"/dashboard/bank_transactions/{waiting['id']}/match",
                    invoice=invoice["id"], amount="80")
    assert too_much.status_code == 400 and "left to pay" in too_much.text
    assert ok(api.get(f"/v1/bank_transactions/{waiting['id']}"))["status"] == "unmatched"
    part = post(client, f"/dashboard/bank_transactions/{waiting['id']}/match",
                invoice=invoice["number"], amount="50")
    assert part.status_code == 303
    assert _invoice(api, invoice["id"])["amount_remaining"] == 2500
    customer = ok(api.get(f"/v1/customers/{invoice['customer']}"))
    assert customer["balance"] == -2500  # the rest of the transfer: the customer's credit


def test_the_forms_carry_the_session_token(kassa: Kassa, org: NewOrganization) -> None:
    client = browser(kassa)
    sign_in(client, add_operator(kassa, org.organization.id, "admin"))
    page = client.get("/dashboard/operators").text
    forms = page.count('<form method="post"')
    assert forms >= 3 and page.count(f'name="csrf_token" value="{token(client)}"') == forms
