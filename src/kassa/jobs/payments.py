"""Collection: every automatic payment attempt that is due, and every payment whose status
the gateway is asked about again (SEPA debits until settled and past their return window,
3-D Secure waiting for the customer, a claim whose outcome was never recorded)."""

from __future__ import annotations

from kassa.config import Kassa
from kassa.services import collection


def collect_payments(kassa: Kassa) -> collection.RunCounts:
    """Real-time customers' due attempts and checks (test clocks run theirs when advanced)."""
    return collection.run_due(kassa.session_factory, kassa.clock, kassa.gateways,
                            kassa.clock.now())
