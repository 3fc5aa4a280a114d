"""The words of customer e-mails, per kind and language (en, nl, de, fr; others get English).

Each message is a subject and paragraphs with `{placeholders}`; `render` fills them in and
makes both the plain text and the HTML part from the same paragraphs, so they never drift.
A paragraph whose placeholders are not all given is left out (e.g. no due date, no link);
a placeholder given as "" is a switch that keeps its paragraph (`{no_retry}`). The HTML part
carries the organization's name in its brand colour, and every `*url` is a link.
"""

from __future__ import annotations

import html
import re
import string
from dataclasses import dataclass
from functools import cache
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
    "renewal_reminder": {
        "en": ("Your {plan} subscription renews on {date}", (
            "Hello {name},",
            "Your subscription to {plan} renews on {date}.",
            "The renewal will be billed at {amount}.",
            "Manage your subscription online: {url}",
            "Would you like to change or cancel it? Reply to this e-mail before {date}.",
            "Kind regards,\n{org}")),
        "nl": ("Uw abonnement op {plan} wordt verlengd op {date}", (
            "Beste {name},",
            "Uw abonnement op {plan} wordt verlengd op {date}.",
            "Voor de verlenging wordt {amount} gefactureerd.",
            "Beheer uw abonnement online: {url}",
            "Wilt u het wijzigen of opzeggen? Beantwoord deze e-mail vóór {date}.",
            "Met vriendelijke groet,\n{org}")),
        "de": ("Ihr Abonnement für {plan} verlängert sich am {date}", (
            "Hallo {name},",
            "Ihr Abonnement für {plan} verlängert sich am {date}.",
            "Für die Verlängerung werden {amount} berechnet.",
            "Verwalten Sie Ihr Abonnement online: {url}",
            "Möchten Sie es ändern oder kündigen? Antworten Sie vor dem {date} auf diese "
            "E-Mail.",
            "Mit freundlichen Grüßen\n{org}")),
        "fr": ("Votre abonnement à {plan} sera renouvelé le {date}", (
            "Bonjour {name},",
            "Votre abonnement à {plan} sera renouvelé le {date}.",
            "Le renouvellement sera facturé {amount}.",
            "Gérer votre abonnement en ligne : {url}",
            "Vous souhaitez le modifier ou le résilier ? Répondez à cet e-mail avant le "
            "{date}.",
            "Cordialement,\n{org}")),
    },
    "trial_ending": {
        "en": ("Your {plan} trial ends on {date}", (
            "Hello {name},",
            "Your trial of {plan} ends on {date}.",
            "Your subscription then continues and {charge} will be charged to your payment "
            "method.",
            "Your subscription then continues and you will receive an invoice for "
            "{invoice_amount}.",
            "Manage your subscription online: {url}",
            "Not continuing? Reply to this e-mail before {date}.",
            "Kind regards,\n{org}")),
        "nl": ("Uw proefperiode van {plan} eindigt op {date}", (
            "Beste {name},",
            "Uw proefperiode van {plan} eindigt op {date}.",
            "Daarna loopt uw abonnement door en wordt {charge} van uw betaalmethode "
            "afgeschreven.",
            "Daarna loopt uw abonnement door en ontvangt u een factuur van {invoice_amount}.",
            "Beheer uw abonnement online: {url}",
            "Wilt u niet doorgaan? Beantwoord deze e-mail vóór {date}.",
            "Met vriendelijke groet,\n{org}")),
        "de": ("Ihr Testzeitraum für {plan} endet am {date}", (
            "Hallo {name},",
            "Ihr Testzeitraum für {plan} endet am {date}.",
            "Danach läuft Ihr Abonnement weiter und {charge} werden von Ihrer Zahlungsmethode "
            "abgebucht.",
            "Danach läuft Ihr Abonnement weiter und Sie erhalten eine Rechnung über "
            "{invoice_amount}.",
            "Verwalten Sie Ihr Abonnement online: {url}",
            "Möchten Sie nicht weitermachen? Antworten Sie vor dem {date} auf diese E-Mail.",
            "Mit freundlichen Grüßen\n{org}")),
        "fr": ("Votre essai de {plan} se termine le {date}", (
            "Bonjour {name},",
            "Votre période d'essai de {plan} se termine le {date}.",
            "Votre abonnement se poursuivra ensuite et {charge} sera prélevé sur votre moyen "
            "de paiement.",
            "Votre abonnement se poursuivra ensuite et vous recevrez une facture de "
            "{invoice_amount}.",
            "Gérer votre abonnement en ligne : {url}",
            "Vous ne souhaitez pas continuer ? Répondez à cet e-mail avant le {date}.",
            "Cordialement,\n{org}")),
    },
    "plan_change_notice": {
        "en": ("Your {plan} subscription changes on {date}", (
            "Hello {name},",
            "On {date}, your subscription changes from {from_plan} to {to_plan}.",
            "On {date}, the price of your subscription to {plan} changes from "
            "{old_amount} to {new_amount} {per}.",
            "From then on you pay {amount} {per}.",
            "Manage your subscription online: {url}",
            "Questions, or would you like to change or cancel before then? Reply to this "
            "e-mail.",
            "Kind regards,\n{org}")),
        "nl": ("Uw abonnement op {plan} wijzigt op {date}", (
            "Beste {name},",
            "Op {date} wijzigt uw abonnement van {from_plan} naar {to_plan}.",
            "Op {date} wijzigt de prijs van uw abonnement op {plan} van {old_amount} naar "
            "{new_amount} {per}.",
            "Vanaf dan betaalt u {amount} {per}.",
            "Beheer uw abonnement online: {url}",
            "Vragen, of wilt u vóór die datum wijzigen of opzeggen? Beantwoord deze e-mail.",
            "Met vriendelijke groet,\n{org}")),
        "de": ("Ihr Abonnement für {plan} ändert sich am {date}", (
            "Hallo {name},",
            "Am {date} ändert sich Ihr Abonnement von {from_plan} zu {to_plan}.",
            "Am {date} ändert sich der Preis Ihres Abonnements für {plan} von {old_amount} "
            "auf {new_amount} {per}.",
            "Ab dann zahlen Sie {amount} {per}.",
            "Verwalten Sie Ihr Abonnement online: {url}",
            "Fragen, oder möchten Sie vorher etwas ändern oder kündigen? Antworten Sie auf "
            "diese E-Mail.",
            "Mit freundlichen Grüßen\n{org}")),
        "fr": ("Votre abonnement à {plan} change le {date}", (
            "Bonjour {name},",
            "Le {date}, votre abonnement passe de {from_plan} à {to_plan}.",
            "Le {date}, le prix de votre abonnement à {plan} passe de {old_amount} à "
            "{new_amount} {per}.",
            "Vous paierez ensuite {amount} {per}.",
            "Gérer votre abonnement en ligne : {url}",
            "Des questions, ou vous souhaitez modifier ou résilier avant cette date ? "
            "Répondez à cet e-mail.",
            "Cordialement,\n{org}")),
    },
    "payment_failed": {
        "en": ("Payment of invoice {number} from {org} failed", (
            "Hello {name},",
            "The payment of {amount} for invoice {number} failed.",
            "Reason: {reason}",
            "Pay the invoice online: {url}",
            "Or give us another payment method, which we charge at once: {update_url}",
            "We will try again on {next_attempt}.",
            "{no_retry}We will not charge this payment method again.",
            "Unless the invoice is paid, access to your subscription will be suspended on "
            "{suspend_on}.",
            "Unless the invoice is paid by {cancel_on}, your subscription will be canceled.",
            "Questions? Reply to this e-mail.",
            "Kind regards,\n{org}")),
        "nl": ("Betaling van factuur {number} van {org} mislukt", (
            "Beste {name},",
            "De betaling van {amount} voor factuur {number} is mislukt.",
            "Reden: {reason}",
            "Betaal de factuur online: {url}",
            "Of geef ons een andere betaalmethode, die we meteen gebruiken: {update_url}",
            "We proberen het opnieuw op {next_attempt}.",
            "{no_retry}We schrijven niet opnieuw af via deze betaalmethode.",
            "Als de factuur niet betaald wordt, wordt de toegang tot uw abonnement op "
            "{suspend_on} opgeschort.",
            "Als de factuur niet vóór {cancel_on} betaald is, wordt uw abonnement opgezegd.",
            "Vragen? Beantwoord deze e-mail.",
            "Met vriendelijke groet,\n{org}")),
        "de": ("Zahlung der Rechnung {number} von {org} fehlgeschlagen", (
            "Hallo {name},",
            "Die Zahlung von {amount} für die Rechnung {number} ist fehlgeschlagen.",
            "Grund: {reason}",
            "Bezahlen Sie die Rechnung online: {url}",
            "Oder geben Sie uns eine andere Zahlungsmethode, die wir sofort belasten: "
            "{update_url}",
            "Wir versuchen es am {next_attempt} erneut.",
            "{no_retry}Diese Zahlungsmethode belasten wir nicht erneut.",
            "Wenn die Rechnung nicht bezahlt wird, wird der Zugang zu Ihrem Abonnement am "
            "{suspend_on} gesperrt.",
            "Wenn die Rechnung nicht bis zum {cancel_on} bezahlt ist, wird Ihr Abonnement "
            "gekündigt.",
            "Fragen? Antworten Sie auf diese E-Mail.",
            "Mit freundlichen Grüßen\n{org}")),
        "fr": ("Échec du paiement de la facture {number} de {org}", (
            "Bonjour {name},",
            "Le paiement de {amount} pour la facture {number} a échoué.",
            "Motif : {reason}",
            "Réglez la facture en ligne : {url}",
            "Ou donnez-nous un autre moyen de paiement, que nous débitons aussitôt : "
            "{update_url}",
            "Nous réessaierons le {next_attempt}.",
            "{no_retry}Nous ne débiterons plus ce moyen de paiement.",
            "Sans paiement de la facture, l'accès à votre abonnement sera suspendu le "
            "{suspend_on}.",
            "Si la facture n'est pas réglée avant le {cancel_on}, votre abonnement sera "
            "résilié.",
            "Des questions ? Répondez à cet e-mail.",
            "Cordialement,\n{org}")),
    },
    "invoice_reminder": {
        "en": ("Reminder: invoice {number} from {org} is due on {due_date}", (
            "Hello {name},",
            "A friendly reminder: invoice {number} for {amount} is due on {due_date}.",
            "View and pay the invoice online: {url}",
            "Already paid? Then please ignore this message.",
            "Kind regards,\n{org}")),
        "nl": ("Herinnering: factuur {number} van {org} vervalt op {due_date}", (
            "Beste {name},",
            "Een vriendelijke herinnering: factuur {number} voor {amount} vervalt op "
            "{due_date}.",
            "Bekijk en betaal de factuur online: {url}",
            "Al betaald? Dan kunt u dit bericht negeren.",
            "Met vriendelijke groet,\n{org}")),
        "de": ("Erinnerung: Rechnung {number} von {org} ist am {due_date} fällig", (
            "Hallo {name},",
            "Eine freundliche Erinnerung: Die Rechnung {number} über {amount} ist am "
            "{due_date} fällig.",
            "Rechnung online ansehen und bezahlen: {url}",
            "Bereits bezahlt? Dann betrachten Sie diese Nachricht bitte als gegenstandslos.",
            "Mit freundlichen Grüßen\n{org}")),
        "fr": ("Rappel : la facture {number} de {org} est à régler le {due_date}", (
            "Bonjour {name},",
            "Petit rappel : la facture {number} de {amount} est à régler le {due_date}.",
            "Consultez et réglez la facture en ligne : {url}",
            "Déjà payée ? Merci d'ignorer ce message.",
            "Cordialement,\n{org}")),
    },
    "invoice_overdue": {
        "en": ("Invoice {number} from {org} is overdue", (
            "Hello {name},",
            "Invoice {number} for {amount} was due on {due_date} and is now {days} days "
            "overdue.",
            "Please pay it online: {url}",
            "Unless the invoice is paid, access to your subscription will be suspended on "
            "{suspend_on}.",
            "Unless the invoice is paid by {cancel_on}, your subscription will be canceled.",
            "Already paid? Then please ignore this message. Questions? Reply to this e-mail.",
            "Kind regards,\n{org}")),
        "nl": ("Factuur {number} van {org} is vervallen", (
            "Beste {name},",
            "Factuur {number} voor {amount} verviel op {due_date} en staat nu {days} dagen "
            "open.",
            "Betaal de factuur online: {url}",
            "Als de factuur niet betaald wordt, wordt de toegang tot uw abonnement op "
            "{suspend_on} opgeschort.",
            "Als de factuur niet vóór {cancel_on} betaald is, wordt uw abonnement opgezegd.",
            "Al betaald? Dan kunt u dit bericht negeren. Vragen? Beantwoord deze e-mail.",
            "Met vriendelijke groet,\n{org}")),
        "de": ("Rechnung {number} von {org} ist überfällig", (
            "Hallo {name},",
            "Die Rechnung {number} über {amount} war am {due_date} fällig und ist seit "
            "{days} Tagen überfällig.",
            "Bitte bezahlen Sie sie online: {url}",
            "Wenn die Rechnung nicht bezahlt wird, wird der Zugang zu Ihrem Abonnement am "
            "{suspend_on} gesperrt.",
            "Wenn die Rechnung nicht bis zum {cancel_on} bezahlt ist, wird Ihr Abonnement "
            "gekündigt.",
            "Bereits bezahlt? Dann betrachten Sie diese Nachricht bitte als gegenstandslos. "
            "Fragen? Antworten Sie auf diese E-Mail.",
            "Mit freundlichen Grüßen\n{org}")),
        "fr": ("La facture {number} de {org} est en retard", (
            "Bonjour {name},",
            "La facture {number} de {amount} était à régler le {due_date} et a maintenant "
            "{days} jours de retard.",
            "Veuillez la régler en ligne : {url}",
            "Sans paiement de la facture, l'accès à votre abonnement sera suspendu le "
            "{suspend_on}.",
            "Si la facture n'est pas réglée avant le {cancel_on}, votre abonnement sera "
            "résilié.",
            "Déjà payée ? Merci d'ignorer ce message. Des questions ? Répondez à cet e-mail.",
            "Cordialement,\n{org}")),
    },
    "portal_login": {
        "en": ("Your sign-in link for {org}", (
            "Hello {name},",
            "Here is the link to your billing portal at {org}: {url}",
            "It works once, within 30 minutes. If you did not ask for it, ignore this e-mail.",
            "Kind regards,\n{org}")),
        "nl": ("Uw aanmeldlink voor {org}", (
            "Beste {name},",
            "Hier is de link naar uw facturatieportaal bij {org}: {url}",
            "Die werkt één keer, binnen 30 minuten. Hebt u er niet om gevraagd, negeer dan "
            "deze e-mail.",
            "Met vriendelijke groet,\n{org}")),
        "de": ("Ihr Anmeldelink für {org}", (
            "Hallo {name},",
            "Hier ist der Link zu Ihrem Abrechnungsportal bei {org}: {url}",
            "Er gilt einmal, 30 Minuten lang. Wenn Sie ihn nicht angefordert haben, ignorieren "
            "Sie diese E-Mail.",
            "Mit freundlichen Grüßen\n{org}")),
        "fr": ("Votre lien de connexion pour {org}", (
            "Bonjour {name},",
            "Voici le lien vers votre portail de facturation chez {org} : {url}",
            "Il fonctionne une fois, pendant 30 minutes. Si vous ne l'avez pas demandé, "
            "ignorez cet e-mail.",
            "Cordialement,\n{org}")),
    },
    "service_suspended": {
        "en": ("Your access to {org} is suspended", (
            "Hello {name},",
            "Because invoice {number} ({amount}) is still unpaid, access to your "
            "subscription is suspended.",
            "Pay the invoice online and your access returns at once: {url}",
            "Questions? Reply to this e-mail.",
            "Kind regards,\n{org}")),
        "nl": ("Uw toegang tot {org} is opgeschort", (
            "Beste {name},",
            "Omdat factuur {number} ({amount}) nog niet betaald is, is de toegang tot uw "
            "abonnement opgeschort.",
            "Betaal de factuur online en u hebt meteen weer toegang: {url}",
            "Vragen? Beantwoord deze e-mail.",
            "Met vriendelijke groet,\n{org}")),
        "de": ("Ihr Zugang zu {org} ist gesperrt", (
            "Hallo {name},",
            "Da die Rechnung {number} ({amount}) noch nicht bezahlt ist, ist der Zugang zu "
            "Ihrem Abonnement gesperrt.",
            "Bezahlen Sie die Rechnung online und Ihr Zugang ist sofort wieder frei: {url}",
            "Fragen? Antworten Sie auf diese E-Mail.",
            "Mit freundlichen Grüßen\n{org}")),
        "fr": ("Votre accès à {org} est suspendu", (
            "Bonjour {name},",
            "La facture {number} ({amount}) n'étant toujours pas réglée, l'accès à votre "
            "abonnement est suspendu.",
            "Réglez la facture en ligne et votre accès est rétabli aussitôt : {url}",
            "Des questions ? Répondez à cet e-mail.",
            "Cordialement,\n{org}")),
    },
}

