"""Helpers for the dashboard tests: operators, a browser-like client signed in as one, the
CSRF token of a page, and a few objects to act on."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.helpers import create_customer, create_price, ok, shared_app, subscribe
from kassa.config import Kassa
from kassa.services import operators
from kassa.store import models as m

PASSWORD = "correct horse battery staple"


def add_operator(kassa: Kassa, org_id: str, role: str, email: str | None = None) -> str:
    """A new operator of the organization (password PASSWORD); their e-mail."""
    with kassa.uow() as uow:
        made = operators.create_operator(uow, org_id, email=email or f"{role}@{org_id}.example",
                                         role=role, password=PASSWORD)
    return made.email


def browser(kassa: Kassa) -> TestClient:
    return TestClient(shared_app(kassa), base_url="https://kassa.example")


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found is not None, html[:2000]
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    """Sign in through the login form; the answer to the form."""
    form = client.get("/dashboard/login")
    return client.post("/dashboard/login", data={
        "csrf_token": csrf(form.text), "email": email, "password": password},
        follow_redirects=False)


def signed_in(kassa: Kassa, org_id: str, role: str) -> TestClient:
    """A client signed in as a new operator with `role`."""
    client = browser(kassa)
    answer = sign_in(client, add_operator(kassa, org_id, role))
    assert answer.status_code == 303, answer.text
    return client


def token(client: TestClient, path: str = "/dashboard") -> str:
    """The CSRF token of the client's session (read off a page)."""
    return csrf(client.get(path).text)


def post(client: TestClient, path: str, **fields: str) -> Any:
    """A dashboard form sent with the session's CSRF token."""
    return client.post(path, data={"csrf_token": token(client), **fields},
                       follow_redirects=False)


def sent_invoice(api: TestClient, amount: int = 5000, **customer: Any) -> dict[str, Any]:
    """An open invoice sent to a new customer, due in 14 days."""
    person = create_customer(api, **customer)
    sub = subscribe(api, person["id"], create_price(api, amount)["id"],
                    collection_method="send_invoice", days_until_due=14)
    return ok(api.get(f"/v1/invoices/{sub['latest_invoice']}"))


def count(kassa: Kassa, model: Any, *where: Any) -> int:
    with kassa.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def sessions(kassa: Kassa) -> int:
    return count(kassa, m.OperatorSession)
