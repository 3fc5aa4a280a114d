from datetime import UTC, datetime


def ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def test_monthly_subscription_bills_twelve_months_on_a_test_clock(api):
    clock = api.post("/v1/test_clocks", json={"frozen_time": ts(2026, 1, 31, 12)}).json()
    cus = api.post("/v1/customers", json={"name": "Ada", "email": "ada@example.com",
                                          "test_clock": clock["id"],
                                          "timezone": "UTC"}).json()
    assert "id" in cus, cus
    price = api.post("/v1/prices", json={"product_data": {"name": "Pro"}, "currency": "eur",
                                         "unit_amount": 1999,
                                         "recurring": {"interval": "month"}}).json()
    assert "id" in price, price
    sub = api.post("/v1/subscriptions", json={"customer": cus["id"],
                                              "items": [{"price": price["id"]}],
                                              "collection_method": "send_invoice"}).json()
    assert sub.get("status") == "active", sub
    r = api.post(f"/v1/test_clocks/{clock['id']}/advance",
                 json={"frozen_time": ts(2027, 1, 31, 13)})
    assert r.status_code == 200, r.text
    invoices = api.get("/v1/invoices", params={"customer": cus["id"], "limit": 100}).json()
    data = invoices["data"]
    starts = sorted(line["period"]["start"] for inv in data for line in inv["lines"]["data"])
    days = [datetime.fromtimestamp(s, UTC).day for s in starts]
    assert len(data) == 13
    assert days[:4] == [31, 28, 31, 30]
    assert all(inv["status"] in ("open", "paid") for inv in data)
    numbers = sorted(inv["number"] for inv in data)
    assert numbers[0] == "ACME-000001" and numbers[-1] == "ACME-000013"
