"""The languages Kassa speaks to customers in (documents, e-mail, legal notes), and how a
locale maps onto one of them."""

from __future__ import annotations

LANGUAGES = ("en", "nl", "de", "fr")
DEFAULT = "en"


def language_of(locale: str | None) -> tuple[str, bool]:
    """The language of a locale ('de-CH' -> 'de', 'nl_BE' -> 'nl') and whether Kassa speaks
    it; an unknown or missing locale gives English (and False)."""
    code = (locale or "").replace("_", "-").split("-")[0].lower()
    if code in LANGUAGES:
        return code, True
    return DEFAULT, False


def language(locale: str | None) -> str:
    """The language of a locale, English when Kassa does not speak it."""
    return language_of(locale)[0]
