"""The PostgreSQL backend (the ``postgres`` extra): one log per schema, shared by workers.

==================  ==========================================================
``store``           ``PostgresEventStore``: appends, reads, blobs, cursors,
                    pauses, wake-ups (LISTEN/NOTIFY)
``schema``          the tables, their migrations, opening a schema safely
``connect``         URLs, session settings, advisory-lock keys, driver errors
``coordination``    ``WorkSharing``: leases, advisory locks, leader seats
``raw``             ``RawRows``: rows as stored, for ``monitor migrate``
==================  ==========================================================
"""

from monitor.store.postgres.connect import advisory_key, parse_url, translate_error
from monitor.store.postgres.schema import SCHEMA_VERSION
from monitor.store.postgres.store import PostgresEventStore

__all__ = ["SCHEMA_VERSION", "PostgresEventStore", "advisory_key", "parse_url", "translate_error"]
