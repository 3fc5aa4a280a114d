"""Kassa's billing run on two machines that share nothing but PostgreSQL. Network namespaces
stand in for the machines (tests/scale/several_hosts.py, also run by scripts/several-hosts):
`kassa bill` runs on both at once against a PostgreSQL server in a third."""

from __future__ import annotations

import pytest

from scale import several_hosts

# It starts a PostgreSQL server of its own; it runs once, in the PostgreSQL half of the suite.
pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]

# Enough customers, in small enough batches, that the host that starts second still finds
# batches to take, few enough to stay well under a minute on two cores.
CUSTOMERS = 200
BATCH_SIZE = 5


def test_two_hosts_bill_one_run_together_and_invoice_every_renewal_once() -> None:
    reason = several_hosts.unavailable()
    if reason:
        pytest.skip(reason)
    report = several_hosts.run(CUSTOMERS, BATCH_SIZE)
    print("\n".join(several_hosts.summary(report)))
    assert report.subscriptions == CUSTOMERS
    # Every renewal invoiced once, finalized, numbered without gaps; invoices written from
    # both hosts' addresses and, once the run records its batches (billing_batches), batches
    # claimed by both hosts, each from its own address.
    problems = report.problems()
    assert not problems, "\n".join([*problems, report.server_log])
