"""Fixtures of the VAT id checks: a fake VIES, a URL where nothing listens, and the HTTP
tests' second organization."""

from api.conftest import other_org  # noqa: F401

from .fake_vies import fake_vies, unreachable_url  # noqa: F401
