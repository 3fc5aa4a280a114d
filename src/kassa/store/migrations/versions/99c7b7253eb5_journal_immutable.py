"""The journal is immutable: the database refuses to change or delete a posted entry or line
(a correction is a reversing entry, services/ledger.py).

Revision ID: 99c7b7253eb5
Revises: c479d4b348ea
Create Date: 2026-11-23 03:08:45.291315
"""
from alembic import op

revision = '99c7b7253eb5'
down_revision = 'c479d4b348ea'
branch_labels = None
depends_on = None

TABLES = ("journal_entries", "journal_lines")
MESSAGE = "journal entries are immutable: post a reversing entry"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION kassa_journal_immutable() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '{MESSAGE}';
            END;
            $$ LANGUAGE plpgsql""")
        for table in TABLES:
            op.execute(f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION kassa_journal_immutable()")
        return
    for table in TABLES:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER {table}_immutable ON {table}")
        op.execute("DROP FUNCTION kassa_journal_immutable()")
        return
    for table in TABLES:
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER {table}_no_{action}")
