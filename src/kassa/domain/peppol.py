"""Peppol electronic addresses (EN 16931 BT-34 seller, BT-49 buyer).

A party on the Peppol network is reached at "scheme:identifier", the scheme a code from the
Electronic Address Scheme (EAS) list. A party registered by its VAT number is reached at the
country's VAT scheme (9925 for a Belgian VAT number, 9944 Dutch, 9930 German, ...); other
parties give their address explicitly (e.g. "0208:0123456789", a Belgian enterprise number).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The EAS code list as the Peppol BIS Billing 3.0 rules of 2026 accept it (PEPPOL-EN16931-CL008).
_EAS = """
0002 0007 0009 0060 0088 0096 0097 0106 0130 0135 0142 0151 0183 0184 0188 0190 0191 0192
0195 0196 0198 0199 0200 0201 0204 0208 0209 0210 0211 0216 0218 0221 0225 0230 0235 0240
0242 0244 0245 0246 0248 9910 9913 9914 9915 9918 9919 9920 9922 9923 9924 9925 9926 9927
9928 9929 9930 9931 9932 9933 9934 9935 9936 9937 9938 9939 9940 9941 9942 9943 9944 9945
9946 9947 9948 9949 9950 9951 9952 9953 9957 9959
"""
EAS_SCHEMES = frozenset(_EAS.split())

# The EAS scheme of a VAT number, by its country prefix.
VAT_SCHEMES = {
    "AD": "9922", "AL": "9923", "AT": "9914", "BA": "9924", "BE": "9925", "BG": "9926",
    "CH": "9927", "CY": "9928", "CZ": "9929", "DE": "9930", "EE": "9931", "ES": "9920",
    "FR": "9957", "GB": "9932", "EL": "9933", "GR": "9933", "HR": "9934", "HU": "9910",
    "IE": "9935", "IT": "0211", "LI": "9936", "LT": "9937", "LU": "9938", "LV": "9939",
    "MC": "9940", "ME": "9941", "MK": "9942", "MT": "9943", "NL": "9944", "PL": "9945",
    "PT": "9946", "RO": "9947", "RS": "9948", "SI": "9949", "SK": "9950", "SM": "9951",
    "TR": "9952", "VA": "9953",
}

_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:_/+-]{0,69}")


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    identifier: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.identifier}"


def parse(value: str) -> Endpoint:
    """A participant id "scheme:identifier"; ValueError saying what is wrong."""
    scheme, sep, identifier = value.strip().partition(":")
    if not sep or not identifier:
        raise ValueError("A Peppol id is written scheme:identifier, e.g. 0208:0123456789.")
    if scheme not in EAS_SCHEMES:
        raise ValueError(f"{scheme!r} is not an Electronic Address Scheme (EAS) code.")
    if not _IDENTIFIER.fullmatch(identifier):
        raise ValueError("A Peppol identifier is 1 to 70 letters, digits and . : _ / + -.")
    return Endpoint(scheme, identifier)


def endpoint(peppol_id: str | None, vat_id: str | None) -> Endpoint | None:
    """Where a party is reached: its own Peppol id, else its VAT number's scheme, else None."""
    if peppol_id:
        return parse(peppol_id)
    vat = (vat_id or "").replace(" ", "").upper()
    scheme = VAT_SCHEMES.get(vat[:2])
    return Endpoint(scheme, vat) if scheme else None
