"""no invoice index leads with its status

`(status, auto_finalize_at)` was the only index on invoices to lead with the status. With
statistics taken when few invoices were open, PostgreSQL read a billing batch's open
invoices of its customers (`customer_id = ANY(...) AND status = 'open'`) through it: every
open invoice, filtered by customer, and a billing run makes thousands more with each batch
(3 ms a batch after 20,000 invoices, growing with the run). Two partial indexes take its
place, each for the one question it answered:

- the drafts whose grace period runs out (`status = 'draft' AND auto_finalize_at <= now`),
  partial on `auto_finalize_at IS NOT NULL` as well, so a read of drafts by customer
  cannot scan it either;
- the automatic charges due (`next_payment_attempt <= now`), which read every open invoice
  through the status index until now.

Revision ID: 1d8bff57cb8b
Revises: 8c41f7a2e903
Create Date: 2026-11-24 10:45:00.000000
"""
from alembic import op
from sqlalchemy import text

revision = '1d8bff57cb8b'
down_revision = '8c41f7a2e903'
branch_labels = None
depends_on = None

_FINALIZES = "status = 'draft' AND auto_finalize_at IS NOT NULL"
_ATTEMPTED = "next_payment_attempt IS NOT NULL"


def upgrade() -> None:
    op.drop_index("ix_invoices_auto_finalize", table_name="invoices")
    op.create_index("ix_invoices_draft_finalize", "invoices", ["auto_finalize_at"],
                    postgresql_where=text(_FINALIZES), sqlite_where=text(_FINALIZES))
    op.create_index("ix_invoices_next_payment_attempt", "invoices", ["next_payment_attempt"],
                    postgresql_where=text(_ATTEMPTED), sqlite_where=text(_ATTEMPTED))


def downgrade() -> None:
    op.drop_index("ix_invoices_next_payment_attempt", table_name="invoices")
    op.drop_index("ix_invoices_draft_finalize", table_name="invoices")
    op.create_index("ix_invoices_auto_finalize", "invoices", ["status", "auto_finalize_at"])
