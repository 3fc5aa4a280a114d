"""Fixtures of the HTTP tests: a second organization, and a test clock customer."""

from __future__ import annotations

import pytest

from kassa.config import Kassa
from kassa.services import organizations


@pytest.fixture
def other_org(kassa: Kassa) -> organizations.NewOrganization:
    """A second organization (another tenant) with its own secret key."""
    with kassa.uow() as uow:
        return organizations.create_organization(
            uow, kassa.pepper, name="Globex", country="DE", timezone="Europe/Berlin",
            default_currency="eur")
