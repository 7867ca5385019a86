"""`monitor check` end to end: a real local server, a real SQLite log, the real CLI."""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path

import pytest

from monitor.cli import main
from tests.pageserver import PageServer


def page(title: str, body: str, *, extra: str = "") -> str:
    return (
        f"<!doctype html><html><head><title>{title}</title>"
        f"<style>p {{ color: red }}</style><script>var token = '{extra}';</script></head>"
        f"<body><nav>Home | About</nav><main><h1>{title}</h1><p>{body}</p>"
        f"<p class='x{extra}'>We publish this report twice a year.</p></main></body></html>"
    )


def write_config(path: Path, sources: dict[str, str], *, extra: str = "") -> Path:
    lines = ['[monitor]\ndatabase = "sqlite:///monitor.db"\nconcurrency = 4\n', extra]
    for source_id, url in sources.items():
        lines.append(
            f'[[source]]\nid = "{source_id}"\nurl = "{url}"\ncompany = "Example"\n'
            f'title = "{source_id}"\nremove = ["nav"]\n'
        )
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def log_json(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["log", "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def three_pages(server: PageServer) -> dict[str, str]:
    return {
        "hk-requests": server.set(
            "/hk", page("Government requests", "We have paused processing Hong Kong requests.")
        ),
        "privacy": server.set("/privacy", page("Privacy", "We collect little data.")),
        "le-guide": server.set("/le", page("Law enforcement", "We require valid legal process.")),
    }


def test_one_visible_change_gives_exactly_one_change_event(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(workdir / "sources.toml", three_pages(page_server))
    assert main(["check"]) == 0
    page_server.set(
        "/hk", page("Government requests", "We have resumed processing Hong Kong requests.")
    )
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "hk-requests" in out and "changed" in out

    events = log_json(capsys)
    types = [e["type"] for e in events]
    assert types.count("SourceRegistered") == 3
    assert types.count("BaselineCaptured") == 3
    changes = [e for e in events if e["type"] == "ChangeDetected"]
    assert len(changes) == 1
    change = changes[0]
    assert change["stream"] == "hk-requests"
    data = change["data"]
    assert isinstance(data, dict)
    assert "paused" in " ".join(data["diff"]["removed"])
    assert "resumed" in " ".join(data["diff"]["added"])
    assert data["classification"] == "substantive"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    for previous, current in itertools.pairwise(events):
        assert current["prev_hash"] == previous["hash"]
    assert all(len(str(e["hash"])) == 64 for e in events)


def test_markup_script_style_and_whitespace_changes_are_not_changes(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = page_server.set("/p", page("Policy", "Requests are reviewed.", extra="a1"))
    write_config(workdir / "sources.toml", {"policy": url})
    assert main(["check"]) == 0
    noisy = page("Policy", "Requests   are\n reviewed.", extra="b2").replace(
        "<p>", '<p data-track="9" style="margin:0">'
    )
    page_server.set("/p", noisy.replace("color: red", "color: blue"))
    assert main(["check"]) == 0
    types = [e["type"] for e in log_json(capsys)]
    assert "ChangeDetected" not in types
    assert types.count("BaselineCaptured") == 1


def test_refused_connection_is_recorded_and_others_still_checked(
    workdir: Path, page_server: PageServer, closed_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    ok_url = page_server.set("/ok", page("Report", "Numbers for 2026."))
    write_config(
        workdir / "sources.toml",
        {"down": f"http://127.0.0.1:{closed_port}/", "up": ok_url},
    )
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "down" in out and "failed" in out
    events = log_json(capsys)
    failed = [e for e in events if e["type"] == "FetchFailed"]
    assert [e["stream"] for e in failed] == ["down"]
    assert failed[0]["data"]["error"] == "connect"  # type: ignore[index]
    assert any(e["type"] == "BaselineCaptured" and e["stream"] == "up" for e in events)


def test_bad_config_reports_every_problem_and_creates_no_database(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "sources.toml").write_text(
        '[monitor]\ndatabase = "sqlite:///monitor.db"\n\n'
        '[[source]]\nid = "a"\nurl = "https://example.org/a"\nintervall = "1h"\n\n'
        '[[source]]\nid = "a"\nurl = "https://example.org/b"\n\n'
        '[[source]]\nid = "c"\nurl = "ftp://example.org/c"\n',
        encoding="utf-8",
    )
    for command in (["validate"], ["check"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "intervall" in err and "did you mean 'interval'" in err
        assert "duplicate" in err.lower()
        assert "ftp" in err
        assert ":7:" in err and ":10:" in err and ":15:" in err
    assert not (workdir / "monitor.db").exists()


def test_verify_names_the_tampered_seq(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(workdir / "sources.toml", three_pages(page_server))
    assert main(["check"]) == 0
    assert main(["verify"]) == 0
    db = sqlite3.connect(workdir / "monitor.db")
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        db.execute(f'DROP TRIGGER "{name}"')
    (data,) = db.execute("SELECT data FROM events WHERE seq = 4").fetchone()
    db.execute("UPDATE events SET data = ? WHERE seq = 4", (data.replace("e", "f", 1),))
    db.commit()
    db.close()
    capsys.readouterr()
    assert main(["verify"]) == 1
    assert "seq 4" in capsys.readouterr().out


def test_show_prints_the_text_current_at_a_time(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = page_server.set("/p", page("Policy", "Version one."))
    write_config(workdir / "sources.toml", {"policy": url})
    assert main(["check"]) == 0
    page_server.set("/p", page("Policy", "Version two."))
    assert main(["check"]) == 0
    events = log_json(capsys)
    baseline_at = next(e["recorded_at"] for e in events if e["type"] == "BaselineCaptured")
    assert main(["show", "policy", "--at", str(baseline_at)]) == 0
    assert "Version one." in capsys.readouterr().out
    assert main(["show", "policy"]) == 0
    assert "Version two." in capsys.readouterr().out
    assert main(["show", "nope"]) == 2
