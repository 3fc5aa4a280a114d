"""Revenue recognition on schedule: what was earned up to today moves from deferred revenue to
revenue (services/recognition.py). Hourly on the workers, every pass of the in-process
scheduler; a run with nothing newly earned writes nothing."""

from __future__ import annotations

from kassa.config import Kassa
from kassa.services import recognition


def recognize_revenue(kassa: Kassa) -> int:
    """Post the revenue earned up to today for every organization; returns the schedules moved."""
    return recognition.recognize_due(kassa.session_factory, kassa.clock)
