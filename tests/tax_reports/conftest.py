"""A second organization (another tenant), for the isolation tests."""

from api.conftest import other_org  # noqa: F401
