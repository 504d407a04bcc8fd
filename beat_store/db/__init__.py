"""Vendor-specific SQL, one module per concern, with each database's variant side by side.

Everything else in beat_store talks to the database through the ORM or through these functions, so supporting
another database means adding its variant here (and its tests), not searching the code for SQL.

- :mod:`beat_store.db.locking`: taking rows that no other beat holds (``SKIP LOCKED`` where it exists).
- :mod:`beat_store.db.bulk`: inserting and updating thousands of rows a second, the herd's hot path.
- :mod:`beat_store.db.connections`: dropping a connection that broke.
- :mod:`beat_store.db.edits`: schedules edited without ``save()`` (a trigger per vendor, migration 0007).
- :mod:`beat_store.db.partial_indexes`: what stands in for partial indexes on MySQL and MariaDB.
- :mod:`beat_store.db.support`: which databases and versions beat_store supports.
"""
