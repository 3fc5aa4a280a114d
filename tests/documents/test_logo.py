"""POST /v1/organization/logo: an image is decoded before it is accepted; anything else is
refused and nothing changes."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.helpers import ok
from documents.helpers import NL_CONSUMER, pdf_text, send_invoice, setup_seller
from kassa.config import Kassa
from kassa.services import organizations


def _image(fmt: str = "PNG", size: tuple[int, int] = (40, 20)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 125, 90)).save(buffer, format=fmt)
    return buffer.getvalue()


def _upload(api: TestClient, data: bytes, content_type: str = "image/png") -> Any:
    return api.post("/v1/organization/logo", content=data,
                    headers={"Content-Type": content_type})


@pytest.mark.parametrize(("fmt", "content_type"), [
    ("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"),
    ("WEBP", "image/webp")])
def test_an_uploaded_logo_is_kept_and_read_back(api: TestClient, fmt: str,
                                                content_type: str) -> None:
    data = _image(fmt)
    org = ok(_upload(api, data, content_type))
    assert org["logo_uploaded"] is True
    response = api.get("/v1/organization/logo")
    assert response.status_code == 200
    assert (response.content, response.headers["content-type"]) == (data, content_type)


def test_the_uploaded_logo_is_on_the_invoice(api: TestClient) -> None:
    setup_seller(api)
    data = _image()
    ok(_upload(api, data))
    invoice = send_invoice(api, ok(api.post("/v1/customers", json=NL_CONSUMER)))
    html = api.get(f"/v1/invoices/{invoice['id']}/html").text
    assert f"data:image/png;base64,{base64.b64encode(data).decode()}" in html
    pdf = api.get(f"/v1/invoices/{invoice['id']}/pdf").content
    assert "Acme Cloud" in pdf_text(pdf)


def _unchanged(api: TestClient) -> None:
    assert ok(api.get("/v1/organization"))["logo_uploaded"] is False
    assert api.get("/v1/organization/logo").status_code == 404


@pytest.mark.parametrize(("data", "content_type", "status", "code"), [
    (b"%PDF-1.7 not an image", "image/png", 400, "logo_invalid"),
    (b"", "image/png", 400, None),
    (_image()[:60], "image/png", 400, "logo_invalid"),  # a truncated PNG
    (_image("BMP"), "image/png", 400, "logo_invalid"),  # decodes, but not a web format
    (_image(size=(5000, 10)), "image/png", 400, "logo_invalid"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
     "image/svg+xml", 400, "content_type_invalid"),
    (_image(), "text/plain", 400, "content_type_invalid"),
    (b"\x89PNG" + b"\0" * (512 * 1024), "image/png", 413, None),
], ids=["pdf", "empty", "truncated", "bmp", "too-wide", "svg", "wrong-type", "too-large"])
def test_anything_but_a_small_image_is_refused(api: TestClient, data: bytes,
                                               content_type: str, status: int,
                                               code: str | None) -> None:
    response = _upload(api, data, content_type)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    if code is not None:
        assert error["code"] == code
    assert error["message"]
    _unchanged(api)


def test_a_logo_is_removed_and_another_tenant_never_sees_it(
        api: TestClient, kassa: Kassa, other_org: organizations.NewOrganization) -> None:
    ok(_upload(api, _image()))
    other = api.get("/v1/organization/logo",
                    headers={"Authorization": f"Bearer {other_org.secret_key}"})
    assert other.status_code == 404
    assert ok(api.delete("/v1/organization/logo"))["logo_uploaded"] is False
    _unchanged(api)
