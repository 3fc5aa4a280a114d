"""The words of customer e-mails, per kind and language (en, nl, de, fr; others get English).

Each message is a subject and paragraphs with `{placeholders}`; `render` fills them in and
makes both the plain text and the HTML part from the same paragraphs, so they never drift.
A paragraph whose placeholders are not all given is left out (e.g. no due date, no link).
"""

from __future__ import annotations

import html
import string
from dataclasses import dataclass
from typing import Any

from kassa.core import locales

Catalog = dict[str, dict[str, tuple[str, tuple[str, ...]]]]

TEXTS: Catalog = {
    "invoice_issued": {
        "en": ("Invoice {number} from {org}", (
            "Hello {name},",
            "{org} has sent you invoice {number} for {amount}.",
            "Please pay it by {due_date}.",
            "View and pay the invoice online: {url}",
            "The invoice is attached as a PDF. Questions? Reply to this e-mail.",
            "Kind regards,\n{org}")),
        "nl": ("Factuur {number} van {org}", (
            "Beste {name},",
            "{org} stuurt u factuur {number} voor {amount}.",
            "Gelieve deze te betalen vóór {due_date}.",
            "Bekijk en betaal de factuur online: {url}",
            "De factuur is als pdf bijgevoegd. Vragen? Beantwoord deze e-mail.",
            "Met vriendelijke groet,\n{org}")),
        "de": ("Rechnung {number} von {org}", (
            "Hallo {name},",
            "{org} hat Ihnen die Rechnung {number} über {amount} gesendet.",
            "Bitte bezahlen Sie sie bis zum {due_date}.",
            "Rechnung online ansehen und bezahlen: {url}",
            "Die Rechnung ist als PDF angehängt. Fragen? Antworten Sie auf diese E-Mail.",
            "Mit freundlichen Grüßen\n{org}")),
        "fr": ("Facture {number} de {org}", (
            "Bonjour {name},",
            "{org} vous a envoyé la facture {number} d'un montant de {amount}.",
            "Merci de la régler avant le {due_date}.",
            "Consulter et payer la facture en ligne : {url}",
            "La facture est jointe en PDF. Des questions ? Répondez à cet e-mail.",
            "Cordialement,\n{org}")),
    },
    "payment_receipt": {
        "en": ("Receipt for invoice {number} from {org}", (
            "Hello {name},",
            "We received your payment of {amount} for invoice {number}. Thank you!",
            "Kind regards,\n{org}")),
        "nl": ("Betalingsbewijs voor factuur {number} van {org}", (
            "Beste {name},",
            "We hebben uw betaling van {amount} voor factuur {number} ontvangen. Dank u wel!",
            "Met vriendelijke groet,\n{org}")),
        "de": ("Zahlungsbestätigung für Rechnung {number} von {org}", (
            "Hallo {name},",
            "Wir haben Ihre Zahlung von {amount} für die Rechnung {number} erhalten. "
            "Vielen Dank!",
            "Mit freundlichen Grüßen\n{org}")),
        "fr": ("Reçu pour la facture {number} de {org}", (
            "Bonjour {name},",
            "Nous avons bien reçu votre paiement de {amount} pour la facture {number}. Merci !",
            "Cordialement,\n{org}")),
    },
    "credit_note_issued": {
        "en": ("Credit note {number} from {org}", (
            "Hello {name},",
            "{org} has issued credit note {number} of {amount} on invoice {invoice_number}.",
            "Kind regards,\n{org}")),
        "nl": ("Creditnota {number} van {org}", (
            "Beste {name},",
            "{org} heeft creditnota {number} van {amount} op factuur {invoice_number} "
            "uitgegeven.",
            "Met vriendelijke groet,\n{org}")),
        "de": ("Gutschrift {number} von {org}", (
            "Hallo {name},",
            "{org} hat die Gutschrift {number} über {amount} zur Rechnung {invoice_number} "
            "ausgestellt.",
            "Mit freundlichen Grüßen\n{org}")),
        "fr": ("Avoir {number} de {org}", (
            "Bonjour {name},",
            "{org} a émis l'avoir {number} d'un montant de {amount} sur la facture "
            "{invoice_number}.",
            "Cordialement,\n{org}")),
    },
    "subscription_canceled": {
        "en": ("Your subscription to {org} has ended", (
            "Hello {name},",
            "Your subscription to {plan} ended on {ended}.",
            "We are sorry to see you go. Reply to this e-mail if this was not what you wanted.",
            "Kind regards,\n{org}")),
        "nl": ("Uw abonnement bij {org} is beëindigd", (
            "Beste {name},",
            "Uw abonnement op {plan} is beëindigd op {ended}.",
            "Jammer dat u vertrekt. Beantwoord deze e-mail als dit niet de bedoeling was.",
            "Met vriendelijke groet,\n{org}")),
        "de": ("Ihr Abonnement bei {org} ist beendet", (
            "Hallo {name},",
            "Ihr Abonnement für {plan} endete am {ended}.",
            "Schade, dass Sie gehen. Antworten Sie auf diese E-Mail, falls das nicht gewollt "
            "war.",
            "Mit freundlichen Grüßen\n{org}")),
        "fr": ("Votre abonnement chez {org} a pris fin", (
            "Bonjour {name},",
            "Votre abonnement à {plan} a pris fin le {ended}.",
            "Nous regrettons votre départ. Répondez à cet e-mail si ce n'était pas voulu.",
            "Cordialement,\n{org}")),
    },
}

KINDS = tuple(TEXTS)


@dataclass(frozen=True)
class Rendered:
    locale: str
    subject: str
    text: str
    html: str


def render(kind: str, locale: str | None, **values: Any) -> Rendered:
    """The subject, text and HTML of `kind` in the language of `locale`. Values that are None
    count as not given."""
    lang = locales.language(locale)
    subject, paragraphs = TEXTS[kind][lang]
    given = {k: str(v) for k, v in values.items() if v is not None}
    kept = [p for p in paragraphs if _fields(p) <= set(given)]
    text = "\n\n".join(p.format(**given) for p in kept)
    escaped = {k: html.escape(v) for k, v in given.items()}
    if "url" in given:
        escaped["url"] = f'<a href="{escaped["url"]}">{escaped["url"]}</a>'
    body = "\n".join("<p>" + html.escape(p).replace("\n", "<br>").format(**escaped) + "</p>"
                     for p in kept)
    page = (f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8"></head>'
            f"<body>\n{body}\n</body></html>\n")
    return Rendered(lang, subject.format(**given), text + "\n", page)


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}
