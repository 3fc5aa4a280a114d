"""Cursor pagination as Stripe's: newest first, `starting_after`, `ending_before`, `has_more`."""

from __future__ import annotations

from fastapi.testclient import TestClient

from .helpers import assert_error, create_customer, ok


def _page(api: TestClient, **params: object) -> tuple[list[str], bool]:
    page = ok(api.get("/v1/customers", params=params))
    assert page["object"] == "list" and page["url"] == "/v1/customers"
    return [c["id"] for c in page["data"]], page["has_more"]


def test_paging_25_customers_by_10_walks_each_once_newest_first(api: TestClient) -> None:
    created = [create_customer(api, name=f"Customer {i:02d}")["id"] for i in range(25)]
    newest_first = list(reversed(created))

    first, more1 = _page(api, limit=10)
    second, more2 = _page(api, limit=10, starting_after=first[-1])
    third, more3 = _page(api, limit=10, starting_after=second[-1])

    assert (first, second, third) == (newest_first[:10], newest_first[10:20],
                                      newest_first[20:])
    assert (more1, more2, more3) == (True, True, False)
    assert _page(api, limit=10, starting_after=third[-1]) == ([], False)
    assert _page(api, limit=25) == (newest_first, False)
    assert _page(api, limit=24) == (newest_first[:24], True)
    assert _page(api) == (newest_first[:10], True)  # default limit is 10


def test_ending_before_pages_backwards_towards_the_newest(api: TestClient) -> None:
    created = [create_customer(api, name=f"Customer {i:02d}")["id"] for i in range(25)]
    newest_first = list(reversed(created))

    # The page just before the 21st newest: the 11th to the 20th, in list order.
    assert _page(api, limit=10, ending_before=newest_first[20]) == (newest_first[10:20], True)
    assert _page(api, limit=10, ending_before=newest_first[10]) == (newest_first[:10], False)
    assert _page(api, limit=10, ending_before=newest_first[5]) == (newest_first[:5], False)
    assert _page(api, limit=10, ending_before=newest_first[0]) == ([], False)
    assert _page(api, limit=3, ending_before=newest_first[-1]) == (newest_first[21:24], True)


def test_starting_after_and_ending_before_together_are_refused(api: TestClient) -> None:
    a, b = create_customer(api)["id"], create_customer(api)["id"]
    assert_error(api.get("/v1/customers", params={"starting_after": a, "ending_before": b}),
                 400, code="parameter_invalid", param="ending_before")


def test_paging_works_the_same_on_other_lists(api: TestClient) -> None:
    created = [ok(api.post("/v1/test_clocks", json={"frozen_time": 1_767_225_600 + i}))["id"]
               for i in range(5)]
    first = ok(api.get("/v1/test_clocks", params={"limit": 2}))
    rest = ok(api.get("/v1/test_clocks", params={"limit": 5,
                                                  "starting_after": first["data"][-1]["id"]}))
    ids = [c["id"] for c in first["data"] + rest["data"]]
    assert ids == list(reversed(created))
    assert (first["has_more"], rest["has_more"]) == (True, False)
