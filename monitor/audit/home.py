"""Where a log's signing key and checkpoint journals live, whatever the working directory.

The **data directory** of a log is, in order of precedence:

1. ``$MONITOR_DATA_DIR`` (set by the shipped systemd unit and container image, which
   overrides the file like ``MONITOR_DB`` does);
2. ``[monitor] data_dir`` (relative to the configuration file's directory);
3. the directory of the SQLite database file;
4. the configuration file's directory (PostgreSQL, memory): set ``data_dir`` when that
   directory is read-only for the daemon;
5. ``$XDG_DATA_HOME/policy-monitor`` (``~/.local/share/policy-monitor``) when there is
   no configuration file either.

The key is ``[monitor] key_path`` (default ``monitor.key``) relative to the data
directory. One key may sign many logs: journals are kept per log, in
``<data dir>/journals/<log id>.jsonl``, where the **log id** is the hash of the log's
first event (it survives ``monitor migrate``, which copies events verbatim).
``journals/databases.json`` remembers which log each database held, so a log
rewritten from seq 1 (a new log id under the same database) is still reported.

Older versions kept the key and one shared ``monitor.checkpoints.jsonl`` relative to
the working directory. Such a key is adopted (copied, never moved) when the data
directory has none, and such a journal is split into per-log journals by the first
command that writes checkpoints (``checkpoint``, ``run``, ``export``, ``evidence``);
``verify`` reads it in place, keeping only its own log's lines.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from monitor.audit.checkpoint import (
    JournalEntry,
    SignedCheckpoint,
    Signer,
    append_journal,
    read_journal,
)
from monitor.audit.key_files import (
    journal_path,
    load_or_create_key,
    load_public_keys,
    public_key_path,
)
from monitor.config.settings import Settings
from monitor.errors import MonitorError, SigningKeyError
from monitor.store import describe_url, sqlite_path, url_scheme
from monitor.store.base import EventStore

log = logging.getLogger(__name__)

JOURNALS = "journals"
DATA_DIR_VARIABLE = "MONITOR_DATA_DIR"
BINDINGS = "databases.json"


def default_data_home(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_DATA_HOME") or str(Path("~/.local/share").expanduser())
    return Path(base) / "policy-monitor"


def resolve_data_dir(
    settings: Settings | None,
    database: str,
    *,
    config_path: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """The absolute data directory of the log at ``database`` (see the module docstring)."""
    env = os.environ if environ is None else environ
    if env.get(DATA_DIR_VARIABLE):
        return Path(env[DATA_DIR_VARIABLE]).expanduser().resolve()
    config_dir = _config_dir(settings, config_path)
    configured = settings.monitor.data_dir if settings is not None else None
    if configured:  # already relative to the config file's directory (monitor.config)
        return Path(configured).expanduser().resolve()
    try:
        scheme = url_scheme(database)
    except MonitorError:  # the store reports a bad URL itself, with a better message
        scheme = ""
    if scheme == "sqlite":
        return Path(sqlite_path(database)).expanduser().resolve().parent
    if config_dir is not None:
        return config_dir
    return default_data_home()


def _config_dir(settings: Settings | None, config_path: str | None) -> Path | None:
    name = settings.path if settings is not None else config_path
    if not name or not Path(name).is_file():
        return None
    return Path(name).expanduser().resolve().parent


@dataclass(frozen=True)
class AuditHome:
    """The key, public key and journals of one log, at absolute paths."""

    data_dir: Path
    key: Path
    database: str  # the database as described to users (no password): names its binding
    legacy_key: Path | None = None  # where older versions looked (the working directory)

    @property
    def public_key(self) -> Path:
        return public_key_path(self.key)

    @property
    def journals(self) -> Path:
        return self.data_dir / JOURNALS

    def journal(self, log_id: str) -> Path:
        return self.journals / f"{log_id}.jsonl"

    def legacy_journals(self) -> list[Path]:
        """Old shared journals (``monitor.checkpoints.jsonl``) still waiting to be split."""
        keys = [self.key] + ([self.legacy_key] if self.legacy_key is not None else [])
        found = [journal_path(key) for key in keys]
        return [path for path in dict.fromkeys(found) if path.is_file()]

    def signer(self) -> Signer:
        """The signing key, created here on first use, or adopted from the old location."""
        if not self.key.exists() and self.legacy_key is not None and self.legacy_key.is_file():
            self._adopt_legacy_key()
        if self.key.parent == self.data_dir and not self.data_dir.exists():
            try:  # a configured data_dir, or the per-user default, made on first use
                self.data_dir.mkdir(parents=True, mode=0o700)
            except OSError as exc:
                raise SigningKeyError(f"cannot create {self.data_dir}: {exc.strerror}") from exc
        if not self.key.parent.is_dir():
            raise SigningKeyError(
                f"cannot create the signing key {self.key}: no directory {self.key.parent} "
                "(create it, or set [monitor] data_dir)"
            )
        return load_or_create_key(self.key)

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Every public key this log's checkpoints may be signed with (never creates one)."""
        keys = load_public_keys(self.key)
        if self.legacy_key is not None and self.legacy_key != self.key:
            keys.update(load_public_keys(self.legacy_key))
        return keys

    def _adopt_legacy_key(self) -> None:
        assert self.legacy_key is not None
        try:
            self.key.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.key, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return
        except OSError as exc:
            raise SigningKeyError(f"cannot copy the signing key to {self.key}: {exc}") from exc
        with os.fdopen(fd, "wb") as out:
            out.write(self.legacy_key.read_bytes())
            out.flush()
            os.fsync(out.fileno())
        log.warning(
            "signing key: copied %s to %s, beside the database; later commands use it from "
            "any working directory (the old file can be deleted once you have a backup)",
            self.legacy_key,
            self.key,
        )

    # ------------------------------------------------------------------ journals

    def read(self, log_id: str | None) -> list[JournalEntry]:
        """This log's journal lines: its own journal plus its lines in old shared journals."""
        entries: list[JournalEntry] = []
        if log_id is not None:
            entries += read_journal(self.journal(log_id))
        for legacy in self.legacy_journals():
            for entry in read_journal(legacy):
                mine = isinstance(entry, tuple) or entry.log_id in (None, log_id)
                if mine and entry not in entries:
                    entries.append(entry)
        return entries

    def append(self, signed: SignedCheckpoint) -> None:
        """Journal a checkpoint in its log's journal (and remember the database's log)."""
        if signed.log_id is None:
            return
        self.journals.mkdir(parents=True, exist_ok=True)
        self.migrate_legacy(signed.log_id)
        self._bind(signed.log_id)
        append_journal(self.journal(signed.log_id), signed)

    def migrate_legacy(self, log_id: str) -> int:
        """Split old shared journals into per-log journals; returns the lines moved."""
        moved = 0
        for legacy in self.legacy_journals():
            per_log: dict[str, list[SignedCheckpoint]] = {}
            for entry in read_journal(legacy):
                if isinstance(entry, tuple):
                    continue  # an unreadable line stays in the .migrated copy for a human
                per_log.setdefault(entry.log_id or log_id, []).append(entry)
            self.journals.mkdir(parents=True, exist_ok=True)
            for owner, lines in per_log.items():
                target = self.journal(owner)
                present = read_journal(target)
                for signed in lines:
                    if signed not in present:
                        append_journal(target, _with_log_id(signed, owner))
                        moved += 1
            done = legacy.with_name(legacy.name + ".migrated")
            shutil.move(legacy, done)
            log.warning(
                "checkpoint journal %s split into per-log journals in %s (%d lines); "
                "the old file is kept as %s",
                legacy,
                self.journals,
                moved,
                done,
            )
        return moved

    # ------------------------------------------------------------------ bindings

    def bound_log(self) -> str | None:
        """The log id this database held when its checkpoints were last journaled."""
        entry = _read_bindings(self.journals / BINDINGS).get(self.database)
        return str(entry) if isinstance(entry, str) else None

    def _bind(self, log_id: str) -> None:
        path = self.journals / BINDINGS
        bindings = _read_bindings(path)
        previous = bindings.get(self.database)
        if previous == log_id:
            return
        if isinstance(previous, str):
            log.warning(
                "database %s held the log %s… and now holds %s…: if it was not started anew "
                "on purpose, its log was replaced (the old journal stays in %s)",
                self.database,
                previous[:16],
                log_id[:16],
                self.journals,
            )
        bindings[self.database] = log_id
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(bindings, sort_keys=True, indent=1) + "\n", encoding="utf-8")
        tmp.replace(path)


