"""A fake VIES on 127.0.0.1: answers the REST API's real JSON shapes, chosen by VAT id."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kassa.adapters.vies import ViesChecker

TIMEOUT = 0.5  # the checker's; the slow answer takes SLOW seconds
SLOW = 2.0

_APPROXIMATE = {"name": "---", "street": "---", "postalCode": "---", "city": "---",
                "companyType": "---", "matchName": 3, "matchStreet": 3, "matchPostalCode": 3,
                "matchCity": 3, "matchCompanyType": 3}


def answer(number: str, valid: bool, user_error: str, name: str = "---",
           address: str = "---") -> dict[str, Any]:
    """VIES's answer to GET /ms/{prefix}/vat/{number}, as it comes."""
    return {"isValid": valid, "requestDate": "2026-01-01T09:00:00.000Z", "userError": user_error,
            "name": name, "address": address, "requestIdentifier": "",
            "originalVatNumber": number, "vatNumber": number, "viesApproximate": _APPROXIMATE}


# Example VAT ids (valid check digits) and what the fake VIES does with each.
VALID = "NL004495445B01"
INVALID = "DE123456788"
DOWN = "FR11123456782"  # 503 with VIES's error wrapper
SLOW_ID = "BE0123456749"  # answers after SLOW seconds
MS_DOWN = "EL123456783"  # the member state's register is down
TIMEOUT_ID = "ATU12345675"  # VIES's own TIMEOUT user error
NOT_JSON = "DK12345674"  # a maintenance page with status 200


@dataclass
class FakeVies:
    url: str
    paths: list[str] = field(default_factory=list)

    def checker(self, timeout: float = TIMEOUT) -> ViesChecker:
        return ViesChecker(self.url, timeout=timeout)


def _reply(path: str) -> tuple[int, bytes, float]:
    """(status, body, delay) for a request path."""
    parts = path.split("/")  # ['', 'rest-api', 'ms', 'NL', 'vat', '004495445B01']
    if len(parts) != 6 or parts[1:3] != ["rest-api", "ms"] or parts[4] != "vat":
        return 404, b'{"actionSucceed": false}', 0
    vat_id, number = parts[3] + parts[5], parts[5]
    if vat_id == VALID:
        body = answer(number, True, "VALID", "ACME CLOUD B.V.", "DAMRAK 1\n1012LG AMSTERDAM")
    elif vat_id == SLOW_ID:
        return 200, json.dumps(answer(number, True, "VALID")).encode(), SLOW
    elif vat_id == DOWN:
        wrapper = {"actionSucceed": False, "errorWrappers": [
            {"error": "SERVICE_UNAVAILABLE", "message": "The service is unavailable"}]}
        return 503, json.dumps(wrapper).encode(), 0
    elif vat_id == MS_DOWN:
        body = answer(number, False, "MS_UNAVAILABLE")
    elif vat_id == TIMEOUT_ID:
        body = answer(number, False, "TIMEOUT")
    elif vat_id == NOT_JSON:
        return 200, b"<html>maintenance</html>", 0
    else:
        body = answer(number, False, "INVALID")
    return 200, json.dumps(body).encode(), 0


@pytest.fixture
def fake_vies() -> Iterator[FakeVies]:
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            status, body, delay = _reply(self.path)
            time.sleep(delay)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up waiting
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield FakeVies(f"http://127.0.0.1:{server.server_address[1]}/rest-api", paths)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def unreachable_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/rest-api"