KINDS = tuple(TEXTS)

# "per month", "every 3 months": how often a price is paid, per language.
_EVERY: dict[str, dict[str, tuple[str, str]]] = {
    "en": {"day": ("per day", "every {n} days"), "week": ("per week", "every {n} weeks"),
           "month": ("per month", "every {n} months"), "year": ("per year", "every {n} years")},
    "nl": {"day": ("per dag", "per {n} dagen"), "week": ("per week", "per {n} weken"),
           "month": ("per maand", "per {n} maanden"), "year": ("per jaar", "per {n} jaar")},
    "de": {"day": ("pro Tag", "alle {n} Tage"), "week": ("pro Woche", "alle {n} Wochen"),
           "month": ("pro Monat", "alle {n} Monate"), "year": ("pro Jahr", "alle {n} Jahre")},
    "fr": {"day": ("par jour", "tous les {n} jours"),
           "week": ("par semaine", "toutes les {n} semaines"),
           "month": ("par mois", "tous les {n} mois"), "year": ("par an", "tous les {n} ans")},
}


def every(interval: str, count: int, locale: str | None) -> str:
    """How often a price recurs, in words of the locale's language: "per month"."""
    one, many = _EVERY[locales.language(locale)][interval]
    return one if count == 1 else many.format(n=count)


