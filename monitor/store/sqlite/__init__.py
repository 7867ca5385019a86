"""The SQLite backend (the default): one log per file.

==========  ==============================================================
``store``   ``SqliteEventStore``: appends, reads, blobs, cursors, pauses
``files``   the file: schema, migrations, opening it safely, errors
``scan``    ``FastScan``: the whole log in one thread (replay)
``raw``     ``RawRows``: rows as stored, for ``monitor migrate``
==========  ==============================================================
"""

from monitor.store.sqlite.files import APPLICATION_ID, SCHEMA_VERSION, translate_error
from monitor.store.sqlite.store import SqliteEventStore

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "SqliteEventStore", "translate_error"]
