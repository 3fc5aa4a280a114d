"""The e-mail texts (services/email_texts.py): a worked example of one message in text and
HTML, with the values escaped in the HTML and paragraphs whose values are missing left out."""

from __future__ import annotations

from kassa.services import email_texts


def test_an_invoice_message_in_text_and_html():
    rendered = email_texts.render(
        "invoice_issued", "en-GB", org="Acme <B&V>", name="Ada", number="2026-0007",
        amount="€12.10", due_date=None, url="https://kassa.example/i/tok?a=1&b=2",
        brand_color="#112233")
    assert rendered.locale == "en"
    assert rendered.subject == "Invoice 2026-0007 from Acme <B&V>"
    assert rendered.text == (
        "Hello Ada,\n\n"
        "Acme <B&V> has sent you invoice 2026-0007 for €12.10.\n\n"
        "View and pay the invoice online: https://kassa.example/i/tok?a=1&b=2\n\n"
        "The invoice is attached as a PDF. Questions? Reply to this e-mail.\n\n"
        "Kind regards,\nAcme <B&V>\n")
    link = "https://kassa.example/i/tok?a=1&amp;b=2"
    assert rendered.html == (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"></head>'
        '<body style="font-family:sans-serif">\n'
        '<div style="border-top:4px solid #112233;padding:12px 0;font-weight:bold;'
        'color:#112233">Acme &lt;B&amp;V&gt;</div>\n'
        "<p>Hello Ada,</p>\n"
        "<p>Acme &lt;B&amp;V&gt; has sent you invoice 2026-0007 for €12.10.</p>\n"
        f'<p>View and pay the invoice online: <a href="{link}">{link}</a></p>\n'
        "<p>The invoice is attached as a PDF. Questions? Reply to this e-mail.</p>\n"
        "<p>Kind regards,<br>Acme &lt;B&amp;V&gt;</p>\n"
        "</body></html>\n")


def test_a_message_in_dutch_keeps_the_paragraph_whose_value_is_given():
    rendered = email_texts.render("invoice_issued", "nl", org="Acme", name="Bo",
                                  number="7", amount="€ 1,00", due_date="1 december 2026",
                                  url=None, brand_color="not a colour")
    assert rendered.subject == "Factuur 7 van Acme"
    assert "1 december 2026" in rendered.text and "http" not in rendered.text
    assert "border-top:4px solid #334155" in rendered.html
