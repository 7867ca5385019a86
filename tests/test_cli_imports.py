"""The CLI starts at once: help and the read-only commands load none of the heavy parts.

Each command imports what it uses when it runs, so ``monitor --help``, ``monitor
log`` and ``monitor show`` never pay for the HTTP client, Apprise, Playwright,
the scheduler, the web app or the daemon. Checked in a fresh interpreter, the way
a user starts the CLI, by listing ``sys.modules`` after the command ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.commands import COMMANDS
from tests.pageserver import PageServer

# Top-level packages and project modules that only checking, alerting or serving need.
HEAVY = (
    "aiohttp",
    "apprise",
    "playwright",
    "apscheduler",
    "pypdf",
    "monitor.web",
    "monitor.daemon",
    "monitor.check",  # fetch, browser, pipeline
    "monitor.notify",
)

PROBE = """
import json, sys
from monitor.cli import main
from monitor.commands import COMMANDS
try:
    code = main(sys.argv[2:])
except SystemExit as exc:
    code = exc.code
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""


def run_cli(workdir: Path, *args: str) -> tuple[int, list[str], str]:
    """(exit code, modules loaded, stdout) of one CLI command in a new interpreter."""
    report = workdir / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(report), *args],
        cwd=workdir,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert report.exists(), done.stderr
    found = json.loads(report.read_text())
    return int(found["code"]), list(found["modules"]), done.stdout


# Signing and verifying: not for help or listing events (show names a capture's server,
# whose certificate it reads with cryptography).
AUDIT = ("cryptography", "monitor.audit")


def heavy_in(modules: list[str], also: tuple[str, ...] = ()) -> list[str]:
    heavy = HEAVY + also
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in heavy)]


@pytest.mark.parametrize(
    "args", [("--help",), ("log", "--help"), ("check", "--help"), ("run", "--help")]
)
def test_help_loads_no_heavy_module(workdir: Path, args: tuple[str, ...]) -> None:
    code, modules, out = run_cli(workdir, *args)
    assert code == 0
    assert "usage: monitor" in out
    assert heavy_in(modules, AUDIT) == []


def test_every_command_is_still_listed_in_the_help(workdir: Path) -> None:
    _, _, out = run_cli(workdir, "--help")
    for command in ("validate", "check", "run", "log", "show", "diff", "serve", "demo"):
        assert f"    {command} " in out


def test_log_and_show_load_no_heavy_module(workdir: Path, page_server: PageServer) -> None:
    url = page_server.set(
        "/report", "<html><body><h1>Requests</h1><p>We received 45 requests.</p></body></html>"
    )
    (workdir / "sources.toml").write_text(
        '[monitor]\ndatabase = "sqlite:///monitor.db"\n\n'
        f'[[source]]\nid = "report"\nurl = "{url}"\n',
        encoding="utf-8",
    )
    assert main(["check"]) == 0  # in this process: the log the commands below read

    code, modules, out = run_cli(workdir, "log")
    assert code == 0
    assert "BaselineCaptured" in out
    assert heavy_in(modules, AUDIT) == []

    code, modules, out = run_cli(workdir, "show", "report")
    assert code == 0
    assert out == "# Requests\nWe received 45 requests."
    assert heavy_in(modules) == []


def test_check_still_loads_what_it_needs(workdir: Path) -> None:
    """The probe sees imports at all: a command that fetches loads the fetcher when it runs."""
    (workdir / "sources.toml").write_text(
        '[monitor]\ndatabase = "sqlite:///monitor.db"\n', encoding="utf-8"
    )
    code, modules, _ = run_cli(workdir, "check")
    assert code == 0
    assert {"monitor.check.fetch", "monitor.check.pipeline", "aiohttp"} <= set(modules)


@pytest.mark.parametrize("name", [name for name, _, _ in COMMANDS])
def test_every_registered_command_has_its_own_options(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The registry's name leads to a module that builds the command's parser."""
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: monitor {name} [-h] [--config CONFIG] [--db DB] [-v]")


def test_help_imports_no_command_module(workdir: Path) -> None:
    """``monitor --help`` lists the commands from the registry, not from their modules."""
    code, modules, out = run_cli(workdir, "--help")
    assert code == 0
    assert [m for m in modules if m.startswith("monitor.commands.")] == []
    for name, _, help_line in COMMANDS:
        assert f"    {name} " in out
        assert help_line.split()[0] in out


def test_a_check_of_plain_pages_loads_only_what_they_use(
    workdir: Path, page_server: PageServer
) -> None:
    """No browser, extraction pool, figures, sitemap reading or robots.txt parser for a
    page fetched over HTTP that watches no figures (each is loaded by what uses it)."""
    url = page_server.set("/report", "<html><body><p>We received 45 requests.</p></body></html>")
    (workdir / "sources.toml").write_text(
        '[monitor]\ndatabase = "sqlite:///monitor.db"\nallow_private = true\n\n'
        f'[[source]]\nid = "report"\nurl = "{url}"\n',
        encoding="utf-8",
    )
    code, modules, out = run_cli(workdir, "check")
    assert code == 0
    assert "baseline" in out
    unused = (
        "monitor.check.browser",
        "monitor.check.pool",
        "monitor.figures",
        "monitor.discover.decide",
        "urllib.robotparser",
    )
    assert [m for m in modules if any(m == u or m.startswith(u + ".") for u in unused)] == []
