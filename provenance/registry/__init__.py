"""The evidence registry: manifests, datasets, lineage and audit runs in a tamper-evident store.

Only the store modules touch the database (and import sqlmodel): ``tables``, ``db``, ``store``
(with ``store_reader``, ``log_writer`` and ``snapshot_loader``), ``integrity`` (with
``integrity_rows`` and ``integrity_derived``), ``evidence`` and the Alembic ``migrations``.
``ingest`` and ``queries`` work through :class:`provenance.registry.store.Registry`; ``logtree``,
``model``, ``manifests``, ``prov``, ``summary`` and the bundle modules are plain functions over
data: ``bundle`` writes evidence bundles, and ``bundle_verify`` (with ``bundle_files`` and
``bundle_contents``) verifies them with no registry at all. See ``docs/registry.md``.
"""
