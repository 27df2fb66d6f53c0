"""Alembic migrations of the registry schema (run by ``provenance db upgrade`` and on first use)."""
