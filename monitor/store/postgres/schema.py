"""The PostgreSQL schema of a log: its migrations, and opening a schema safely.

* **Append-only.** Triggers refuse UPDATE, DELETE and TRUNCATE on ``events`` and
  ``blobs``; only ``log_head``, ``cursors``, ``leases`` and ``host_pauses`` change in
  place.
* **Migrations.** ``MIGRATIONS[n]`` takes a schema from version n - 1 to n; they run at
  open inside one transaction holding an advisory lock, so workers starting together
  migrate once. A schema newer than this code, or one holding another application's
  ``events`` table, is refused untouched.
"""

from __future__ import annotations

import logging

import asyncpg

from monitor.errors import StoreUnavailableError
from monitor.events import GENESIS_HASH
from monitor.store.postgres.connect import PostgresTarget, advisory_key

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2

_REFUSE_CHANGE = """
CREATE FUNCTION monitor_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'P0001', HINT = 'the evidence log is never edited';
END
$$"""

# Appends the sealed rows only if the head is still where the writer read it: the head
# lock is then held for this one call and its commit, never across client round trips.
_APPEND_IF_HEAD = """
CREATE FUNCTION monitor_append(
    expected_seq bigint, expected_hash text,
    seqs bigint[], event_ids text[], streams text[], versions integer[], types text[],
    schemas integer[], recorded text[], datas bytea[], prev_hashes text[], hashes text[],
    channel text
) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    head_seq bigint;
    head_hash text;
    last integer := cardinality(seqs);
BEGIN
    -- Tables resolve through the caller's search_path: the store's schema.
    SELECT seq, hash INTO head_seq, head_hash FROM log_head FOR UPDATE;
    IF head_seq IS DISTINCT FROM expected_seq OR head_hash IS DISTINCT FROM expected_hash THEN
        RETURN false;
    END IF;
    INSERT INTO events (seq, event_id, stream, version, type, schema, recorded_at, data,
                        prev_hash, hash)
    SELECT * FROM unnest(seqs, event_ids, streams, versions, types, schemas, recorded, datas,
                         prev_hashes, hashes);
    UPDATE log_head SET seq = seqs[last], hash = hashes[last], recorded_at = recorded[last];
    -- Delivered by PostgreSQL only when (and if) the transaction commits.
    PERFORM pg_notify(channel, seqs[last]::text);
    RETURN true;
END
$$"""

# MIGRATIONS[n] takes a schema from version n - 1 to n; applied in order in one transaction.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE schema_migrations (
            version integer PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        )""",
        """CREATE TABLE events (
            seq bigint PRIMARY KEY CHECK (seq > 0),
            event_id text NOT NULL UNIQUE,
            stream text NOT NULL,
            version integer NOT NULL CHECK (version > 0),
            type text NOT NULL,
            schema integer NOT NULL,
            recorded_at text NOT NULL,
            data bytea NOT NULL,  -- the exact canonical JSON that was hashed
            prev_hash text NOT NULL,
            hash text NOT NULL,
            UNIQUE (stream, version)
        )""",
        "CREATE INDEX events_type_seq ON events (type, seq)",
        "CREATE INDEX events_stream_seq ON events (stream, seq)",
        # One row, locked by every append: the serialisation point of the whole log.
        """CREATE TABLE log_head (
            id boolean PRIMARY KEY DEFAULT true CHECK (id),
            seq bigint NOT NULL,
            hash text NOT NULL,
            recorded_at text
        )""",
        f"INSERT INTO log_head (id, seq, hash) VALUES (true, 0, '{GENESIS_HASH}')",
        """CREATE TABLE blobs (
            sha256 text PRIMARY KEY,
            size bigint NOT NULL,
            codec text NOT NULL,
            content bytea NOT NULL
        )""",
        "CREATE TABLE cursors (name text PRIMARY KEY, seq bigint NOT NULL CHECK (seq >= 0))",
        # Work sharing between `monitor run` workers (monitor.daemon.workers): one row per source.
        """CREATE TABLE leases (
            source_id text PRIMARY KEY,
            cadence text NOT NULL,
            due_at timestamptz NOT NULL,
            owner text,
            lease_until timestamptz,
            last_started timestamptz
        )""",
        "CREATE INDEX leases_due ON leases (due_at)",
        _REFUSE_CHANGE,
        _APPEND_IF_HEAD,
        *(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION monitor_refuse_change()"
            for table in ("events", "blobs")
        ),
        *(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION monitor_refuse_change()"
            for table in ("events", "blobs")
        ),
    ),
    # Retry-After pauses (monitor.store.pauses), shared by every worker.
    2: (
        """CREATE TABLE host_pauses (
            host text PRIMARY KEY,
            until timestamptz NOT NULL,
            reason text NOT NULL,
            recorded_at timestamptz NOT NULL
        )""",
    ),
}


async def prepare(conn: asyncpg.Connection, target: PostgresTarget, create: bool) -> str:
    """Create the schema if asked, check the tables are ours, and migrate; returns the schema."""
    lock_schema = target.schema or "public"
    async with conn.transaction():
        # Held to commit: workers starting together create and migrate exactly once.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", advisory_key(lock_schema, "migrate"))
        if target.schema is not None:
            exists = await conn.fetchval(
                "SELECT 1 FROM pg_namespace WHERE nspname = $1", target.schema
            )
            if not exists:
                if not create:
                    raise StoreUnavailableError(
                        f"{target.label}: schema {target.schema!r} does not exist; "
                        "run `monitor check` first"
                    )
                await conn.execute(f'CREATE SCHEMA "{target.schema}"')
        schema = await conn.fetchval("SELECT current_schema()")
        if schema is None:
            raise StoreUnavailableError(
                f"{target.label}: no schema on the search_path exists; create one or add "
                "?schema=NAME to the URL"
            )
        tables = {
            row["table_name"]
            for row in await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
                schema,
            )
        }
        current = 0
        if "schema_migrations" in tables:
            current = int(
                await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            )
        elif "events" in tables:
            raise StoreUnavailableError(
                f"{target.label}: schema {schema!r} has an events table that is not a monitor "
                "log; refusing to touch it — use another database or ?schema=NAME"
            )
        if current > SCHEMA_VERSION:
            raise StoreUnavailableError(
                f"{target.label} uses schema {current}, newer than this policy-monitor knows "
                f"({SCHEMA_VERSION}); upgrade policy-monitor to open it"
            )
        if current == 0 and not create:
            raise StoreUnavailableError(
                f"no monitor log in {target.label} (schema {schema!r}); run `monitor check` first"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            logger.info("migrating %s (schema %s) to version %d", target.label, schema, version)
            for statement in MIGRATIONS[version]:
                await conn.execute(statement)
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
    return str(schema)
