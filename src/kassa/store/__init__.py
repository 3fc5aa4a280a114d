"""SQLAlchemy tables and mappings, the unit of work and Alembic migrations."""
