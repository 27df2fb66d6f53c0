"""The evidence registry: manifests, datasets, lineage and audit runs in a tamper-evident store.

Only the store modules touch the database (and import sqlmodel): ``tables``, ``db``, ``store``,
``integrity``, ``evidence`` and the Alembic ``migrations``. ``ingest`` and ``queries`` work through
:class:`provenance.registry.store.Registry`; ``logtree``, ``model``, ``manifests``, ``prov``,
``summary`` and ``bundle`` are plain functions over data (``bundle`` verifies evidence bundles with
no registry at all). See ``docs/registry.md``.
"""
