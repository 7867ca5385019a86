"""``monitor evidence SEQ DIR``: everything about one change, checkable by hand."""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from monitor.audit.checkpoint import SignedCheckpoint
from monitor.audit.merkle import event_leaf, verify_inclusion
from monitor.cli import main
from monitor.events import parse_time
from tests.audit.history import STEP, History
from tests.pageserver import PageServer
from tests.web.screenshots import AFTER_PNG, BEFORE_PNG, LATE_PNG, sha256_of
from tests.web.screenshots import build_sync as build_shots

FILES = [
    "README.md",
    "SHA256SUMS",
    "after/event.json",
    "after/fetch.json",
    "after/raw.html",
    "after/text.txt",
    "before/event.json",
    "before/fetch.json",
    "before/raw.html",
    "before/text.txt",
    "capture.wacz",
    "checkpoint.json",
    "checkpoint.sig",
    "diff.html",
    "diff.patch",
    "event.json",
    "proof.json",
    "public_key.pem",
]


def files_in(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())


def change_seqs(db: Path, source: str) -> list[int]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT seq FROM events WHERE type = 'ChangeDetected' AND stream = ? ORDER BY seq",
            (source,),
        )
        return [row[0] for row in rows]
    finally:
        conn.close()


def test_evidence_of_a_change_holds_both_captures_the_diff_and_the_proof(
    logdir: Path, history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    seq = change_seqs(logdir / "monitor.db", "src-5")[1]
    assert main(["evidence", str(seq), "ev"]) == 0
    out = capsys.readouterr().out
    assert f"evidence for seq {seq} (ChangeDetected in src-5)" in out
    ev = logdir / "ev"
    assert files_in(ev) == FILES
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=ev, capture_output=True)
    assert check.returncode == 0 and check.stdout.count(b": OK") == len(FILES) - 1

    event = json.loads((ev / "event.json").read_text())
    assert event["seq"] == seq and event["type"] == "ChangeDetected"
    after = json.loads((ev / "after/fetch.json").read_text())
    before = json.loads((ev / "before/fetch.json").read_text())
    assert after["event_seq"] == seq and before["event_seq"] < seq
    # The fetch facts: where we asked, where we were sent, what came back, when.
    assert after["requested_url"].endswith("/moved5") and after["final_url"].endswith("/p5")
    assert after["redirects"] == [{"url": after["requested_url"], "status": 302}]
    assert after["status"] == 200 and after["headers"]["content-type"].startswith("text/html")
    # The captures are what the server sent and what the monitor compared, byte for byte.
    served = {when: body for when, _, body in history.served["src-5"]}
    for side, facts in (("after", after), ("before", before)):
        moment = parse_time(facts["fetched_at"])
        assert (ev / side / "raw.html").read_text() == served[moment]
        assert (ev / side / "text.txt").read_text() == history.expected_text("src-5", moment)
    # Bracketed: the old text was still confirmed one round (2 h) before the new one.
    last_seen = event["data"]["previous_seen_until"]
    assert parse_time(last_seen) == parse_time(after["fetched_at"]) - STEP
    assert parse_time(before["fetched_at"]) <= parse_time(last_seen)

    html = (ev / "diff.html").read_text()
    assert "<del>1</del><ins>2</ins>" in html and "default-src 'none'" in html
    readme = (ev / "README.md").read_text()
    assert (
        f"captured at {before['fetched_at']} (seq {before['event_seq']}) and last seen at "
        f"**{last_seen}**" in readme
    )
    assert f"first seen at **{after['fetched_at']}**" in readme
    assert "does turn `before/text.txt` into `after/text.txt` exactly" in readme

    proof = json.loads((ev / "proof.json").read_text())
    checkpoint = SignedCheckpoint.from_data(proof["checkpoint"])
    assert (ev / "checkpoint.json").read_bytes() == checkpoint.checkpoint.signed_bytes()
    assert (ev / "checkpoint.sig").read_bytes() == base64.b64decode(
        proof["checkpoint"]["signature"]
    )
    assert [p["seq"] for p in proof["proofs"]] == [before["event_seq"], seq]
    for item in proof["proofs"]:
        path = [bytes.fromhex(h) for h in item["audit_path"]]
        assert verify_inclusion(
            event_leaf(item["event_hash"]), item["seq"] - 1, checkpoint.tree_size, path,
            checkpoint.root,
        )  # fmt: skip
    verified = subprocess.run(
        "openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin -in checkpoint.json "
        "-sigfile checkpoint.sig",
        shell=True,
        cwd=ev,
        capture_output=True,
    )
    assert verified.returncode == 0


