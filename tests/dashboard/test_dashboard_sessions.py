"""Operator sign-in and sessions over HTTP: a strict, HttpOnly cookie for /dashboard whose
hash only is stored; the same answer for an unknown e-mail and a wrong password; a lockout
after five failures within 15 minutes (for any e-mail); CSRF on the login form and on
sign-out; sessions that end at sign-out, after 8 hours, after 30 idle minutes and when the
operator is deactivated; no change without a session."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.helpers import ok
from dashboard.world import (
    PASSWORD,
    add_operator,
    browser,
    csrf,
    post,
    sent_invoice,
    sessions,
    sign_in,
    signed_in,
)
from kassa.config import Kassa
from kassa.core.clock import FrozenClock
from kassa.core.errors import AuthenticationFailed
from kassa.services import operators
from kassa.services.organizations import NewOrganization
from kassa.store import models as m


def test_signing_in_sets_a_strict_http_only_cookie_for_the_dashboard_whose_hash_is_stored(
        kassa: Kassa, org: NewOrganization) -> None:
    email = add_operator(kassa, org.organization.id, "finance", "Fiona@Example.com")
    client = browser(kassa)
    form = client.get("/dashboard/login")
    assert form.status_code == 200 and 'autocomplete="current-password"' in form.text
    assert "SameSite=strict" in form.headers["set-cookie"]  # the form's double-submit cookie
    answer = client.post("/dashboard/login", data={
        "csrf_token": csrf(form.text), "email": "  FIONA@example.COM ", "password": PASSWORD},
        follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/dashboard")
    cookie = answer.headers["set-cookie"]
    for part in ("kassa_dashboard=", "HttpOnly", "SameSite=strict", "Path=/dashboard",
                 "Max-Age=28800"):
        assert part in cookie, cookie
    assert "Secure" not in cookie  # the public URL is http here
    value = cookie.split("=", 1)[1].split(";", 1)[0]
    with kassa.uow() as uow:
        [row] = uow.session.scalars(select(m.OperatorSession)).all()
        operator = uow.session.get(m.Operator, row.operator_id)
    assert value not in (row.cookie_hash, row.id) and len(row.cookie_hash) == 64
    assert operator is not None and operator.email == email == "fiona@example.com"
    assert operator.password_hash.startswith("$argon2id$") and PASSWORD not in \
        operator.password_hash
    home = client.get("/dashboard")
    assert home.status_code == 200 and "fiona@example.com" in home.text
    assert home.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in home.headers["content-security-policy"]
    # an operator already signed in is sent on from the login page
    assert client.get("/dashboard/login", follow_redirects=False).headers["location"] == \
        "/dashboard"


def test_the_cookie_is_secure_when_kassa_is_served_over_https(
        kassa: Kassa, org: NewOrganization) -> None:
    kassa.settings = dataclasses.replace(kassa.settings, public_url="https://billing.example")
    client = browser(kassa)
    answer = sign_in(client, add_operator(kassa, org.organization.id, "admin"))
    assert "Secure" in answer.headers["set-cookie"]


def test_an_unknown_email_and_a_wrong_password_get_the_same_answer(
        kassa: Kassa, org: NewOrganization) -> None:
    email = add_operator(kassa, org.organization.id, "support")
    gone = add_operator(kassa, org.organization.id, "finance")
    with kassa.uow() as uow:
        operators.deactivate(uow, org.organization.id,
                             uow.session.scalars(select(m.Operator.id).where(
                                 m.Operator.email == gone)).one())
    answers = [sign_in(browser(kassa), address, password) for address, password in (
        (email, "not the password"), ("nobody@example.com", "not the password"),
        ("nobody@example.com", PASSWORD), (gone, PASSWORD))]
    for answer in answers:
        assert answer.status_code == 401
        assert "Wrong e-mail or password." in answer.text
        assert "kassa_dashboard=" not in answer.headers.get("set-cookie", "")
    assert sessions(kassa) == 0


def test_every_refusal_costs_one_password_check(kassa: Kassa, org: NewOrganization,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown e-mail is checked against a decoy hash, so it takes as long as a wrong
    password (argon2 dominates the time)."""
    email = add_operator(kassa, org.organization.id, "support")
    checked: list[str] = []
    verify = operators._verify
    monkeypatch.setattr(operators, "_verify", lambda hashed, password: (
        checked.append(hashed), verify(hashed, password))[1])
    for address, password in ((email, "wrong"), ("nobody@example.com", "wrong"),
                              (email, "x" * 2000)):
        with kassa.uow() as uow, pytest.raises(AuthenticationFailed):
            operators.sign_in(uow, kassa.pepper, address, password)
    assert len(checked) == 3 and all(h.startswith("$argon2id$") for h in checked)
    assert checked[1] == checked[2] != checked[0]  # the decoy, then the decoy again


def test_five_failures_within_fifteen_minutes_lock_an_email_for_fifteen_minutes(
        kassa: Kassa, org: NewOrganization, clock: FrozenClock) -> None:
    email = add_operator(kassa, org.organization.id, "finance")
    for minute in range(5):
        clock.move_to(clock.now() + timedelta(minutes=2))
        assert sign_in(browser(kassa), email, f"guess {minute}").status_code == 401
    locked = sign_in(browser(kassa), email)  # even the right password
    assert locked.status_code == 429
    assert "locked until 09:25 UTC (15 minutes)" in locked.text  # last failure 09:10
    assert sessions(kassa) == 0
    clock.move_to(clock.now() + timedelta(minutes=14, seconds=59))
    assert sign_in(browser(kassa), email).status_code == 429
    clock.move_to(clock.now() + timedelta(seconds=1))
    assert sign_in(browser(kassa), email).status_code == 303
    # A success clears the count: four more failures do not lock.
    for _ in range(4):
        assert sign_in(browser(kassa), email, "wrong").status_code == 401
    assert sign_in(browser(kassa), email).status_code == 303


