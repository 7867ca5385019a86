"""Signed checkpoints: the key on disk, what is signed, and where checkpoints are kept."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.audit.checkpoint import (
    CHECKPOINT_STREAM,
    Checkpointer,
    SignedCheckpoint,
    read_journal,
    signature_problem,
)
from monitor.audit.key_files import (
    journal_path,
    load_or_create_key,
    load_public_keys,
    public_key_path,
)
from monitor.audit.merkle import MerkleTree, event_leaf
from monitor.audit.verify import verify_store
from monitor.cli import main
from monitor.errors import SigningKeyError, StoreError
from monitor.events import NewEvent
from monitor.store import MemoryEventStore, SqliteEventStore
from tests.audit.history import History

NOW = datetime(2026, 3, 12, 8, 0, tzinfo=UTC)
LATER = datetime(2026, 3, 13, 8, 0, tzinfo=UTC)


async def some_events(store: MemoryEventStore | SqliteEventStore, count: int) -> None:
    await store.append(
        [
            NewEvent(event_id=f"e{i}", stream=f"s{i % 3}", type="Note", schema=1, data={"i": i})
            for i in range(count)
        ]
    )


def test_the_key_is_created_once_owner_only_with_its_public_half(tmp_path: Path) -> None:
    key = tmp_path / "monitor.key"
    signer = load_or_create_key(key)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    pub = public_key_path(key)
    assert pub == tmp_path / "monitor.pub.pem"
    assert pub.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    again = load_or_create_key(key)
    assert again.key_id == signer.key_id  # reused, not regenerated
    assert load_public_keys(key) == {signer.key_id: signer.public_key}
    key.unlink()
    assert list(load_public_keys(key)) == [signer.key_id]  # the .pub.pem alone still works


def test_an_unreadable_key_is_refused_not_replaced(tmp_path: Path) -> None:
    key = tmp_path / "monitor.key"
    key.write_text("not a key")
    with pytest.raises(SigningKeyError, match="not an unencrypted PEM private key"):
        load_or_create_key(key)
    assert key.read_text() == "not a key"
    with pytest.raises(SigningKeyError, match="no directory"):
        load_or_create_key(tmp_path / "missing" / "monitor.key")


async def test_a_checkpoint_signs_the_merkle_root_of_everything_before_it(tmp_path: Path) -> None:
    signer = load_or_create_key(tmp_path / "monitor.key")
    store = MemoryEventStore(clock=lambda: NOW)
    await some_events(store, 9)
    journal = journal_path(tmp_path / "monitor.key")
    signed = await Checkpointer(store, signer, journal=journal).checkpoint(NOW)

    events = await store.read()
    assert signed.seq == 10 == events[-1].seq
    assert events[-1].stream == CHECKPOINT_STREAM and events[-1].type == "CheckpointSigned"
    cp = signed.checkpoint
    assert (cp.tree_size, cp.head_seq, cp.head_hash) == (9, 9, events[8].hash)
    assert cp.root_hash == MerkleTree(event_leaf(e.hash) for e in events[:9]).root().hex()
    assert cp.timestamp == "2026-03-12T08:00:00.000000Z"
    assert SignedCheckpoint.from_event(events[-1]) == signed
    assert signature_problem(signed, signer.public_keys()) is None
    # The signature covers exactly the canonical JSON of the six fields.
    assert json.loads(cp.signed_bytes()) == {
        "tree_size": 9,
        "root_hash": cp.root_hash,
        "head_seq": 9,
        "head_hash": cp.head_hash,
        "timestamp": cp.timestamp,
        "key_id": signer.key_id,
    }
    assert read_journal(journal) == [signed]


async def test_altering_any_signed_field_breaks_the_signature(tmp_path: Path) -> None:
    signer = load_or_create_key(tmp_path / "monitor.key")
    other = load_or_create_key(tmp_path / "other.key")
    store = MemoryEventStore(clock=lambda: NOW)
    await some_events(store, 4)
    signed = await Checkpointer(store, signer, journal=None).checkpoint(NOW)
    data = signed.event().to_data()
    for name, value in [("tree_size", 3), ("root_hash", "0" * 64), ("timestamp", "x")]:
        forged = SignedCheckpoint.from_data({**data, name: value})
        assert signature_problem(forged, signer.public_keys()) == (
            "signature does not verify (forged or altered checkpoint)"
        )
    assert "unknown key" in str(signature_problem(signed, other.public_keys()))


async def test_signing_again_without_new_events_reuses_the_checkpoint(tmp_path: Path) -> None:
    signer = load_or_create_key(tmp_path / "monitor.key")
    store = MemoryEventStore(clock=lambda: NOW)
    await some_events(store, 3)
    checkpointer = Checkpointer(store, signer, journal=None)
    first = await checkpointer.checkpoint(NOW)
    assert await checkpointer.checkpoint(NOW) == first
    forced = await checkpointer.checkpoint(NOW, force=True)
    assert (forced.seq, forced.tree_size) == (5, 4)  # covers the first checkpoint too
    await some_events(store, 2)  # e0 and e1 again: idempotent, nothing new
    await store.append([NewEvent(event_id="late", stream="s9", type="Note", schema=1, data={})])
    later = await checkpointer.checkpoint(NOW)
    assert (later.seq, later.tree_size) == (7, 6)


async def test_a_broken_chain_is_never_signed(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    store = await SqliteEventStore.open(path)
    await some_events(store, 5)
    await store.close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DROP TRIGGER events_no_update")
    db.execute("""UPDATE events SET data = '{"i":99}' WHERE seq = 3""")
    db.close()
    store = await SqliteEventStore.open(path)
    try:
        signer = load_or_create_key(tmp_path / "monitor.key")
        with pytest.raises(StoreError, match="chain is broken at seq 3"):
            await Checkpointer(store, signer, journal=None).checkpoint(NOW)
        assert (await store.head())[0] == 5
    finally:
        await store.close()


def test_monitor_checkpoint_signs_and_openssl_verifies_it(
    logdir: Path, history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    (journal_file,) = (logdir / "journals").glob("*.jsonl")  # one log, one journal
    journal_before = journal_file.read_text().splitlines()
    assert main(["checkpoint"]) == 0  # the history ends with a checkpoint: reused
    assert main(["checkpoint", "--force", "--json", "--consistency-from", "100"]) == 0
    out = capsys.readouterr().out.splitlines()
    result = json.loads(out[-1])
    signed = SignedCheckpoint.from_data(result["checkpoint"])
    journal = journal_file.read_text().splitlines()
    assert len(journal) == len(journal_before) + 1
    assert SignedCheckpoint.from_data(json.loads(journal[-1])) == signed

    proof = result["consistency"]
    assert (proof["old_size"], proof["new_size"]) == (100, signed.tree_size)
    from monitor.audit.merkle import verify_consistency

    assert verify_consistency(
        100,
        signed.tree_size,
        bytes.fromhex(proof["old_root"]),
        signed.root,
        [bytes.fromhex(h) for h in proof["proof"]],
    )

    # Independently of this package: OpenSSL checks the signature over the exact bytes.
    (logdir / "cp.json").write_bytes(signed.checkpoint.signed_bytes())
    (logdir / "cp.sig").write_bytes(base64.b64decode(result["checkpoint"]["signature"]))
    command = [
        "openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "monitor.pub.pem",
        "-rawin", "-in", "cp.json", "-sigfile", "cp.sig",
    ]  # fmt: skip
    ok = subprocess.run(command, cwd=logdir, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (logdir / "cp.json").write_bytes(signed.checkpoint.signed_bytes().replace(b'"tree', b'"Tree'))
    bad = subprocess.run(command, cwd=logdir, capture_output=True, text=True)
    assert bad.returncode != 0


def test_monitor_checkpoint_refuses_a_consistency_size_beyond_the_tree(
    logdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["checkpoint", "--consistency-from", "100000"]) == 2
    assert "--consistency-from must be between 1" in capsys.readouterr().err
    assert os.path.exists(logdir / "monitor.db")


class FrozenClock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


async def test_a_journal_shared_by_two_databases_is_reported_as_such(tmp_path: Path) -> None:
    key = tmp_path / "monitor.key"
    signer = load_or_create_key(key)
    journal = journal_path(key)
    for name, moment in (("a.db", NOW), ("b.db", LATER)):
        store = await SqliteEventStore.open(tmp_path / name, clock=FrozenClock(moment))
        try:
            await some_events(store, 4)
            signed = await Checkpointer(store, signer, journal=journal).checkpoint(moment)
            first = await store.get_event(1)
            assert first is not None and signed.log_id == first.hash
        finally:
            await store.close()
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert lines[0]["log_id"] != lines[1]["log_id"]

    store = await SqliteEventStore.open(tmp_path / "a.db", create=False)
    try:
        report = await verify_store(
            store, public_keys=signer.public_keys(), journal=read_journal(journal)
        )
    finally:
        await store.close()
    assert [f.kind for f in report.findings] == ["checkpoint_journal"]
    assert "another database sharing the key" in report.findings[0].message
    assert report.checkpoints == 1  # its own checkpoint, checked and intact
