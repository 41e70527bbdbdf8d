"""Adapters: catalog (SQLAlchemy + Alembic), key files, audit log storage. No policy here."""
