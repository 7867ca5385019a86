"""``monitor export``: a bundle an auditor checks offline, with standard tools or ours."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from monitor.audit.export import bundle_files
from monitor.cli import main
from monitor.events import format_time
from tests.audit.history import History

WARCIO = str(Path(sys.executable).with_name("warcio"))


def export(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    capsys.readouterr()
    assert main(["export", *args]) == 0
    return capsys.readouterr().out.splitlines()


def verify_export(capsys: pytest.CaptureFixture[str], directory: Path) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = main(["verify", "--export", str(directory)])
    return code, capsys.readouterr().out.splitlines()


def events_of(bundle: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (bundle / "events.jsonl").read_text().splitlines()]


@pytest.fixture
def full(logdir: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    export(capsys, "full")
    return logdir / "full"


@pytest.fixture
def single(logdir: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    export(capsys, "single", "--source", "src-3")
    return logdir / "single"


def test_a_full_export_holds_the_whole_log_and_verifies(
    full: Path, history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    events = events_of(full)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert len(events) >= 330 and events[-1]["type"] == "CheckpointSigned"
    manifest = json.loads((full / "manifest.json").read_text())
    assert manifest["kind"] == "full" and manifest["events"] == len(events)
    assert set(manifest["files"]) == set(bundle_files(full))
    checkpoints = sorted(p.name for p in (full / "checkpoints").iterdir())
    cp_seqs = [e["seq"] for e in events if e["type"] == "CheckpointSigned"]
    assert checkpoints == sorted(f"{s}.{x}" for s in cp_seqs for x in ("json", "sig"))
    for name in (full / "blobs").iterdir():
        assert hashlib.sha256(name.read_bytes()).hexdigest() == name.name
    code, out = verify_export(capsys, full)
    assert code == 0, out
    assert out == [
        f"ok: bundle {full}: {len(events)} events, {len(list((full / 'blobs').iterdir()))} "
        "blobs; manifest, events, proofs and checkpoint signatures intact; head "
        f"{events[-1]['hash']}"
    ]


def test_warcio_accepts_the_warc_and_it_holds_every_capture(full: Path) -> None:
    warc = full / "captures.warc.gz"
    check = subprocess.run([WARCIO, "check", "-v", str(warc)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "digest pass" in check.stdout and "failed" not in check.stdout
    index = subprocess.run(
        [WARCIO, "index", "-f", "warc-type,warc-target-uri,warc-date", str(warc)],
        capture_output=True,
        text=True,
    )
    assert index.returncode == 0, index.stderr
    types = [json.loads(line)["warc-type"] for line in index.stdout.splitlines()]
    captures = [
        e
        for e in events_of(full)
        if e["type"] in ("BaselineCaptured", "ChangeDetected", "ContentSuspect")
    ]
    assert types[0] == "warcinfo"
    assert types.count("response") + types.count("revisit") == len(captures)
    assert types.count("metadata") == len(captures)
    assert types.count("revisit") >= 4  # the A→B→A flicker serves identical bodies again

    records: dict[str, Any] = {}
    with warc.open("rb") as stream:
        for record, capture_event in zip(
            (r for r in ArchiveIterator(stream) if r.rec_type in ("response", "revisit")),
            captures,
            strict=True,
        ):
            capture = capture_event["data"]["capture"]
            headers = record.rec_headers
            assert headers.get_header("WARC-Target-URI") == capture["final_url"]
            assert headers.get_header("WARC-Date") == capture["fetched_at"]
            assert headers.get_header("WARC-Payload-Digest") == f"sha256:{capture['raw_sha256']}"
            assert record.http_headers.get_statuscode() == str(capture["status"])
            assert (
                record.http_headers.get_header("content-type")
                == (capture["headers"]["content-type"])
            )
            if record.rec_type == "response":
                body = record.content_stream().read()
                assert body == (full / "blobs" / capture["raw_sha256"]).read_bytes()
                records[headers.get_header("WARC-Record-ID")] = capture["raw_sha256"]
            else:
                assert headers.get_header("WARC-Profile").endswith(
                    "/revisit/identical-payload-digest"
                )
                assert records[headers.get_header("WARC-Refers-To")] == capture["raw_sha256"]
    metadata = gzip.decompress(warc.read_bytes()).decode()
    for event in captures:
        assert f"event-seq: {event['seq']}\r\nevent-hash: {event['hash']}" in metadata
    assert "redirect: 302 " in metadata


def test_the_bundle_verifies_with_standard_tools_alone(full: Path, single: Path) -> None:
    for bundle in (full, single):
        guide = (bundle / "VERIFY.md").read_text()
        program = re.search(r"```python\n(.*?)```", guide, re.S)
        assert program is not None
        # -I -S: no site-packages, so nothing of this project or its dependencies.
        run = subprocess.run(
            [sys.executable, "-I", "-S", "-c", program.group(1)],
            cwd=bundle,
            capture_output=True,
            text=True,
        )
        assert (run.returncode, run.stdout) == (0, "ok\n"), run.stderr
        for command in (
            "openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin -in manifest.json "
            "-sigfile manifest.sig",
            'python3 -c \'import json; [print(h + "  " + f) for f, h in '
            'json.load(open("manifest.json"))["files"].items()]\' | sha256sum -c --quiet -',
            "openssl pkey -pubin -in public_key.pem -outform DER | tail -c 32 | sha256sum",
        ):
            done = subprocess.run(command, shell=True, cwd=bundle, capture_output=True, text=True)
            assert done.returncode == 0, (command, done.stdout, done.stderr)
        key_id = json.loads((bundle / "manifest.json").read_text())["key_id"]
        assert key_id in guide and key_id in done.stdout


def flip_one_byte(path: Path) -> bytes:
    original = path.read_bytes()
    middle = len(original) // 2
    path.write_bytes(original[:middle] + bytes([original[middle] ^ 0x01]) + original[middle + 1 :])
    return original


def test_changing_one_byte_of_any_file_fails_verification(
    single: Path, full: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signed = ["manifest.json", "manifest.sig"]
    targets = [(single, name) for name in [*bundle_files(single), *signed]]
    names = bundle_files(full)
    targets += [(full, n) for n in names if not n.startswith("blobs/")]
    targets += [(full, n) for n in [*signed, *[n for n in names if n.startswith("blobs/")][:3]]]
    for bundle, name in targets:
        original = flip_one_byte(bundle / name)
        code, out = verify_export(capsys, bundle)
        (bundle / name).write_bytes(original)
        assert code == 1, f"changing one byte of {name} went unnoticed"
        assert any(name in line for line in out), (name, out)
    for bundle in (single, full):
        assert verify_export(capsys, bundle)[0] == 0


def test_added_or_removed_files_fail_verification(
    single: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (single / "notes.txt").write_text("added later")
    code, out = verify_export(capsys, single)
    assert code == 1
    assert out == ["FAILED file: notes.txt: not listed in manifest.json (added after export)"]
    (single / "notes.txt").unlink()
    proofs = (single / "proofs.jsonl").read_bytes()
    (single / "proofs.jsonl").unlink()
    code, out = verify_export(capsys, single)
    assert code == 1 and "FAILED file: proofs.jsonl: listed in manifest.json but missing" in out
    (single / "proofs.jsonl").write_bytes(proofs)


def test_a_single_source_export_reveals_nothing_about_the_others(
    single: Path, logdir: Path, history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = verify_export(capsys, single)
    assert code == 0, out
    export(capsys, "everything")
    everything = events_of(logdir / "everything")
    mine = events_of(single)
    assert mine == [e for e in everything if e["stream"] == "src-3" and e["seq"] <= mine[-1]["seq"]]
    proofs = [json.loads(x) for x in (single / "proofs.jsonl").read_text().splitlines()]
    assert [p["seq"] for p in proofs] == [e["seq"] for e in mine]

    contents = b""
    for name in [*bundle_files(single), "manifest.json"]:
        data = (single / name).read_bytes()
        contents += gzip.decompress(data) if name.endswith(".gz") else data
    assert history.settings is not None
    # Hashes that must be there: each event's prev_hash (its own hash commits to it) and
    # the signed checkpoint's head_hash. A hash says nothing about the content behind it.
    checkpoint = json.loads(next((single / "checkpoints").glob("*.json")).read_text())
    allowed = {e["prev_hash"] for e in mine} | {checkpoint["head_hash"]}
    for event in everything:
        if event["stream"] == "src-3":
            continue
        assert event["event_id"].encode() not in contents
        if event["hash"] not in allowed:
            assert event["hash"].encode() not in contents
        for value in re.findall(r'"[a-z_]*sha256": "([0-9a-f]{64})"', json.dumps(event)):
            if value not in {b.name for b in (single / "blobs").iterdir()}:
                assert value.encode() not in contents
    for source in history.settings.sources:
        if source.id != "src-3":
            assert source.id.encode() not in contents
            assert source.url.encode() not in contents


def test_an_export_since_a_time_proves_each_event(
    logdir: Path, history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    since = format_time(history.round_times[25])
    export(capsys, "recent", "--since", since)
    events = events_of(logdir / "recent")
    assert events and all(e["recorded_at"] >= since for e in events)
    assert events[0]["recorded_at"] == since
    assert {e["stream"] for e in events} >= {"src-0", "src-7", "$checkpoints"}
    manifest = json.loads((logdir / "recent" / "manifest.json").read_text())
    assert (manifest["kind"], manifest["since"]) == ("partial", since)
    assert verify_export(capsys, logdir / "recent")[0] == 0


def test_export_refuses_a_directory_with_files_in_it(
    logdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (logdir / "taken").mkdir()
    (logdir / "taken" / "x").write_text("x")
    assert main(["export", "taken"]) == 2
    assert "not an empty directory" in capsys.readouterr().err
    assert main(["export", "out", "--source", "nope"]) == 2
    assert "no source 'nope'" in capsys.readouterr().err