@dataclass(frozen=True)
class Rendered:
    locale: str
    subject: str
    text: str
    html: str


def render(kind: str, locale: str | None, *, brand_color: str | None = None,
           **values: Any) -> Rendered:
    """The subject, text and HTML of `kind` in the language of `locale`. Values that are None
    count as not given."""
    lang = locales.language(locale)
    subject, paragraphs = TEXTS[kind][lang]
    given = {k: str(v) for k, v in values.items() if v is not None}
    kept = [p for p in paragraphs if _fields(p) <= given.keys()]
    text = "\n\n".join(p.format(**given) for p in kept)
    escaped = {k: html.escape(v) for k, v in given.items()}
    for key in [key for key in escaped if key.endswith("url")]:
        escaped[key] = f'<a href="{escaped[key]}">{escaped[key]}</a>'
    body = "\n".join(_html_paragraph(p).format(**escaped) for p in kept)
    color = brand_color if brand_color and _COLOR.fullmatch(brand_color) else "#334155"
    header = (f'<div style="border-top:4px solid {color};padding:12px 0;font-weight:bold;'
              f'color:{color}">{escaped.get("org", "")}</div>')
    page = (f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8"></head>'
            f'<body style="font-family:sans-serif">\n{header}\n{body}\n</body></html>\n')
    return Rendered(lang, subject.format(**given), text + "\n", page)


_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


@cache  # the templates are the catalog's constants
def _fields(template: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


@cache
def _html_paragraph(template: str) -> str:
    """A paragraph's template as HTML, its own text escaped (the values are escaped apart)."""
    return "<p>" + html.escape(template).replace("\n", "<br>") + "</p>"
