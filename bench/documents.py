"""PDF rendering time per invoice: renders one five-line taxed invoice 20 times and prints the
mean (after one warm-up render, which loads Pango and the fonts), and the ratio to a baseline
measured in the same run: WeasyPrint turning a one-paragraph page into a PDF (the engine's
fixed cost per document, which no template can go below).

    .venv/bin/python bench/documents.py
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal

from kassa.adapters.documents import render

ROUNDS = 20


def sample_invoice() -> render.InvoiceView:
    lines = [render.Line(description=f"Pro plan seat {n}", quantity=n,
                         unit_amount=Decimal(2500), amount=2500 * n,
                         tax_rate=Decimal(21), tier=n if n > 3 else None,
                         proration=n == 2, period=(date(2026, 1, 1), date(2026, 2, 1)))
             for n in range(1, 6)]
    return render.InvoiceView(
        kind="invoice", currency="eur", exponent=2, number="ACME-000042", status="open",
        issue_date=date(2026, 1, 1), supply_date=date(2026, 1, 1), due_date=date(2026, 1, 31),
        period=(date(2026, 1, 1), date(2026, 2, 1)),
        seller=render.Party("Acme Cloud B.V.", ["Keizersgracht 1", "1015 CJ Amsterdam"],
                            "NL004495445B01", "billing@acme.example"),
        buyer=render.Party("Jan de Vries", ["Dorpsstraat 2", "1234 AB Ergens"]),
        lines=lines, tax_groups=[render.TaxGroup("S", Decimal(21), 37500, 7875)],
        totals=[("subtotal", 37500), ("tax", 7875), ("total", 45375),
                ("amount_paid", 0), ("amount_due", 45375)],
        payment=render.Payment("NL91 ABNA 0417 1643 00", "Acme Cloud B.V.",
                               "RF49 ACME 0000 42"),
        pay_url="http://127.0.0.1:8000/i/token", support_email="billing@acme.example")


def _mean(work: Callable[[], bytes]) -> float:
    work()  # warm-up
    started = time.perf_counter()
    for _ in range(ROUNDS):
        work()
    return (time.perf_counter() - started) / ROUNDS


def main() -> None:
    view = sample_invoice()
    invoice = _mean(lambda: render.render_pdf(view, "nl"))
    baseline = _mean(lambda: render.html_to_pdf(
        "<!DOCTYPE html><html><body><p>Invoice ACME-000042</p></body></html>"))
    print(f"PDF rendering: {invoice * 1000:.0f} ms per invoice (mean of {ROUNDS}); "
          f"baseline one-paragraph PDF {baseline * 1000:.0f} ms; ratio {invoice / baseline:.1f}x")


if __name__ == "__main__":
    main()
