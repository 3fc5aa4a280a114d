"""The e-mail outbox against a real SMTP server: written with the change that caused it,
delivered once, retried through an outage, given up after about three days, requeued by hand."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.helpers import create_customer, create_price, ok, subscribe
from kassa.config import Kassa
from kassa.core.clock import FrozenClock
from kassa.domain.delivery import MAX_ATTEMPTS, RETRY_DELAYS
from kassa.jobs.emails import deliver_emails
from kassa.services import emails
from kassa.services.emails import deliver_due
from kassa.store import models as m
from smtp_server import SmtpServer

PDF = b"%PDF-1.4 test"


def fake_loader(attachment: Mapping[str, Any]) -> bytes:
    assert attachment["invoice_id"].startswith("in_")
    return PDF


def send_invoice(api: TestClient, **customer: Any) -> dict[str, Any]:
    """A customer with a send_invoice subscription: its first invoice is finalized at once."""
    price = create_price(api)
    cust = create_customer(api, **customer)
    sub = subscribe(api, cust["id"], price["id"], collection_method="send_invoice")
    return ok(api.get(f"/v1/invoices/{sub['latest_invoice']}"))


def outbox(api: TestClient, **params: Any) -> list[dict[str, Any]]:
    return list(ok(api.get("/v1/email_messages", params={"limit": 100, **params}))["data"])


def deliver(kassa: Kassa, smtp: SmtpServer, **options: Any) -> emails.DeliveryCounts:
    return deliver_due(kassa.session_factory, kassa.clock, smtp.mailer, **options)


def test_a_finalized_invoice_is_mailed_once_with_text_html_and_its_pdf(
        api: TestClient, kassa: Kassa, smtp: SmtpServer) -> None:
    invoice = send_invoice(api)
    [pending] = outbox(api)
    assert (pending["status"], pending["kind"], pending["to"]) == (
        "pending", "invoice_issued", "ada@example.com")

    counts = deliver(kassa, smtp, attachment_loader=fake_loader)

    assert (counts.sent, counts.retrying, counts.failed) == (1, 0, 0)
    assert smtp.recipients == [["ada@example.com"]]
    [message] = smtp.messages
    assert message["Subject"] == f"Invoice {invoice['number']} from Acme Cloud"
    assert message["To"] == "ada@example.com"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert "€19.99" in text.get_content() and "Please pay it by" in text.get_content()
    assert "<p>" in html.get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == f"{invoice['number']}.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == PDF
    sent = ok(api.get(f"/v1/email_messages/{pending['id']}"))
    assert sent["status"] == "sent" and sent["attempts"] == 1
    assert sent["message_id"] == message["Message-ID"] and pending["id"] in sent["message_id"]


def test_without_an_attachment_loader_the_message_goes_without_the_pdf(
        api: TestClient, kassa: Kassa, smtp: SmtpServer) -> None:
    send_invoice(api)
    assert deliver(kassa, smtp).sent == 1
    [message] = smtp.messages
    assert list(message.iter_attachments()) == []


def test_the_same_dedupe_key_is_enqueued_and_delivered_once(
        api: TestClient, kassa: Kassa, smtp: SmtpServer) -> None:
    cust = create_customer(api)
    with kassa.uow() as uow:
        org = uow.session.scalars(select(m.Organization)).one()
        customer = uow.session.get(m.Customer, cust["id"])
        rows = [emails.enqueue(uow, org, customer=customer, kind="test", dedupe_key="once",
                               to="ada@example.com", subject=f"Try {n}", text="Hello")
                for n in (1, 2)]
        uow.commit()
    assert rows[0] is not None and rows[1] is not None and rows[0].id == rows[1].id
    assert [e["subject"] for e in outbox(api)] == ["Try 1"]

    assert deliver(kassa, smtp).sent == 1
    assert deliver(kassa, smtp).sent == 0
    assert len(smtp.messages) == 1


def test_an_smtp_outage_loses_nothing_and_delivers_exactly_once_afterwards(
        api: TestClient, kassa: Kassa, smtp: SmtpServer, clock: FrozenClock) -> None:
    send_invoice(api)
    smtp.stop()

    counts = deliver(kassa, smtp)

    [row] = outbox(api)
    assert counts.retrying == 1 and counts.sent == 0
    assert row["status"] == "pending" and row["attempts"] == 1 and row["last_error"]
    assert row["next_attempt_at"] == int((clock.now() + RETRY_DELAYS[0]).timestamp())
    assert deliver(kassa, smtp).retrying == 0  # not due yet: not tried again

    smtp.start()
    assert deliver(kassa, smtp).sent == 0  # still waiting for its backoff
    clock.move_to(clock.now() + RETRY_DELAYS[0])
    assert deliver(kassa, smtp).sent == 1
    assert deliver(kassa, smtp).sent == 0
    assert smtp.recipients == [["ada@example.com"]]
    [row] = outbox(api)
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 2, None)


def test_delivery_gives_up_after_about_three_days_and_a_retry_requeues(
        api: TestClient, kassa: Kassa, smtp: SmtpServer, clock: FrozenClock) -> None:
    send_invoice(api)
    smtp.stop()
    started = clock.now()
    for delay in RETRY_DELAYS:
        assert deliver(kassa, smtp).retrying == 1
        clock.move_to(clock.now() + delay)
    assert deliver(kassa, smtp).failed == 1
    assert timedelta(days=2) < clock.now() - started <= timedelta(days=3)

    [failed] = outbox(api, status="failed")
    assert failed["attempts"] == MAX_ATTEMPTS and failed["next_attempt_at"] is None
    assert outbox(api, status="pending") == []
    clock.move_to(clock.now() + timedelta(days=30))
    assert deliver(kassa, smtp).sent + deliver(kassa, smtp).failed == 0  # given up for good

    requeued = ok(api.post(f"/v1/email_messages/{failed['id']}/retry"))
    assert (requeued["status"], requeued["attempts"]) == ("pending", 0)
    assert api.post(f"/v1/email_messages/{failed['id']}/retry").status_code == 400
    smtp.start()
    assert deliver(kassa, smtp).sent == 1
    assert len(smtp.messages) == 1


def test_disabled_kinds_and_customers_without_an_email_get_nothing(
        api: TestClient, kassa: Kassa) -> None:
    with kassa.uow() as uow:
        org = uow.session.scalars(select(m.Organization)).one()
        org.email_settings = {"disabled": ["invoice_issued"]}
        uow.commit()
    send_invoice(api)
    send_invoice(api, email=None)
    assert outbox(api) == []


def test_a_dutch_customer_gets_dutch_e_mail(api: TestClient) -> None:
    invoice = send_invoice(api, locale="nl")
    [row] = outbox(api)
    assert row["locale"] == "nl"
    assert row["subject"] == f"Factuur {invoice['number']} van Acme Cloud"
    assert row["text"].startswith("Beste Ada,") and "€\xa019,99" in row["text"]
    assert 'lang="nl"' in row["html"]


def test_an_unknown_locale_falls_back_to_english(api: TestClient) -> None:
    send_invoice(api, locale="ja")
    [row] = outbox(api)
    assert row["locale"] == "en" and row["subject"].startswith("Invoice ")


def test_payment_credit_note_and_cancellation_each_send_one_e_mail(api: TestClient) -> None:
    invoice = send_invoice(api, locale="de")
    ok(api.post("/v1/credit_notes", json={"invoice": invoice["id"], "amount": 500}))
    ok(api.post(f"/v1/invoices/{invoice['id']}/pay", json={"paid_out_of_band": True}))
    ok(api.delete(f"/v1/subscriptions/{invoice['subscription']}"))

    rows = {row["kind"]: row for row in outbox(api)}
    assert set(rows) == {"invoice_issued", "credit_note_issued", "payment_receipt",
                         "subscription_canceled"}
    assert rows["credit_note_issued"]["subject"].startswith("Gutschrift ")
    assert "14,99" in rows["payment_receipt"]["text"]
    assert "Pro" in rows["subscription_canceled"]["text"]
    assert outbox(api, kind="payment_receipt") == [rows["payment_receipt"]]
    assert len(outbox(api, customer=invoice["customer"])) == 4


def test_with_mail_off_messages_wait_in_the_outbox(api: TestClient, kassa: Kassa) -> None:
    send_invoice(api)
    assert kassa.mailer is None
    assert deliver_emails(kassa).sent == 0
    assert [row["status"] for row in outbox(api)] == ["pending"]


def test_email_messages_are_sealed_to_their_organization(
        api: TestClient, kassa: Kassa) -> None:
    from kassa.services import organizations

    send_invoice(api)
    [row] = outbox(api)
    with kassa.uow() as uow:
        other = organizations.create_organization(uow, kassa.pepper, name="Globex")
    headers = {"Authorization": f"Bearer {other.secret_key}"}
    assert api.get(f"/v1/email_messages/{row['id']}", headers=headers).status_code == 404
    assert ok(api.get("/v1/email_messages", headers=headers))["data"] == []


def test_the_job_attaches_the_rendered_pdf_and_links_the_hosted_page(
        api: TestClient, kassa: Kassa, smtp: SmtpServer,
        monkeypatch: Any) -> None:
    """Through the delivery job: the invoice's real PDF (rendered by the documents service)
    is attached, and the link resolves to the deployment's public URL and opens the hosted
    invoice page without an API key."""
    invoice = send_invoice(api)
    monkeypatch.setattr(kassa, "mailer", smtp.mailer)
    counts = deliver_emails(kassa)
    assert counts.sent == 1, outbox(api)[0]["last_error"]
    [message] = smtp.messages
    [attachment] = list(message.iter_attachments())
    pdf = attachment.get_content()
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    public = kassa.settings.public_url.rstrip("/")
    [link] = [word for word in text.split() if word.startswith(f"{public}/i/")]
    page = api.get(link.removeprefix(public), headers={"Authorization": ""})
    assert page.status_code == 200 and invoice["number"] in page.text
    assert "{public_url}" not in text


def test_email_preview_shows_what_would_be_sent(api: TestClient, kassa: Kassa) -> None:
    invoice = send_invoice(api, locale="nl")
    before = outbox(api)
    preview = ok(api.get(f"/v1/invoices/{invoice['id']}/email_preview"))
    assert preview["locale"] == "nl" and preview["locale_fallback"] is False
    assert invoice["number"] in preview["subject"] and preview["to"] == "ada@example.com"
    assert f"{kassa.settings.public_url}/i/" in preview["text"]
    assert preview["attachments"] == [{"filename": f"{invoice['number']}.pdf",
                                       "content_type": "application/pdf"}]
    english = ok(api.get(f"/v1/invoices/{invoice['id']}/email_preview",
                         params={"locale": "xx"}))
    assert english["locale"] == "en" and english["locale_fallback"] is True
    assert english["subject"] == f"Invoice {invoice['number']} from Acme Cloud"
    assert outbox(api) == before  # nothing written
    other = api.get("/v1/invoices/in_nope/email_preview")
    assert other.status_code == 404
