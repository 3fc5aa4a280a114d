"""fewer index entries per invoice a billing run writes

- `org_id` alone on invoice lines and billed periods: never read by it. Lines are read
  through their invoice (its id, or its customer's and its organization's indexes), billed
  periods through their subscription or invoice; organizations are never deleted, so the
  foreign keys' checks do not need it either.
- `next_dunning_at` on invoices becomes partial: dunning looks only for invoices with a next
  step (`next_dunning_at <= now`), and most invoices have none (all of a billing run's that
  are collected automatically).

Revision ID: 8c41f7a2e903
Revises: 5d2b8e0c4a17
Create Date: 2026-11-24 08:00:00.000000
"""
from alembic import op
from sqlalchemy import text

revision = '8c41f7a2e903'
down_revision = '5d2b8e0c4a17'
branch_labels = None
depends_on = None

# (index, table, columns) dropped by this revision
UNREAD = [
    ("ix_invoice_lines_org_id", "invoice_lines", ["org_id"]),
    ("ix_billed_periods_org_id", "billed_periods", ["org_id"]),
]
_WITH_STEP = "next_dunning_at IS NOT NULL"


def upgrade() -> None:
    for name, table, _ in UNREAD:
        op.drop_index(name, table_name=table)
    op.drop_index("ix_invoices_next_dunning_at", table_name="invoices")
    op.create_index("ix_invoices_next_dunning_at", "invoices", ["next_dunning_at"],
                    postgresql_where=text(_WITH_STEP), sqlite_where=text(_WITH_STEP))


def downgrade() -> None:
    op.drop_index("ix_invoices_next_dunning_at", table_name="invoices")
    op.create_index("ix_invoices_next_dunning_at", "invoices", ["next_dunning_at"])
    for name, table, columns in UNREAD:
        op.create_index(name, table, columns)
