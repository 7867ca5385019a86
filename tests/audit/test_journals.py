"""One checkpoint journal per log, beside the database: `verify` passes on every honest log.

Two databases checked from one working directory used to share one journal, so
`verify` failed on the second, untouched log. Each test runs the real CLI.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from monitor.cli import main
from tests.pageserver import PageServer


def page(text: str) -> str:
    return f"<html><body><main><h1>Policy</h1><p>{text}</p></main></body></html>"


def config(path: Path, url: str, *, monitor: str = "") -> Path:
    path.write_text(
        f'[monitor]\nconcurrency = 2\n{monitor}\n[[source]]\nid = "p"\nurl = "{url}"\n',
        encoding="utf-8",
    )
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out.splitlines(), out.err


def make_log(
    capsys: pytest.CaptureFixture[str], server: PageServer, conf: Path, db: str, text: str
) -> None:
    """Check twice (a baseline and a change) and sign checkpoints after each."""
    common = ["--config", str(conf), "--db", db]
    for version in (text, text + " Updated."):
        server.set("/p", page(version))
        code, out, err = run(capsys, "check", *common)
        assert code == 0, [*out, err]
        code, out, err = run(capsys, "checkpoint", *common)
        assert code == 0, [*out, err]


def test_two_databases_in_one_directory_each_verify_from_anywhere(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = config(workdir / "sources.toml", page_server.url("/p"))
    make_log(capsys, page_server, conf, "sqlite:///a.db", "Alpha.")
    make_log(capsys, page_server, conf, "sqlite:///b.db", "Beta.")
    journals = sorted((workdir / "journals").glob("*.jsonl"))
    assert len(journals) == 2  # one key, two logs, two journals
    assert not (workdir / "monitor.checkpoints.jsonl").exists()
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    os.chdir(elsewhere)
    for name in ("a.db", "b.db"):
        code, out, err = run(
            capsys, "verify", "--config", str(conf), "--db", f"sqlite:///{workdir / name}"
        )
        assert code == 0, [*out, err]
        assert out[1] == "ok: 2 signed checkpoints match the log"
    assert list(elsewhere.iterdir()) == []  # nothing written where the command ran


def test_the_key_and_journals_follow_data_dir(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "conf").mkdir()
    conf = config(
        workdir / "conf" / "sources.toml", page_server.url("/p"), monitor='data_dir = "state"'
    )
    make_log(capsys, page_server, conf, f"sqlite:///{workdir / 'm.db'}", "Gamma.")
    state = workdir / "conf" / "state"  # made on first use, owner only
    assert state.stat().st_mode & 0o777 == 0o700
    assert (state / "monitor.key").is_file() and (state / "monitor.pub.pem").is_file()
    assert len(list((state / "journals").glob("*.jsonl"))) == 1
    assert not (workdir / "monitor.key").exists()


def test_a_shared_legacy_journal_is_read_then_split_with_a_message(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = config(workdir / "sources.toml", page_server.url("/p"))
    make_log(capsys, page_server, conf, "sqlite:///a.db", "Alpha.")
    make_log(capsys, page_server, conf, "sqlite:///b.db", "Beta.")
    # The layout older versions left: every log's lines in one monitor.checkpoints.jsonl.
    legacy = workdir / "monitor.checkpoints.jsonl"
    lines = []
    for journal in sorted((workdir / "journals").glob("*.jsonl")):
        lines += journal.read_text().splitlines()
    legacy.write_text("\n".join(lines) + "\n")
    shutil.rmtree(workdir / "journals")

    for name in ("a.db", "b.db"):  # read in place: only each log's own lines count
        code, out, err = run(capsys, "verify", "--db", f"sqlite:///{name}")
        assert code == 0, [*out, err]
        assert out[1] == "ok: 2 signed checkpoints match the log"
    assert legacy.is_file()  # verify writes nothing

    code, out, err = run(capsys, "checkpoint", "--db", "sqlite:///a.db")
    assert code == 0, [*out, err]
    assert "split into per-log journals" in err
    assert not legacy.exists() and (workdir / "monitor.checkpoints.jsonl.migrated").is_file()
    moved = sum(len(j.read_text().splitlines()) for j in (workdir / "journals").glob("*.jsonl"))
    assert moved == len(lines)
    for name in ("a.db", "b.db"):
        code, out, _ = run(capsys, "verify", "--db", f"sqlite:///{name}")
        assert code == 0, out


def test_a_log_rewritten_from_seq_1_is_still_reported(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = config(workdir / "sources.toml", page_server.url("/p"))
    make_log(capsys, page_server, conf, "sqlite:///a.db", "Alpha.")
    # Someone swaps in another log under the same name (a whole new history).
    (workdir / "a.db").unlink()
    page_server.set("/p", page("Something else entirely."))
    assert run(capsys, "check", "--db", "sqlite:///a.db")[0] == 0
    code, out, _ = run(capsys, "verify", "--db", "sqlite:///a.db")
    assert code == 1
    assert out[0].startswith("FAILED checkpoint_journal: this database held the log whose")


def test_a_key_in_the_working_directory_is_adopted_beside_the_database(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = config(workdir / "sources.toml", page_server.url("/p"))
    (workdir / "data").mkdir()
    db = f"sqlite:///{workdir / 'data' / 'm.db'}"
    assert run(capsys, "check", "--config", str(conf), "--db", db)[0] == 0
    shutil.copy(workdir / "sources.toml", workdir / "data" / "unused.toml")
    # An older version made the key in the working directory.
    from monitor.audit.key_files import load_or_create_key

    old = load_or_create_key(workdir / "monitor.key")
    code, out, err = run(capsys, "checkpoint", "--config", str(conf), "--db", db)
    assert code == 0, [*out, err]
    assert f"copied {workdir / 'monitor.key'}" in err
    assert (workdir / "data" / "monitor.key").read_bytes() == (workdir / "monitor.key").read_bytes()
    assert old.key_id in "\n".join(out)


def test_monitor_data_dir_from_the_environment_wins(
    workdir: Path,
    page_server: PageServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conf = config(workdir / "sources.toml", page_server.url("/p"), monitor='data_dir = "x"')
    monkeypatch.setenv("MONITOR_DATA_DIR", str(workdir / "state"))
    make_log(capsys, page_server, conf, "sqlite:///m.db", "Delta.")
    assert (workdir / "state" / "monitor.key").is_file()
    assert len(list((workdir / "state" / "journals").glob("*.jsonl"))) == 1
    assert not (workdir / "x").exists() and not (workdir / "monitor.key").exists()
    code, out, _ = run(capsys, "verify", "--config", str(conf), "--db", "sqlite:///m.db")
    assert code == 0 and out[1] == "ok: 2 signed checkpoints match the log"
