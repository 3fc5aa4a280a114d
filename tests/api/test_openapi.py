"""The OpenAPI schema documents the API."""

from __future__ import annotations

from fastapi.testclient import TestClient

from .helpers import ok


def test_openapi_is_served_and_documents_the_v1_resources(api: TestClient) -> None:
    schema = ok(api.get("/openapi.json", headers={"Authorization": ""}))
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Kassa"
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/v1/customers"])
    for path in ("/v1/customers/{customer_id}", "/v1/prices", "/v1/subscriptions",
                 "/v1/invoices", "/v1/invoices/{invoice_id}/pay", "/v1/invoices/upcoming",
                 "/v1/test_clocks", "/v1/test_clocks/{clock_id}/advance", "/v1/events"):
        assert path in paths, path
    assert "/health" not in paths
    body = paths["/v1/customers"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"].endswith("/CustomerCreate")
    assert "currency" in schema["components"]["schemas"]["CustomerCreate"]["properties"]