def test_an_unknown_email_locks_too_so_the_lockout_tells_nothing(
        kassa: Kassa, org: NewOrganization) -> None:
    for _ in range(5):
        assert sign_in(browser(kassa), "nobody@example.com", "x").status_code == 401
    assert sign_in(browser(kassa), "Nobody@Example.com", "x").status_code == 429


def test_failures_spread_over_more_than_fifteen_minutes_do_not_lock(
        kassa: Kassa, org: NewOrganization, clock: FrozenClock) -> None:
    email = add_operator(kassa, org.organization.id, "finance")
    for _ in range(8):
        assert sign_in(browser(kassa), email, "wrong").status_code == 401
        clock.move_to(clock.now() + timedelta(minutes=4))
    assert sign_in(browser(kassa), email).status_code == 303


def test_the_login_form_needs_its_token_and_its_cookie(kassa: Kassa,
                                                       org: NewOrganization) -> None:
    email = add_operator(kassa, org.organization.id, "admin")
    client = browser(kassa)
    form = client.get("/dashboard/login")
    forged = client.post("/dashboard/login", data={
        "csrf_token": "0" * 64, "email": email, "password": PASSWORD})
    assert forged.status_code == 400 and "The form has expired" in forged.text
    stranger = browser(kassa)  # the token without the cookie it belongs to
    assert stranger.post("/dashboard/login", data={
        "csrf_token": csrf(form.text), "email": email, "password": PASSWORD}
    ).status_code == 400
    empty = client.post("/dashboard/login", data={"csrf_token": csrf(form.text)})
    assert empty.status_code == 400 and "Enter your e-mail and password." in empty.text
    assert sessions(kassa) == 0


def test_sign_out_needs_the_token_and_ends_the_session(kassa: Kassa,
                                                       org: NewOrganization) -> None:
    client = signed_in(kassa, org.organization.id, "support")
    cookie = client.cookies.get("kassa_dashboard")
    assert client.post("/dashboard/logout", data={"csrf_token": "nope"}).status_code == 400
    assert client.get("/dashboard").status_code == 200  # still signed in
    out = post(client, "/dashboard/logout")
    assert (out.status_code, out.headers["location"]) == (303, "/dashboard/login?signed_out=1")
    assert 'kassa_dashboard=""' in out.headers["set-cookie"]
    assert "You are signed out." in client.get("/dashboard/login?signed_out=1").text
    again = browser(kassa)
    again.cookies.set("kassa_dashboard", cookie, domain="kassa.example", path="/dashboard")
    answer = again.get("/dashboard", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/dashboard/login")
    with kassa.uow() as uow:
        assert uow.session.scalars(select(m.OperatorSession.ended_at)).one() is not None


def test_a_session_ends_after_thirty_idle_minutes(kassa: Kassa, org: NewOrganization,
                                                   clock: FrozenClock) -> None:
    client = signed_in(kassa, org.organization.id, "finance")
    for _ in range(3):  # in use: each request keeps it alive
        clock.move_to(clock.now() + timedelta(minutes=29))
        assert client.get("/dashboard", follow_redirects=False).status_code == 200
    clock.move_to(clock.now() + timedelta(minutes=30))
    answer = client.get("/dashboard/customers", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/dashboard/login")


def test_a_session_ends_eight_hours_after_sign_in_however_busy(
        kassa: Kassa, org: NewOrganization, clock: FrozenClock) -> None:
    client = signed_in(kassa, org.organization.id, "finance")
    for _ in range(23):  # every 20 minutes until 7h40
        clock.move_to(clock.now() + timedelta(minutes=20))
        assert client.get("/dashboard", follow_redirects=False).status_code == 200
    clock.move_to(clock.now() + timedelta(minutes=19, seconds=59))
    assert client.get("/dashboard", follow_redirects=False).status_code == 200
    clock.move_to(clock.now() + timedelta(seconds=1))
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_deactivating_an_operator_ends_their_sessions(kassa: Kassa,
                                                      org: NewOrganization) -> None:
    client = signed_in(kassa, org.organization.id, "finance")
    add_operator(kassa, org.organization.id, "admin")
    with kassa.uow() as uow:
        operator = uow.session.scalars(select(m.Operator).where(
            m.Operator.role == "finance")).one()
        operators.deactivate(uow, org.organization.id, operator.id)
    assert client.get("/dashboard", follow_redirects=False).status_code == 303
    assert sign_in(browser(kassa), operator.email).status_code == 401


def test_a_form_sent_without_a_session_is_refused_and_changes_nothing(
        api: TestClient, kassa: Kassa, org: NewOrganization) -> None:
    invoice = sent_invoice(api)
    stranger = browser(kassa)
    answer = stranger.post(f"/dashboard/invoices/{invoice['id']}/void",
                           data={"csrf_token": "x"}, follow_redirects=False)
    assert answer.status_code == 401 and "sign in again" in answer.text
    assert ok(api.get(f"/v1/invoices/{invoice['id']}"))["status"] == "open"
    for path in ("/dashboard", f"/dashboard/invoices/{invoice['id']}",
                 "/dashboard/operators"):
        page = stranger.get(path, follow_redirects=False)
        assert (page.status_code, page.headers["location"]) == (303, "/dashboard/login")
