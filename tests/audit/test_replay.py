"""Replay rebuilds every source's state from the log alone, equal to the live state."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.audit.replay import replay_log, replay_store
from monitor.cli import main
from monitor.core.projections import SourceState, apply, fold, state_digest
from monitor.events import NewEvent, StoredEvent
from monitor.store import MemoryEventStore, SqliteEventStore
from tests.audit.history import History


async def test_replay_equals_the_live_checkrunner_state_after_hundreds_of_events(
    history: History, tmp_path: Path
) -> None:
    db = history.copy_to(tmp_path)
    store = await SqliteEventStore.open(db, create=False)
    try:
        states, digest = await replay_store(store)
        head, _ = await store.head()
    finally:
        await store.close()
    assert head >= 300
    assert digest == history.live_digest
    assert states == history.live_states
    kinds = {s.status for s in states.values()}
    assert kinds == {"ok"}
    assert sum(s.changes for s in states.values()) >= 40
    assert states["src-0"].failures == 2 and states["src-1"].suspects == 1


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["replay", "--json", *args]) == 0
    return dict(json.loads(capsys.readouterr().out))


def test_monitor_replay_prints_every_state_and_the_live_digest(
    logdir: Path, history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    before = hashlib.sha256((logdir / "monitor.db").read_bytes()).hexdigest()
    assert main(["replay"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["SOURCE", "STATUS", "VERSION"]
    for source_id in history.source_ids:
        assert any(line.startswith(source_id + " ") for line in lines)
    assert lines[-1] == f"digest {history.live_digest}"

    data = run_json(capsys)
    assert data["digest"] == history.live_digest
    assert sorted(data["sources"]) == history.source_ids
    src0 = data["sources"]["src-0"]
    live0 = history.live_states["src-0"]
    assert (src0["version"], src0["changes"], src0["failures"]) == (
        live0.version,
        live0.changes,
        live0.failures,
    )
    assert src0["known_texts"] == sorted(live0.known_texts)
    # Replay reads only: the database file is byte for byte what it was.
    assert hashlib.sha256((logdir / "monitor.db").read_bytes()).hexdigest() == before


async def read_all(db: Path) -> list[StoredEvent]:
    store = await SqliteEventStore.open(db, create=False)
    try:
        return await store.read()
    finally:
        await store.close()


def test_replay_until_a_seq_or_a_time_is_the_fold_of_that_prefix(
    logdir: Path, history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    events = asyncio.run(read_all(logdir / "monitor.db"))

    def expected(prefix: list[StoredEvent]) -> str:
        streams = sorted({e.stream for e in prefix if not e.stream.startswith("$")})
        return state_digest({s: fold(s, [e for e in prefix if e.stream == s]) for s in streams})

    by_seq = run_json(capsys, "--seq", "150")
    assert (by_seq["events"], by_seq["last_seq"]) == (150, 150)
    assert by_seq["digest"] == expected(events[:150])

    middle = history.round_times[17]
    by_time = run_json(capsys, "--until", middle.isoformat())
    prefix = [e for e in events if e.recorded_at <= by_time["last_recorded_at"]]
    assert by_time["events"] == len(prefix) and prefix[-1].recorded_at.startswith("2026-03-02T10")
    assert by_time["digest"] == expected(prefix)
    assert by_time["digest"] not in (by_seq["digest"], history.live_digest)

    early = run_json(capsys, "--until", "2020-01-01")
    assert (early["events"], early["sources"]) == (0, {})
    assert early["digest"] == state_digest({})


def test_replay_refuses_both_limits_and_a_missing_database(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["replay", "--seq", "3", "--until", "2026-01-01"])
    assert exit_info.value.code == 2
    assert main(["replay"]) == 2
    assert "no database" in capsys.readouterr().err
    assert not (workdir / "monitor.db").exists()


# ---------------------------------------------------------------- property

SHAS = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(6)]
STREAMS = ["alpha", "beta", "gamma", "$checkpoints"]
TIMES = st.integers(0, 59).map(lambda m: f"2026-03-01T10:{m:02d}:00.000000Z")


def capture(text: int, raw: int, when: str) -> dict[str, Any]:
    return {
        "text_sha256": SHAS[text],
        "raw_sha256": SHAS[raw],
        "fetched_at": when,
        "headers": {"etag": f'"{raw}"'},
        "extractor": "extract-1",
        "extraction_key": "k",
        "text_chars": 100 * text,
    }


@st.composite
def plausible_event(draw: st.DrawFn) -> NewEvent:
    stream = draw(st.sampled_from(STREAMS))
    when = draw(TIMES)
    text, raw = draw(st.integers(0, 5)), draw(st.integers(0, 5))
    kind = draw(
        st.sampled_from(
            [
                "SourceRegistered",
                "SourceUpdated",
                "SourceRemoved",
                "BaselineCaptured",
                "ChangeDetected",
                "ContentConfirmed",
                "ContentSuspect",
                "FetchFailed",
                "SourceRecovered",
                "NotificationSent",
            ]
        )
    )
    data: dict[str, Any]
    if kind in ("SourceRegistered", "SourceUpdated"):
        data = {"settings": {"url": f"https://example.org/{text}"}, "changed": ["url"]}
    elif kind == "SourceRemoved":
        data = {"reason": "removed from configuration"}
    elif kind == "BaselineCaptured":
        data = {"capture": capture(text, raw, when)}
    elif kind == "ChangeDetected":
        data = {
            "capture": capture(text, raw, when),
            "previous": SHAS[0],
            "previous_seen_until": when,
            "diff": {},
            "classification": "substantive",
        }
    elif kind == "ContentConfirmed":
        data = {"text_sha256": SHAS[text], "fetched_at": when, "checks_since_last_event": 2}
    elif kind == "ContentSuspect":
        data = {"capture": capture(text, raw, when), "reason": "empty"}
    elif kind == "FetchFailed":
        data = {"url": "u", "error": "timeout", "message": "m", "fetched_at": when}
    elif kind == "SourceRecovered":
        data = {"failures": 1, "failing_since": when}
    else:
        data = {"for_seq": 1, "channel": "team"}
    event_id = draw(st.uuids()).hex
    return NewEvent(event_id=event_id, stream=stream, type=kind, schema=1, data=data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(plausible_event(), min_size=1, max_size=4), max_size=25),
    st.data(),
)
async def test_replay_equals_incremental_application(
    batches: list[list[NewEvent]], data: st.DataObject
) -> None:
    """Folding the whole log at once equals applying each appended batch as it lands."""
    store = MemoryEventStore()
    live: dict[str, SourceState] = {}
    digests = [state_digest({})]  # digest after each seq
    for batch in batches:
        for stored in await store.append(batch):
            if stored.stream.startswith("$"):
                digests.append(digests[-1])
                continue
            live[stored.stream] = apply(
                live.get(stored.stream) or SourceState(source_id=stored.stream), stored
            )
            digests.append(state_digest(live))
    states, digest = await replay_store(store)
    assert states == live
    assert digest == state_digest(live) == digests[-1]
    cut = data.draw(st.integers(0, len(digests) - 1))
    _, partial = await replay_store(store, until_seq=cut)
    assert partial == digests[cut]
    result = await replay_log(store, batch=3)  # paging does not change the fold
    assert result.digest == digest and result.events == len(digests) - 1


async def test_replay_of_nothing_is_the_empty_state() -> None:
    store = MemoryEventStore()
    for kwargs in ({}, {"until_seq": 0}, {"until_time": datetime(2026, 1, 1, tzinfo=UTC)}):
        result = await replay_log(store, **kwargs)
        assert (result.states, result.events, result.last_seq) == ({}, 0, 0)
        assert result.digest == state_digest({})
    await store.append(
        [NewEvent(event_id="a", stream="s", type="SourceRemoved", schema=1, data={})]
    )
    assert (await replay_log(store, until_seq=0)).events == 0
    assert (await replay_log(store, until_time=datetime(2000, 1, 1, tzinfo=UTC))).events == 0
    assert (await replay_log(store)).states["s"].removed


class _AnyStore:
    """Hides the SQLite class, so ``replay_log`` takes its generic, page-by-page path."""

    def __init__(self, inner: SqliteEventStore) -> None:
        self.read = inner.read


async def test_the_sqlite_fast_replay_equals_the_generic_one_for_every_prefix(
    history: History, tmp_path: Path
) -> None:
    db = history.copy_to(tmp_path)
    store = await SqliteEventStore.open(db, create=False)
    try:
        events = await store.read()
        middle = events[len(events) // 2]
        cuts: list[dict[str, Any]] = [
            {},
            {"until_seq": middle.seq},
            {"until_seq": 1},
            {"until_time": datetime.fromisoformat(middle.recorded_at.replace("Z", "+00:00"))},
            {"until_time": datetime(2000, 1, 1, tzinfo=UTC)},
        ]
        for cut in cuts:
            fast = await replay_log(store, **cut)
            generic = await replay_log(_AnyStore(store), **cut)  # type: ignore[arg-type]
            assert fast == generic, cut
        assert (await replay_log(store)).digest == history.live_digest
    finally:
        await store.close()
