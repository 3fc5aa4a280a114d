"""The VIES adapter against a fake VIES on 127.0.0.1: each answer gives its status, and nothing
that is not a member state's clear answer ever reads as "invalid" or raises."""

from __future__ import annotations

import time

import pytest

from kassa.adapters.vies import DisabledChecker, ViesChecker, status_of

from .fake_vies import (
    DOWN,
    INVALID,
    MS_DOWN,
    NOT_JSON,
    SLOW,
    SLOW_ID,
    TIMEOUT,
    TIMEOUT_ID,
    VALID,
    FakeVies,
    answer,
)


def ask(checker: ViesChecker, vat_id: str) -> str:
    return checker.check(vat_id[:2], vat_id[2:])


@pytest.mark.parametrize(("vat_id", "expected"), [
    (VALID, "valid"),
    (INVALID, "invalid"),
    (DOWN, "unavailable"),  # 503 with SERVICE_UNAVAILABLE
    (MS_DOWN, "unavailable"),  # 200 with isValid false and MS_UNAVAILABLE
    (TIMEOUT_ID, "unavailable"),  # 200 with VIES's own TIMEOUT
    (NOT_JSON, "unavailable"),  # a maintenance page served with 200
])
def test_each_answer_of_vies_gives_its_status(fake_vies: FakeVies, vat_id: str,
                                              expected: str) -> None:
    assert ask(fake_vies.checker(), vat_id) == expected


def test_an_answer_slower_than_the_timeout_is_unavailable(fake_vies: FakeVies) -> None:
    started = time.monotonic()
    assert ask(fake_vies.checker(), SLOW_ID) == "unavailable"
    assert time.monotonic() - started < SLOW
    assert ask(fake_vies.checker(timeout=SLOW + 3), SLOW_ID) == "valid"


def test_an_unreachable_vies_is_unavailable(unreachable_url: str) -> None:
    assert ask(ViesChecker(unreachable_url, timeout=TIMEOUT), VALID) == "unavailable"


def test_the_request_names_the_prefix_and_the_number(fake_vies: FakeVies) -> None:
    checker = fake_vies.checker()
    ask(checker, "EL123456783")
    ask(checker, "ATU12345675")
    assert fake_vies.paths == ["/rest-api/ms/EL/vat/123456783", "/rest-api/ms/AT/vat/U12345675"]


def test_the_number_cannot_escape_its_path_segment(fake_vies: FakeVies) -> None:
    assert ask(fake_vies.checker(), "NL../../x?y=1#z") == "invalid"
    assert fake_vies.paths == ["/rest-api/ms/NL/vat/..%2F..%2Fx%3Fy%3D1%23z"]


@pytest.mark.parametrize(("body", "expected"), [
    (answer("004495445B01", True, "VALID"), "valid"),
    ({"isValid": True}, "valid"),
    (answer("123", False, "INVALID"), "invalid"),
    ({"isValid": False, "userError": "INVALID_INPUT"}, "invalid"),
    (answer("123", False, "MS_UNAVAILABLE"), "unavailable"),
    (answer("123", False, "SERVICE_UNAVAILABLE"), "unavailable"),
    (answer("123", False, "MS_MAX_CONCURRENT_REQ"), "unavailable"),
    (answer("123", False, "GLOBAL_MAX_CONCURRENT_REQ"), "unavailable"),
    (answer("123", False, "TIMEOUT"), "unavailable"),
    (answer("123", True, "MS_UNAVAILABLE"), "unavailable"),
    ({"actionSucceed": False, "errorWrappers": [{"error": "MS_UNAVAILABLE"}]}, "unavailable"),
    ({"actionSucceed": False, "isValid": False, "userError": "INVALID"}, "unavailable"),
    ({"isValid": False}, "unavailable"),
    ({"isValid": "true"}, "unavailable"),
    ({}, "unavailable"),
    ([1, 2], "unavailable"),
    (None, "unavailable"),
])
def test_only_a_member_states_clear_answer_is_a_verdict(body: object, expected: str) -> None:
    assert status_of(body) == expected


def test_the_disabled_checker_asks_nobody(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the disabled checker used the network")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    monkeypatch.setattr("socket.create_connection", no_network)
    assert DisabledChecker().check("NL", "004495445B01") == "unchecked"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.test/", "", "vies"])
def test_only_http_urls_are_accepted(url: str) -> None:
    with pytest.raises(ValueError, match="http"):
        ViesChecker(url)
