"""The EU's VIES: is a VAT id registered with its member state?

Spec: the European Commission's VIES REST API (ec.europa.eu/taxation_customs/vies, "technical
information"): `GET {base}/ms/{prefix}/vat/{number}` with the VAT id's prefix ("EL" for Greece,
"XI" for Northern Ireland) and the number without it, answering JSON such as

    {"isValid": true, "requestDate": "2026-10-08T08:31:15.502Z", "userError": "VALID",
     "name": "ACME B.V.", "address": "DAMRAK 1\\n1012LG AMSTERDAM", "requestIdentifier": "",
     "originalVatNumber": "004495445B01", "vatNumber": "004495445B01",
     "viesApproximate": {"name": "---", ...}}

`userError` is "VALID" or "INVALID" when the member state answered, and otherwise says why it
did not ("MS_UNAVAILABLE", "SERVICE_UNAVAILABLE", "TIMEOUT", "MS_MAX_CONCURRENT_REQ",
"GLOBAL_MAX_CONCURRENT_REQ"...), with `isValid` false: a false there is no verdict. Failures
of the service itself come as `{"actionSucceed": false, "errorWrappers": [{"error": ...}]}`,
often with a 4xx or 5xx status.

Only the standard library is used. A check never raises: whatever is not a clear answer of the
member state is "unavailable", to be asked again later, and never "invalid".
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Literal, Protocol

VatStatus = Literal["unchecked", "valid", "invalid", "unavailable"]

DEFAULT_URL = "https://ec.europa.eu/taxation_customs/vies/rest-api"
MAX_BYTES = 64 * 1024  # a VIES answer is well under 2 KB


class VatChecker(Protocol):
    """Asks a register whether a VAT id exists."""

    def check(self, country: str, number: str) -> VatStatus:
        """The status of the VAT id `country` + `number` ("EL", "123456783"): "valid",
        "invalid", "unavailable" when no answer could be had, or "unchecked" when this checker
        asks nobody. Never raises."""
        ...


class DisabledChecker:
    """The default without a VIES URL: asks nobody, so every VAT id stays unchecked."""

    def check(self, country: str, number: str) -> VatStatus:
        return "unchecked"


class ViesChecker:
    """Checks VAT ids with VIES's REST API at `base_url`; no single wait for the connection
    or the answer lasts longer than `timeout` seconds."""

    def __init__(self, base_url: str = DEFAULT_URL, timeout: float = 10.0) -> None:
        if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
            raise ValueError(f"VIES URL must be http(s): {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def url(self, country: str, number: str) -> str:
        quote = urllib.parse.quote
        return f"{self.base_url}/ms/{quote(country.upper(), safe='')}/vat/{quote(number, safe='')}"

    def check(self, country: str, number: str) -> VatStatus:
        request = urllib.request.Request(self.url(country, number),
                                         headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                if response.status != 200:
                    return "unavailable"
                body = response.read(MAX_BYTES + 1)
        # URLError and HTTPError (4xx, 5xx) are OSErrors, as are timeouts and resets;
        # HTTPException covers a broken or cut-off HTTP answer.
        except (OSError, ValueError, http.client.HTTPException):
            return "unavailable"
        if len(body) > MAX_BYTES:
            return "unavailable"
        try:
            answer = json.loads(body)
        except (ValueError, RecursionError):
            return "unavailable"
        return status_of(answer)


def status_of(answer: Any) -> VatStatus:
    """The status a VIES answer gives: a verdict only when the member state gave one."""
    if not isinstance(answer, dict) or answer.get("actionSucceed") is False:
        return "unavailable"
    valid, error = answer.get("isValid"), answer.get("userError")
    if valid is True and error in (None, "VALID"):
        return "valid"
    if valid is False and error in ("INVALID", "INVALID_INPUT"):
        return "invalid"
    return "unavailable"
