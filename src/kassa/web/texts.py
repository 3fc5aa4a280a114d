"""The words of the portal's pages, per language (en, nl, de, fr; others get English)."""

from __future__ import annotations

from kassa.core import locales

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "portal": "Billing portal", "overview": "Overview", "invoices": "Invoices",
        "details": "Billing details", "sign_out": "Sign out", "back": "Back to {org}",
        "plans": "Your plans", "no_plans": "You have no active plans.",
        "renews": "Renews on {date}", "status": "Status", "amount": "Amount",
        "overdue_notice": "A payment is overdue: {amount} for invoice {number}.",
        "pay_now": "Pay now", "balance": "Credit balance: {amount}",
        "invoice": "Invoice", "date": "Date", "download_pdf": "PDF",
        "no_invoices": "No invoices yet.", "name": "Name", "email": "Billing e-mail",
        "line1": "Address", "postal_code": "Postal code", "city": "City",
        "country": "Country (ISO code)", "vat_id": "VAT number", "save": "Save",
        "saved": "Your billing details were saved.",
        "session_ended": "Your portal session has ended. Ask for a new link.",
        "not_found": "That page does not exist.",
        "paid": "paid", "open": "open", "void": "void", "uncollectible": "unpaid",
        "active": "active", "trialing": "trial", "past_due": "past due",
    },
    "nl": {
        "portal": "Facturatieportaal", "overview": "Overzicht", "invoices": "Facturen",
        "details": "Factuurgegevens", "sign_out": "Afmelden", "back": "Terug naar {org}",
        "plans": "Uw abonnementen", "no_plans": "U hebt geen actieve abonnementen.",
        "renews": "Verlengt op {date}", "status": "Status", "amount": "Bedrag",
        "overdue_notice": "Een betaling is achterstallig: {amount} voor factuur {number}.",
        "pay_now": "Nu betalen", "balance": "Tegoed: {amount}",
        "invoice": "Factuur", "date": "Datum", "download_pdf": "pdf",
        "no_invoices": "Nog geen facturen.", "name": "Naam", "email": "Factuur-e-mail",
        "line1": "Adres", "postal_code": "Postcode", "city": "Plaats",
        "country": "Land (ISO-code)", "vat_id": "Btw-nummer", "save": "Opslaan",
        "saved": "Uw factuurgegevens zijn opgeslagen.",
        "session_ended": "Uw portaalsessie is verlopen. Vraag een nieuwe link aan.",
        "not_found": "Deze pagina bestaat niet.",
        "paid": "betaald", "open": "open", "void": "vervallen", "uncollectible": "onbetaald",
        "active": "actief", "trialing": "proefperiode", "past_due": "achterstallig",
    },
    "de": {
        "portal": "Abrechnungsportal", "overview": "Übersicht", "invoices": "Rechnungen",
        "details": "Rechnungsdaten", "sign_out": "Abmelden", "back": "Zurück zu {org}",
        "plans": "Ihre Abonnements", "no_plans": "Sie haben keine aktiven Abonnements.",
        "renews": "Verlängert sich am {date}", "status": "Status", "amount": "Betrag",
        "overdue_notice": "Eine Zahlung ist überfällig: {amount} für Rechnung {number}.",
        "pay_now": "Jetzt bezahlen", "balance": "Guthaben: {amount}",
        "invoice": "Rechnung", "date": "Datum", "download_pdf": "PDF",
        "no_invoices": "Noch keine Rechnungen.", "name": "Name",
        "email": "Rechnungs-E-Mail", "line1": "Adresse", "postal_code": "PLZ",
        "city": "Ort", "country": "Land (ISO-Code)", "vat_id": "USt-IdNr.",
        "save": "Speichern", "saved": "Ihre Rechnungsdaten wurden gespeichert.",
        "session_ended": "Ihre Portalsitzung ist abgelaufen. Fordern Sie einen neuen Link an.",
        "not_found": "Diese Seite gibt es nicht.",
        "paid": "bezahlt", "open": "offen", "void": "storniert", "uncollectible": "unbezahlt",
        "active": "aktiv", "trialing": "Testphase", "past_due": "überfällig",
    },
    "fr": {
        "portal": "Portail de facturation", "overview": "Aperçu", "invoices": "Factures",
        "details": "Coordonnées de facturation", "sign_out": "Se déconnecter",
        "back": "Retour à {org}", "plans": "Vos abonnements",
        "no_plans": "Vous n'avez aucun abonnement actif.", "renews": "Renouvelé le {date}",
        "status": "Statut", "amount": "Montant",
        "overdue_notice": "Un paiement est en retard : {amount} pour la facture {number}.",
        "pay_now": "Payer maintenant", "balance": "Solde créditeur : {amount}",
        "invoice": "Facture", "date": "Date", "download_pdf": "PDF",
        "no_invoices": "Aucune facture pour l'instant.", "name": "Nom",
        "email": "E-mail de facturation", "line1": "Adresse", "postal_code": "Code postal",
        "city": "Ville", "country": "Pays (code ISO)", "vat_id": "Numéro de TVA",
        "save": "Enregistrer", "saved": "Vos coordonnées de facturation sont enregistrées.",
        "session_ended": "Votre session a expiré. Demandez un nouveau lien.",
        "not_found": "Cette page n'existe pas.",
        "paid": "payée", "open": "ouverte", "void": "annulée", "uncollectible": "impayée",
        "active": "actif", "trialing": "essai", "past_due": "en retard",
    },
}


def texts(locale: str | None) -> dict[str, str]:
    """The page words in the language of `locale` (English when there is none)."""
    return TEXTS[locales.language(locale)]
