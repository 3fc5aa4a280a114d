"""Alembic environment: migrations run on the connection Kassa hands over."""

from alembic import context

from kassa.store.models import Base

connection = context.config.attributes["connection"]


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Procrastinate's tables belong to the job queue, which manages its own schema."""
    return not (type_ == "table" and name is not None and name.startswith("procrastinate"))


context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite", compare_type=True,
                  include_name=include_name)
with context.begin_transaction():
    context.run_migrations()
