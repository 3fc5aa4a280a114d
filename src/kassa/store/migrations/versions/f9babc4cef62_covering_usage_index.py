"""covering usage index

On PostgreSQL ix_meter_events_usage (meter, customer, timestamp) also carries the columns
reading usage needs (INCLUDE), so a period's events are aggregated from the index alone
instead of one table page per event. SQLite keeps the plain index.

The new index is built under another name before the old one is dropped, so reads keep an
index until the transaction commits; writes to meter_events wait while it is built.

Revision ID: f9babc4cef62
Revises: 0003062de354
Create Date: 2026-11-23 06:14:31.564194
"""
from alembic import op


revision = 'f9babc4cef62'
down_revision = '0003062de354'
branch_labels = None
depends_on = None

COLUMNS = ["meter_id", "customer_id", "timestamp"]


def _replace(include: list[str] | None) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index("ix_meter_events_usage_new", "meter_events", COLUMNS,
                    postgresql_include=include or [])
    op.drop_index("ix_meter_events_usage", table_name="meter_events")
    op.execute("ALTER INDEX ix_meter_events_usage_new RENAME TO ix_meter_events_usage")


def upgrade() -> None:
    _replace(["identifier", "value", "key", "counted", "voided_at"])


def downgrade() -> None:
    _replace(None)
