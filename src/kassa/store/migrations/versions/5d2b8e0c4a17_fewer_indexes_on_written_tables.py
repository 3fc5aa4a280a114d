"""fewer indexes on the tables a billing run writes

Each index is maintained on every insert. These were never the best index for any read:
- `org_id` alone on invoices, e-mails, journal entries, journal lines and revenue schedules:
  each table has an index led by `org_id` (a unique key or a report's index) that serves the
  same tenant-scoped reads and the foreign key's checks;
- `customer_id` alone on invoices: led by ix_invoices_customer_billing;
- `type` on events: events are read by organization (ix_events_org_id_id), their type a filter;
- `request_id` on events becomes partial: only an API request's events are looked up by it
  (the audit trail); a billing run's have none and are no longer indexed.

A billing run writes about 11 rows per invoice; this removes about six index entries of some
65 per invoice.

Revision ID: 5d2b8e0c4a17
Revises: 3a1c5e7b9d20
Create Date: 2026-11-24 02:00:00.000000
"""
from alembic import op
from sqlalchemy import text

revision = '5d2b8e0c4a17'
down_revision = '3a1c5e7b9d20'
branch_labels = None
depends_on = None

# (index, table, columns) dropped by this revision
REDUNDANT = [
    ("ix_invoices_org_id", "invoices", ["org_id"]),
    ("ix_invoices_customer_id", "invoices", ["customer_id"]),
    ("ix_email_messages_org_id", "email_messages", ["org_id"]),
    ("ix_journal_entries_org_id", "journal_entries", ["org_id"]),
    ("ix_journal_lines_org_id", "journal_lines", ["org_id"]),
    ("ix_revenue_schedules_org_id", "revenue_schedules", ["org_id"]),
    ("ix_events_type", "events", ["type"]),
]
_WITH_REQUEST = "request_id IS NOT NULL"


def upgrade() -> None:
    for name, table, _ in REDUNDANT:
        op.drop_index(name, table_name=table)
    op.drop_index("ix_events_request_id", table_name="events")
    op.create_index("ix_events_request_id", "events", ["request_id"],
                    postgresql_where=text(_WITH_REQUEST), sqlite_where=text(_WITH_REQUEST))


def downgrade() -> None:
    op.drop_index("ix_events_request_id", table_name="events")
    op.create_index("ix_events_request_id", "events", ["request_id"])
    for name, table, columns in REDUNDANT:
        op.create_index(name, table, columns)
