"""The words on invoices and credit notes in each language Kassa prints documents in.

A small catalog keyed by label; `LANGUAGES` are the languages documents come in, and a label
missing in one falls back to English.
"""

from __future__ import annotations

LANGUAGES = ("en", "nl", "de", "fr")

LABELS: dict[str, dict[str, str]] = {
    "invoice": {"en": "Invoice", "nl": "Factuur", "de": "Rechnung", "fr": "Facture"},
    "credit_note": {"en": "Credit note", "nl": "Creditnota", "de": "Gutschrift",
                    "fr": "Avoir"},
    "draft": {"en": "Draft", "nl": "Concept", "de": "Entwurf", "fr": "Brouillon"},
    "void": {"en": "Void", "nl": "Vervallen", "de": "Storniert", "fr": "Annulé"},
    "paid": {"en": "Paid", "nl": "Betaald", "de": "Bezahlt", "fr": "Payée"},
    "number": {"en": "Number", "nl": "Nummer", "de": "Nummer", "fr": "Numéro"},
    "issue_date": {"en": "Issue date", "nl": "Factuurdatum", "de": "Rechnungsdatum",
                   "fr": "Date d'émission"},
    "credit_note_date": {"en": "Date", "nl": "Datum", "de": "Datum", "fr": "Date"},
    "supply_date": {"en": "Date of supply", "nl": "Leveringsdatum", "de": "Leistungsdatum",
                    "fr": "Date de prestation"},
    "due_date": {"en": "Due date", "nl": "Vervaldatum", "de": "Fällig am",
                 "fr": "Date d'échéance"},
    "period": {"en": "Period", "nl": "Periode", "de": "Zeitraum", "fr": "Période"},
    "seller": {"en": "From", "nl": "Van", "de": "Von", "fr": "De"},
    "buyer": {"en": "Bill to", "nl": "Factuur aan", "de": "Rechnung an", "fr": "Facturé à"},
    "credited_to": {"en": "Credited to", "nl": "Gecrediteerd aan", "de": "Gutschrift für",
                    "fr": "Crédité à"},
    "vat_id": {"en": "VAT number", "nl": "Btw-nummer", "de": "USt-IdNr.",
               "fr": "N° de TVA"},
    "description": {"en": "Description", "nl": "Omschrijving", "de": "Beschreibung",
                    "fr": "Description"},
    "quantity": {"en": "Qty", "nl": "Aantal", "de": "Menge", "fr": "Qté"},
    "unit_price": {"en": "Unit price", "nl": "Prijs per stuk", "de": "Einzelpreis",
                   "fr": "Prix unitaire"},
    "tax_rate": {"en": "VAT", "nl": "Btw", "de": "USt.", "fr": "TVA"},
    "amount": {"en": "Amount", "nl": "Bedrag", "de": "Betrag", "fr": "Montant"},
    "tier": {"en": "Tier", "nl": "Staffel", "de": "Staffel", "fr": "Palier"},
    "usage": {"en": "Usage", "nl": "Verbruik", "de": "Nutzung", "fr": "Utilisation"},
    "minimum": {"en": "Minimum charge", "nl": "Minimumbedrag", "de": "Mindestbetrag",
                "fr": "Montant minimum"},
    "proration": {"en": "Prorated", "nl": "Naar rato", "de": "Anteilig",
                  "fr": "Au prorata"},
    "discount": {"en": "Discount", "nl": "Korting", "de": "Rabatt", "fr": "Remise"},
    "subtotal": {"en": "Subtotal", "nl": "Subtotaal", "de": "Zwischensumme",
                 "fr": "Sous-total"},
    "total_discount": {"en": "Discounts", "nl": "Kortingen", "de": "Rabatte",
                       "fr": "Remises"},
    "total_excluding_tax": {"en": "Total excluding VAT", "nl": "Totaal exclusief btw",
                            "de": "Gesamt ohne USt.", "fr": "Total HT"},
    "tax_summary": {"en": "VAT summary", "nl": "Btw-specificatie",
                    "de": "Umsatzsteuer", "fr": "Récapitulatif TVA"},
    "taxable_amount": {"en": "Taxable amount", "nl": "Grondslag",
                       "de": "Bemessungsgrundlage", "fr": "Base HT"},
    "tax_amount": {"en": "VAT amount", "nl": "Btw-bedrag", "de": "Steuerbetrag",
                   "fr": "Montant TVA"},
    "tax": {"en": "VAT", "nl": "Btw", "de": "USt.", "fr": "TVA"},
    "total": {"en": "Total", "nl": "Totaal", "de": "Gesamtbetrag", "fr": "Total TTC"},
    "applied_balance": {"en": "Applied balance", "nl": "Verrekend saldo",
                        "de": "Verrechnetes Guthaben", "fr": "Solde appliqué"},
    "amount_paid": {"en": "Amount paid", "nl": "Betaald", "de": "Bezahlt",
                    "fr": "Montant payé"},
    "amount_due": {"en": "Amount due", "nl": "Te betalen", "de": "Zu zahlen",
                   "fr": "Montant dû"},
    "amount_remaining": {"en": "Amount remaining", "nl": "Openstaand", "de": "Offen",
                         "fr": "Reste à payer"},
    "credit_total": {"en": "Total credited", "nl": "Totaal gecrediteerd",
                     "de": "Gutschriftsbetrag", "fr": "Total crédité"},
    "for_invoice": {"en": "For invoice", "nl": "Bij factuur", "de": "Zu Rechnung",
                    "fr": "Pour la facture"},
    "reason": {"en": "Reason", "nl": "Reden", "de": "Grund", "fr": "Motif"},
    "memo": {"en": "Note", "nl": "Opmerking", "de": "Hinweis", "fr": "Remarque"},
    "payment": {"en": "Payment", "nl": "Betaling", "de": "Zahlung", "fr": "Paiement"},
    "pay_by_transfer": {
        "en": "Please transfer the amount due by the due date to:",
        "nl": "Gelieve het verschuldigde bedrag vóór de vervaldatum over te maken naar:",
        "de": "Bitte überweisen Sie den fälligen Betrag bis zum Fälligkeitsdatum an:",
        "fr": "Merci de virer le montant dû avant la date d'échéance sur :"},
    "iban": {"en": "IBAN", "nl": "IBAN", "de": "IBAN", "fr": "IBAN"},
    "account_holder": {"en": "Account holder", "nl": "Rekeninghouder",
                       "de": "Kontoinhaber", "fr": "Titulaire du compte"},
    "reference": {"en": "Payment reference", "nl": "Betalingskenmerk",
                  "de": "Verwendungszweck", "fr": "Référence de paiement"},
    "pay_online": {"en": "Pay online", "nl": "Online betalen", "de": "Online bezahlen",
                   "fr": "Payer en ligne"},
    "contact": {"en": "Questions? Contact us at", "nl": "Vragen? Neem contact op via",
                "de": "Fragen? Kontaktieren Sie uns unter",
                "fr": "Des questions ? Écrivez-nous à"},
    "download_pdf": {"en": "Download PDF", "nl": "PDF downloaden",
                     "de": "PDF herunterladen", "fr": "Télécharger le PDF"},
}


def label(key: str, language: str) -> str:
    """The label in `language`, English when that language lacks it."""
    texts = LABELS[key]
    return texts.get(language, texts["en"])
