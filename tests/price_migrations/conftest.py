"""The HTTP tests' fixtures (a second organization) serve the price migration tests too."""

from api.conftest import other_org  # noqa: F401
