"""The README's webhook verification snippet works on what Kassa sends (and refuses what it
should)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from kassa.core import signatures

README = Path(__file__).parents[2] / "README.md"


def test_the_readme_snippet_verifies_kassa_signatures() -> None:
    code = re.search(r"```python\n(import hashlib.*?)```", README.read_text(), re.S)
    assert code is not None
    scope: dict[str, Any] = {}
    exec(code.group(1), scope)
    check = scope["verify_kassa_signature"]
    body, secret, now = b'{"id":"evt_1"}', "whsec_test", int(time.time())
    header = signatures.header([b"whsec_old", secret.encode()], now, body)
    assert check(body, header, secret)
    assert check(body, header, "whsec_old")  # during a rotation
    assert not check(body + b" ", header, secret)
    assert not check(body, header, "whsec_other")
    assert not check(body, signatures.header([secret.encode()], now - 3600, body), secret)
    assert not check(body, "v1=abc", secret)
