"""One module per capability. A service call is one transaction (a unit of work)."""

# Posting to the ledger happens on every flush of every session (services/ledger.py).
from kassa.services import ledger as _ledger  # noqa: F401
