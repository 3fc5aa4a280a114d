"""Fixtures of the credit note tests: a second organization (another tenant)."""

from __future__ import annotations

import pytest

from kassa.config import Kassa
from kassa.services import organizations


@pytest.fixture
def other_org(kassa: Kassa) -> organizations.NewOrganization:
    with kassa.uow() as uow:
        return organizations.create_organization(
            uow, kassa.pepper, name="Globex", country="DE", timezone="Europe/Berlin",
            default_currency="eur")
