"""WACZ packages from `export --wacz` and `evidence`: valid for webrecorder's validator,
signed with the log's key, and every tampered member caught by `verify --wacz`."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from monitor.cli import main
from tests.audit.history import History
from tests.audit.test_tamper import seqs_of


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out.splitlines(), out.err


def wacz_validate(path: Path) -> subprocess.CompletedProcess[str]:
    """webrecorder's py-wacz validator, a tool nobody here wrote."""
    return subprocess.run(
        [sys.executable, "-m", "wacz", "validate", "-f", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def rewrite(path: Path, changes: dict[str, bytes]) -> None:
    """Replace members of the ZIP at ``path``, keeping the others as they were."""
    with zipfile.ZipFile(path) as old:
        members = {info.filename: old.read(info.filename) for info in old.infolist()}
    members.update(changes)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as new:
        for name, content in members.items():
            new.writestr(name, content)


@pytest.fixture
def wacz(logdir: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    code, out, err = cli(capsys, "export", "--wacz", "captures.wacz")
    assert code == 0, [*out, err]
    assert out[0].startswith("wrote the WACZ captures.wacz: ")
    return logdir / "captures.wacz"


def test_the_export_is_a_valid_wacz_with_requests_responses_and_pages(
    wacz: Path, logdir: Path, history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    checked = wacz_validate(wacz)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Validation succeeded" in checked.stdout
    with zipfile.ZipFile(wacz) as archive:
        assert all(i.compress_type == zipfile.ZIP_STORED for i in archive.infolist())
        package = json.loads(archive.read("datapackage.json"))
        pages = archive.read("pages/pages.jsonl").decode().splitlines()
        index = archive.read("indexes/index.cdx").decode().splitlines()
        warc = archive.read("archive/data.warc.gz")
    assert package["wacz_version"] == "1.1.1"
    assert {r["path"] for r in package["resources"]} == {
        "archive/data.warc.gz",
        "indexes/index.cdx",
        "pages/pages.jsonl",
    }
    captures = sum(
        len(seqs_of(logdir / "monitor.db", kind))
        for kind in ("BaselineCaptured", "ChangeDetected", "ContentSuspect")
    )
    assert json.loads(pages[0])["format"] == "json-pages-1.0"
    assert len(pages) == 1 + captures
    kinds: dict[str, int] = {}
    for record in ArchiveIterator(io.BytesIO(warc)):
        kinds[record.rec_type] = kinds.get(record.rec_type, 0) + 1
    assert kinds["request"] == captures
    assert kinds["response"] + kinds.get("revisit", 0) == captures
    assert len(index) == captures and index == sorted(index)
    code, out, _ = cli(capsys, "verify", "--wacz", str(wacz), "--public-key", "monitor.pub.pem")
    assert code == 0, out
    assert out[0].endswith("every member matches datapackage.json, signature valid")


def test_a_changed_warc_member_is_caught(wacz: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with zipfile.ZipFile(wacz) as archive:
        warc = archive.read("archive/data.warc.gz")
    rewrite(wacz, {"archive/data.warc.gz": warc[:-40] + bytes(40)})
    code, out, _ = cli(capsys, "verify", "--wacz", str(wacz))
    assert code == 1
    assert out[0] == (
        "FAILED wacz_member: archive/data.warc.gz does not match its hash in datapackage.json"
    )
    assert wacz_validate(wacz).returncode != 0  # webrecorder's validator agrees


def test_a_forger_who_recomputes_the_hashes_still_fails_the_signature(
    wacz: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import hashlib

    with zipfile.ZipFile(wacz) as archive:
        pages = archive.read("pages/pages.jsonl")
        package = json.loads(archive.read("datapackage.json"))
        digest = json.loads(archive.read("datapackage-digest.json"))
    forged_pages = pages.replace(b"Policy", b"Polity")
    for resource in package["resources"]:
        if resource["path"] == "pages/pages.jsonl":
            resource["hash"] = "sha256:" + hashlib.sha256(forged_pages).hexdigest()
            resource["bytes"] = len(forged_pages)
    package_bytes = json.dumps(package, indent=2).encode()
    digest["hash"] = "sha256:" + hashlib.sha256(package_bytes).hexdigest()
    rewrite(
        wacz,
        {
            "pages/pages.jsonl": forged_pages,
            "datapackage.json": package_bytes,
            "datapackage-digest.json": json.dumps(digest).encode(),
        },
    )
    code, out, _ = cli(capsys, "verify", "--wacz", str(wacz))
    assert code == 1
    assert out == ["FAILED wacz_signature: the signature covers another datapackage.json"]
    # Claiming the new hash in the signed data too: the signature no longer verifies.
    digest["signedData"]["hash"] = digest["hash"]
    rewrite(wacz, {"datapackage-digest.json": json.dumps(digest).encode()})
    code, out, _ = cli(capsys, "verify", "--wacz", str(wacz))
    assert code == 1
    assert out == [
        "FAILED wacz_signature: the signature of datapackage-digest.json does not verify"
    ]


def test_a_wacz_signed_by_another_key_is_named(
    wacz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from monitor.audit.key_files import load_or_create_key, public_key_path

    other = load_or_create_key(tmp_path / "other.key")
    code, out, _ = cli(
        capsys,
        "verify",
        "--wacz",
        str(wacz),
        "--public-key",
        str(public_key_path(tmp_path / "other.key")),
    )
    assert code == 1
    assert out[0].startswith("FAILED wacz_signature: signed by key ")
    assert other.key_id[:16] not in out[0]


def test_export_needs_a_directory_or_a_wacz(
    logdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "export")
    assert code == 2 and "--wacz FILE" in err
    assert cli(capsys, "export", "bundle", "--wacz", "both.wacz", "--source", "src-3")[0] == 0
    assert (logdir / "bundle" / "manifest.json").is_file()
    assert wacz_validate(logdir / "both.wacz").returncode == 0
    code, _, err = cli(capsys, "export", "--wacz", "both.wacz")
    assert code == 2 and "exists" in err


def test_evidence_carries_a_valid_wacz_of_both_captures(
    logdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seq = seqs_of(logdir / "monitor.db", "ChangeDetected", "src-1")[0]
    assert cli(capsys, "evidence", str(seq), "ev")[0] == 0
    path = logdir / "ev" / "capture.wacz"
    assert wacz_validate(path).returncode == 0
    with zipfile.ZipFile(path) as archive:
        pages = archive.read("pages/pages.jsonl").decode().splitlines()
    assert len(pages) == 3  # header, before, after
    code, out, _ = cli(capsys, "verify", "--wacz", str(path), "--public-key", "ev/public_key.pem")
    assert code == 0, out