def _with_log_id(signed: SignedCheckpoint, log_id: str) -> SignedCheckpoint:
    return signed if signed.log_id == log_id else replace(signed, log_id=log_id)


def _read_bindings(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def database_identity(database: str, data_dir: Path) -> str:
    """How a database is named in ``databases.json``: a SQLite file by its name within
    the data directory (so the directory can be moved whole), else its absolute path or
    its URL without password."""
    try:
        if url_scheme(database) == "sqlite":
            path = Path(sqlite_path(database)).expanduser().resolve()
            return path.name if path.parent == data_dir else str(path)
    except MonitorError:
        pass
    return describe_url(database)


def audit_home(
    settings: Settings | None, database: str, *, config_path: str | None = None
) -> AuditHome:
    """The key and journals of the log at ``database``."""
    data_dir = resolve_data_dir(settings, database, config_path=config_path)
    configured = Path(settings.monitor.key_path if settings is not None else "monitor.key")
    configured = configured.expanduser()
    key = configured if configured.is_absolute() else data_dir / configured
    legacy = (Path.cwd() / configured).resolve() if not configured.is_absolute() else None
    return AuditHome(
        data_dir=data_dir,
        key=key,
        database=database_identity(database, data_dir),
        legacy_key=legacy if legacy is not None and legacy != key.resolve() else None,
    )


def carry_over(old: AuditHome, new: AuditHome, log_id: str) -> list[str]:
    """Copy a migrated log's journal (and the key, if ``new`` has none); what was done."""
    done: list[str] = []
    if old.data_dir == new.data_dir and old.key == new.key:
        return done
    lines = old.read(log_id)
    present = new.read(log_id)
    missing = [e for e in lines if isinstance(e, SignedCheckpoint) and e not in present]
    if missing:
        new.journals.mkdir(parents=True, exist_ok=True)
        for signed in missing:
            append_journal(new.journal(log_id), _with_log_id(signed, log_id))
        done.append(f"copied {len(missing)} journal lines to {new.journal(log_id)}")
    if old.key.is_file() and not new.key.exists() and new.key.parent.is_dir():
        try:
            fd = os.open(new.key, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except OSError as exc:
            done.append(f"could not copy the signing key to {new.key}: {exc.strerror}")
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(old.key.read_bytes())
            new.public_keys()  # validates it
            if old.public_key.is_file():
                shutil.copyfile(old.public_key, new.public_key)
            done.append(f"copied the signing key to {new.key}")
    if missing:
        new._bind(log_id)
    return done


async def log_id_of(store: EventStore) -> str | None:
    """The hash of the log's first event: the log's identity (None for an empty log)."""
    first = await store.get_event(1)
    return first.hash if first is not None else None
