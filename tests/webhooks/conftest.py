"""Loopback HTTP receivers for the webhook tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from receiver import Receiver, start_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = start_receiver()
    yield server
    server.server.shutdown()


@pytest.fixture
def second_receiver() -> Iterator[Receiver]:
    server = start_receiver()
    yield server
    server.server.shutdown()