def html_page(text: str) -> str:
    return f"<html><head><title>Policy</title></head><body><main><p>{text}</p></main></body></html>"


def test_evidence_escapes_page_text_and_signs_a_checkpoint_first(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = page_server.set("/hostile", html_page("We publish reports twice a year."))
    (workdir / "sources.toml").write_text(
        f'[monitor]\ndatabase = "sqlite:///monitor.db"\n\n[[source]]\nid = "hostile"\n'
        f'url = "{url}"\n'
    )
    assert main(["check"]) == 0
    page_server.set(
        "/hostile",
        html_page(
            "We publish reports &lt;script&gt;alert(1)&lt;/script&gt; once a year "
            "&lt;img src=x onerror=alert(2)&gt; &quot;really&quot;."
        ),
    )
    assert main(["check"]) == 0
    (seq,) = change_seqs(workdir / "monitor.db", "hostile")
    capsys.readouterr()
    assert main(["evidence", str(seq), "ev"]) == 0
    assert (workdir / "monitor.key").exists()

    text = (workdir / "ev/after/text.txt").read_text()
    assert "<script>alert(1)</script>" in text  # the page text, as the page showed it
    html = (workdir / "ev/diff.html").read_text()
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html

    proof = json.loads((workdir / "ev/proof.json").read_text())
    checkpoint = proof["checkpoint"]
    assert checkpoint["tree_size"] >= seq and checkpoint["seq"] == checkpoint["tree_size"] + 1
    assert main(["verify"]) == 0


def test_evidence_refuses_what_is_not_a_capture(
    logdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evidence", "1", "ev"]) == 2
    assert "seq 1 is a SourceRegistered; evidence needs a capture" in capsys.readouterr().err
    assert main(["evidence", "100000", "ev"]) == 2
    assert "there is no event at seq 100000" in capsys.readouterr().err
    assert not (logdir / "ev").exists()


def test_evidence_of_a_browser_change_holds_both_screenshots(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shots = build_shots(workdir / "monitor.db")
    change = shots.change("dash")
    assert main(["evidence", str(change.seq), "ev"]) == 0
    ev = workdir / "ev"
    assert (ev / "before.png").read_bytes() == BEFORE_PNG
    assert (ev / "after.png").read_bytes() == AFTER_PNG
    before_sha, after_sha = sha256_of(BEFORE_PNG), sha256_of(AFTER_PNG)
    # The pictures are the ones each capture names, and the hash list covers them.
    assert json.loads((ev / "after/fetch.json").read_text())["screenshot_sha256"] == after_sha
    assert json.loads((ev / "before/fetch.json").read_text())["screenshot_sha256"] == before_sha
    sums = (ev / "SHA256SUMS").read_text()
    assert f"{before_sha}  before.png\n" in sums and f"{after_sha}  after.png\n" in sums
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=ev, capture_output=True)
    assert check.returncode == 0
    assert b"before.png: OK" in check.stdout and b"after.png: OK" in check.stdout
    readme = (ev / "README.md").read_text()
    assert f"`before.png`: sha256 `{before_sha}`" in readme
    assert f"`after.png`: sha256 `{after_sha}`" in readme
    # A changed picture no longer passes the bundle's check.
    (ev / "after.png").write_bytes(AFTER_PNG + b"\x00")
    tampered = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=ev, capture_output=True)
    assert tampered.returncode != 0 and b"after.png: FAILED" in tampered.stdout
    capsys.readouterr()
    assert main(["verify"]) == 0  # the screenshot blobs verify in the log too


def test_evidence_without_an_earlier_screenshot_has_only_after_png(workdir: Path) -> None:
    shots = build_shots(workdir / "monitor.db")
    assert main(["evidence", str(shots.change("late").seq), "ev"]) == 0
    ev = workdir / "ev"
    assert (ev / "after.png").read_bytes() == LATE_PNG
    assert not (ev / "before.png").exists()
    assert "before.png" not in (ev / "SHA256SUMS").read_text()
    assert "`before.png`: sha256" not in (ev / "README.md").read_text()
