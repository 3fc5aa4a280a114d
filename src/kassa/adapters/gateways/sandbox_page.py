"""The sandbox gateway's hosted pages: where a card or an IBAN is entered, and 3-D Secure.

    GET  /sandbox/checkout?return_url=...&state=...&methods=card,sepa_debit[&creditor=...]
    POST /sandbox/checkout          -> 303 to return_url?token=tok_...&state=...
    GET  /sandbox/authenticate/{charge_ref}?return_url=...&state=...
    POST /sandbox/authenticate/{charge_ref}  -> 303 to return_url?charge=ch_sbx_...&state=...

Like a real gateway's hosted fields, the card number goes to this page only: it is turned into
a token at once and never logged, stored or echoed back. The pages are plain HTML with inline
CSS and no scripts. Forms are read from `application/x-www-form-urlencoded` bodies directly
(python-multipart is not a dependency). `return_url` must be an absolute http(s) URL.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kassa.core.errors import KassaError
from kassa.core.money import format_amount

from .base import GatewayError
from .sandbox import SandboxGateway

METHODS = ("card", "sepa_debit")
MAX_FORM_BYTES = 16 * 1024
_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
_CSS = """
body{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;
color:#1a1a1a}
h1{font-size:1.3rem}h2{font-size:1.1rem;margin:0 0 .5rem}
form{border:1px solid #c8c8c8;border-radius:6px;padding:1rem;margin:0 0 1rem}
label{display:block;margin:.6rem 0 .2rem;font-weight:600}
input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem;border:1px solid #767676;
border-radius:4px}
input:focus,button:focus{outline:3px solid #1a5fb4;outline-offset:1px}
.row{display:flex;gap:1rem}.row div{flex:1}
button{margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem;border:0;border-radius:4px;
background:#1a5fb4;color:#fff;cursor:pointer}
button.secondary{background:#5e5c64}
.error{color:#a51d2d;border-left:4px solid #a51d2d;padding-left:.6rem}
.note{font-size:.85rem;color:#474747}
.badge{display:inline-block;background:#f6d32d;color:#000;padding:0 .4rem;border-radius:3px;
font-size:.8rem}
"""
_MANDATE = (
    "By providing your IBAN and confirming this payment, you authorise {creditor} and the "
    "sandbox payment service to send instructions to your bank to debit your account, and "
    "your bank to debit your account in accordance with those instructions. As part of your "
    "rights, you are entitled to a refund from your bank under the terms and conditions of "
    "your agreement with your bank. A refund must be claimed within 8 weeks starting from the "
    "date on which your account was debited. Your rights are explained in a statement that "
    "you can obtain from your bank."
)


class _BadRequest(Exception):
    """A request the page cannot serve; the message is shown to the visitor."""


def checkout_path(return_url: str, state: str, creditor: str,
                  methods: str = "card,sepa_debit") -> str:
    """Where to send a customer to enter a card or accept a SEPA mandate; the page comes
    back to `return_url` with `token` and `state`."""
    return "/sandbox/checkout?" + urlencode({"return_url": return_url, "state": state,
                                             "methods": methods, "creditor": creditor})


def router(gateway: SandboxGateway, *, creditor: str = "the merchant") -> APIRouter:
    """The sandbox's pages, to be mounted on Kassa's app; `creditor` names the merchant in the
    SEPA mandate text unless the checkout URL gives one."""
    pages = APIRouter(prefix="/sandbox", include_in_schema=False)

    @pages.get("/checkout")
    def show_checkout(request: Request) -> Response:
        try:
            form = _checkout_params(dict(request.query_params), creditor)
        except _BadRequest as exc:
            return _problem(str(exc))
        return _page("Enter your payment details", _checkout_forms(form))

    @pages.post("/checkout")
    async def submit_checkout(request: Request) -> Response:
        try:
            form = _checkout_params(await _read_form(request), creditor)
            token = _tokenize(gateway, form)
        except _BadRequest as exc:
            return _problem(str(exc))
        except GatewayError as exc:
            # Everything but the card number goes back, so the visitor can correct it.
            return _page("Enter your payment details",
                         _checkout_forms(form, error=str(exc)), status=400)
        return _redirect(form["return_url"], {"token": token, "state": form["state"]})

    @pages.get("/authenticate/{charge_ref}")
    def show_authentication(charge_ref: str, request: Request) -> Response:
        try:
            params = _return_params(dict(request.query_params))
            result = gateway.retrieve_charge(charge_ref=charge_ref, now=_now())
        except _BadRequest as exc:
            return _problem(str(exc))
        except GatewayError as exc:
            return _problem(str(exc), status=404)
        if result.status != "requires_action":
            return _problem("This payment does not need to be confirmed.")
        return _page("Confirm your payment", _authentication_form(
            charge_ref, result.amount, result.currency, params))

    @pages.post("/authenticate/{charge_ref}")
    async def submit_authentication(charge_ref: str, request: Request) -> Response:
        try:
            form = await _read_form(request)
            params = _return_params(form)
            result = gateway.complete_authentication(
                charge_ref, form.get("decision") == "approve", now=_now())
        except _BadRequest as exc:
            return _problem(str(exc))
        except GatewayError as exc:
            status = 404 if exc.code == "resource_missing" else 400
            return _problem(str(exc), status=status)
        return _redirect(params["return_url"], {"charge": result.ref, "state": params["state"]})

    return pages


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def _read_form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise _BadRequest("Send the form as application/x-www-form-urlencoded.")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise _BadRequest("The form is too large.")
    try:
        fields = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _BadRequest("The form could not be read.") from exc
    return {name: values[0] for name, values in fields.items()}


def _return_params(given: Mapping[str, str]) -> dict[str, str]:
    return_url = given.get("return_url", "")
    parts = urlsplit(return_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _BadRequest("return_url must be an absolute http or https URL.")
    return {"return_url": return_url, "state": given.get("state", "")}


def _checkout_params(given: Mapping[str, str], creditor: str) -> dict[str, str]:
    methods = [m.strip() for m in given.get("methods", ",".join(METHODS)).split(",")]
    if not methods or any(m not in METHODS for m in methods):
        raise _BadRequest("methods must be card, sepa_debit or both.")
    return {**given, **_return_params(given), "methods": ",".join(methods),
            "creditor": given.get("creditor") or creditor}


def _tokenize(gateway: SandboxGateway, form: Mapping[str, str]) -> str:
    method = form.get("method", "")
    if method not in form["methods"].split(","):
        raise _BadRequest("This payment method is not offered here.")
    if method == "sepa_debit":
        return gateway.tokenize_iban(form.get("iban", ""), form.get("account_holder", ""))
    month, _, year = form.get("exp", "").replace(" ", "").partition("/")
    if not (month.isascii() and month.isdigit() and year.isascii() and year.isdigit()
            and len(month) <= 2 and len(year) in (2, 4)):
        raise GatewayError("Enter the expiry date as MM / YY.", code="invalid_expiry_month")
    return gateway.tokenize_card(form.get("number", ""), int(month), int(year),
                                 form.get("cvc", "").strip())


def _redirect(return_url: str, params: Mapping[str, str]) -> Response:
    parts = urlsplit(return_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(key, value) for key, value in params.items() if value]
    target = urlunsplit(parts._replace(query=urlencode(query)))
    return RedirectResponse(target, status_code=303, headers=_HEADERS)


def _problem(message: str, *, status: int = 400) -> Response:
    return _page("The payment page cannot be shown",
                 f'<p class="error" role="alert">{_e(message)}</p>', status=status)


def _page(title: str, body: str, *, status: int = 200) -> HTMLResponse:
    document = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)} · Sandbox</title>
<style>{_CSS}</style>
</head>
<body>
<main>
<h1>{_e(title)} <span class="badge">Sandbox</span></h1>
{body}
<p class="note">This is Kassa's sandbox gateway: no money moves. Use a test card such as
4242 4242 4242 4242 or a test IBAN such as NL91 ABNA 0417 1643 00.</p>
</main>
</body>
</html>
"""
    return HTMLResponse(document, status_code=status, headers=_HEADERS)


def _hidden(form: Mapping[str, str], *names: str) -> str:
    return "\n".join(f'<input type="hidden" name="{name}" value="{_e(form.get(name, ""))}">'
                     for name in names)


def _checkout_forms(form: Mapping[str, str], *, error: str | None = None) -> str:
    methods = form["methods"].split(",")
    hidden = _hidden(form, "return_url", "state", "methods", "creditor")
    alert = f'<p class="error" role="alert">{_e(error)}</p>' if error else ""
    sections = [alert]
    if "card" in methods:
        sections.append(f"""<form method="post" action="checkout" aria-labelledby="card-title">
<h2 id="card-title">Card</h2>
{hidden}
<input type="hidden" name="method" value="card">
<label for="number">Card number</label>
<input id="number" name="number" autocomplete="cc-number" inputmode="numeric"
 placeholder="1234 1234 1234 1234" required>
<div class="row">
<div><label for="exp">Expiry (MM / YY)</label>
<input id="exp" name="exp" autocomplete="cc-exp" inputmode="numeric" placeholder="MM / YY"
 value="{_e(form.get("exp", ""))}" required></div>
<div><label for="cvc">Security code</label>
<input id="cvc" name="cvc" autocomplete="cc-csc" inputmode="numeric" placeholder="CVC"
 required></div>
</div>
<button type="submit">Save card</button>
</form>""")
    if "sepa_debit" in methods:
        mandate = _MANDATE.format(creditor=form["creditor"])
        sections.append(f"""<form method="post" action="checkout" aria-labelledby="sepa-title">
<h2 id="sepa-title">SEPA Direct Debit</h2>
{hidden}
<input type="hidden" name="method" value="sepa_debit">
<label for="account_holder">Account holder</label>
<input id="account_holder" name="account_holder" autocomplete="name"
 value="{_e(form.get("account_holder", ""))}" required>
<label for="iban">IBAN</label>
<input id="iban" name="iban" autocomplete="off" placeholder="NL91 ABNA 0417 1643 00"
 value="{_e(form.get("iban", ""))}" required>
<p class="note" id="mandate">{_e(mandate)}</p>
<button type="submit" aria-describedby="mandate">Accept the mandate</button>
</form>""")
    return "\n".join(sections)


def _authentication_form(charge_ref: str, amount: int, currency: str,
                         params: Mapping[str, str]) -> str:
    return f"""<form method="post" action="{_e(charge_ref)}">
<p>Your bank asks you to confirm a payment of <strong>{_e(_amount(amount, currency))}</strong>.
In the sandbox you choose the outcome.</p>
{_hidden(params, "return_url", "state")}
<button type="submit" name="decision" value="approve">Complete authentication</button>
<button type="submit" name="decision" value="fail" class="secondary">Fail authentication</button>
</form>"""


def _amount(amount: int, currency: str) -> str:
    try:
        return format_amount(amount, currency)
    except KassaError:  # a currency Kassa does not know: show the minor units
        return f"{amount} {currency.upper()} (minor units)"


def _e(value: str) -> str:
    return html.escape(value, quote=True)
