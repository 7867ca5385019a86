"""The JSON API holds its documented contract, checked by a client nobody here wrote.

Schemathesis reads ``/api/openapi.json`` from a real ``monitor serve`` over a
populated log and sends what the schema allows and what it forbids: every
invalid parameter must be a 400 with a problem-details body, every valid one
accepted, every answer (times included) as documented.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import jsonschema
import pytest

from tests.discover.build import add_discoveries
from tests.pageserver import PageServer
from tests.web.conftest import Client
from tests.web.site import Site
from tests.web.test_api import get_valid, openapi_doc

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "contract-token"
RUN_SCHEMATHESIS = "import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())"


@pytest.mark.parametrize(
    ("url", "template"),
    [
        ("/api/changes?classification=AAA", "/api/changes"),
        ("/api/changes?classification=", "/api/changes"),
        ("/api/changes?severity=", "/api/changes"),
        ("/api/sources?severity=", "/api/sources"),
        ("/api/sources?status=", "/api/sources"),
        ("/api/sources/hk-requests/text?at=", "/api/sources/{source_id}/text"),
        ("/api/sources/hk-requests/text?at=2026-03-12", "/api/sources/{source_id}/text"),
        ("/api/sources/hk-requests/text?at=2026-02-30T00:00:00Z", "/api/sources/{source_id}/text"),
        ("/api/sources/hk-requests/text?at=2026-03-12T08:00:00", "/api/sources/{source_id}/text"),
        ("/api/events?limit=%C2%B9", "/api/events"),
        ("/api/events?after=", "/api/events"),
        ("/api/changes?before=%D9%A3", "/api/changes"),
    ],
)
async def test_every_invalid_parameter_is_a_400_problem(
    client: Client, url: str, template: str
) -> None:
    doc = await openapi_doc(client)
    body = await get_valid(client, doc, url, template, 400)
    assert body["status"] == 400 and body["title"] == "Bad Request"
    assert body["type"] == "about:blank" and body["detail"] == body["error"]


async def test_a_seq_bound_past_every_seq_is_accepted(client: Client, site: Site) -> None:
    doc = await openapi_doc(client)
    huge = "9" * 30
    all_changes = await get_valid(client, doc, f"/api/changes?before={huge}", "/api/changes")
    assert len(all_changes["changes"]) == sum(e.type == "ChangeDetected" for e in site.events)
    none_after = await get_valid(client, doc, f"/api/events?after={huge}", "/api/events")
    assert none_after["events"] == []


@pytest.mark.parametrize(
    ("at", "status", "echoed"),
    [
        # Year 3 with an offset: before every capture, and echoed with four digits if at all.
        ("0003-07-12T04:31:23-22:40", 404, None),
        ("0000-01-01T00:00:00Z", 404, None),
        ("0001-01-01T00:00:00+23:59", 404, None),
        ("9999-12-31T23:59:59-23:59", 200, "9999-12-31T23:59:59.999999Z"),
        ("2990-12-31T23:59:60Z", 200, "2990-12-31T23:59:59.999999Z"),
        ("2990-01-01t00:00:00.1234567+02:00", 200, "2989-12-31T22:00:00.123456Z"),
    ],
)
async def test_any_rfc3339_time_is_read_and_echoed_as_rfc3339(
    client: Client, at: str, status: int, echoed: str | None
) -> None:
    doc = await openapi_doc(client)
    template = "/api/sources/{source_id}/text"
    query = at.replace("+", "%2B")
    body = await get_valid(
        client, doc, f"/api/sources/hk-requests/text?at={query}", template, status
    )
    if status == 200:
        assert body["at"] == echoed
        jsonschema.Draft202012Validator(
            {"type": "string", "format": "date-time"},
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        ).validate(body["at"])


def copy_log(db_url: str, target: Path) -> str:
    """A copy of the SQLite log at ``db_url`` (with its WAL), as a URL."""
    source = Path(db_url.removeprefix("sqlite:///"))
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
    return f"sqlite:///{target}"


@pytest.fixture
async def served(site: Site, tmp_path: Path, page_server: PageServer) -> AsyncIterator[str]:
    """``monitor serve`` over the populated log, with a token, on a free loopback port.

    The log is a copy of the web tests' site with a discovery history added, so every
    route (``/api/discoveries`` too) answers with real data.
    """
    db_url = copy_log(site.db_url, tmp_path / "monitor.db")
    await add_discoveries(db_url, page_server)
    config = tmp_path / "sources.toml"
    config.write_text(f'[web]\ntoken = "{TOKEN}"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env["PYTHONPATH"] = str(ROOT)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor",
        "serve",
        "--config",
        str(config),
        "--db",
        db_url,
        "--web",
        "127.0.0.1:0",
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        line = (await asyncio.wait_for(process.stderr.readline(), 30)).decode()
        found = re.search(r"at (http://127\.0\.0\.1:\d+)/", line)
        assert found, line
        yield found.group(1)
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)


async def test_schemathesis_finds_no_failure_in_the_api(served: str, tmp_path: Path) -> None:
    """Every check, every phase (examples, coverage, fuzzing, stateful links) passes."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        RUN_SCHEMATHESIS,
        "run",
        f"{served}/api/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--header",
        f"Authorization: Bearer {TOKEN}",
        # Bounded for CI on a shared machine: a fixed seed, few examples, one worker.
        "--max-examples",
        "25",
        "--workers",
        "1",
        "--seed",
        "19",
        "--generation-database",
        "none",
        "--no-color",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 55)
    report = out.decode("utf-8", "replace")
    assert process.returncode == 0, report[-6000:]
    # Every documented operation was exercised (routes added later included).
    selected = re.search(r"Selected: (\d+)/(\d+)", report)
    assert selected and selected.group(1) == selected.group(2), report[-3000:]
    assert f"Tested: {selected.group(1)}" in report, report[-3000:]
    assert re.search(r"\d+ generated, \d+ passed", report), report[-3000:]


async def test_the_review_write_is_documented_only_where_it_is_taken(client: Client) -> None:
    """Without an analyst [[user]] every POST would answer 405: the document leaves it out."""
    doc = await openapi_doc(client)
    assert "/api/changes/{seq}/reviews" not in doc["paths"]
    assert all("post" not in operations for operations in doc["paths"].values())


def test_the_enums_the_api_checks_are_the_ones_it_documents() -> None:
    from monitor.web.api import _CHOICES
    from monitor.web.openapi import openapi_document

    documented = {
        param["name"]: sorted(param["schema"]["enum"])
        for path in ("/api/sources", "/api/changes")
        for param in openapi_document()["paths"][path]["get"]["parameters"]
        if "enum" in param["schema"]
    }
    assert documented == {name: sorted(values) for name, values in _CHOICES.items()}
