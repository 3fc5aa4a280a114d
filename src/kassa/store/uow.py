"""The unit of work: one transaction per service call, committed once or not at all."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker

from kassa.core.clock import Clock


class UnitOfWork:
    """Opens a session; `commit()` makes the work durable, leaving without it rolls back."""

    def __init__(self, session_factory: sessionmaker[Session], clock: Clock) -> None:
        self._session_factory = session_factory
        self.clock = clock
        self.session: Session

    def __enter__(self) -> UnitOfWork:
        self.session = self._session_factory()
        # What runs inside the session without the unit of work (the ledger's posting on
        # flush) asks this clock for "now".
        self.session.info["clock"] = self.clock
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # close() rolls back whatever was not committed and detaches the loaded objects
        # without expiring them, so callers may still read what they were given.
        self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()
