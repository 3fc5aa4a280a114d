"""Fixtures of the VAT id checks: a fake VIES and a URL where nothing listens."""

from .fake_vies import fake_vies, unreachable_url  # noqa: F401
