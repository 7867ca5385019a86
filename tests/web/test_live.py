"""The web view follows a log that another process keeps writing, and runs as a command."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp

from monitor.check.fetch import Fetcher
from monitor.check.netpolicy import NetworkPolicy
from monitor.check.pipeline import CheckRunner
from monitor.config.parse import load_config
from monitor.store import open_store
from tests.pageserver import PageServer
from tests.web.conftest import ClientFactory
from tests.web.htmlcheck import inner_texts
from tests.web.site import page

ROOT = Path(__file__).resolve().parents[2]


def write_config(directory: Path, url: str) -> Path:
    path = directory / "sources.toml"
    path.write_text(
        '[monitor]\ndatabase = "sqlite:///monitor.db"\n\n'
        f'[[source]]\nid = "policy"\ncompany = "Example"\ntitle = "Policy"\nurl = "{url}"\n',
        encoding="utf-8",
    )
    return path


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


async def run_cli(directory: Path, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.web.cli",
        *args,
        cwd=directory,
        env=clean_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode()


async def test_changes_written_by_another_process_show_on_the_next_request(
    tmp_path: Path, page_server: PageServer, make_client: ClientFactory
) -> None:
    url = page_server.set("/p", page("Policy", "We keep data for 30 days."))
    config = write_config(tmp_path, url)
    code, out = await run_cli(tmp_path, "check")
    assert code == 0, out
    settings = load_config(config)
    client = await make_client(db_url=f"sqlite:///{tmp_path / 'monitor.db'}", settings=settings)
    dashboard = await (await client.get("/")).text()
    assert "/sources/policy" in dashboard and "/changes/" not in dashboard

    page_server.set("/p", page("Policy", "We keep data for 90 days."))
    code, out = await run_cli(tmp_path, "check")  # a separate writer process
    assert code == 0 and "changed" in out, out
    dashboard = await (await client.get("/")).text()
    seqs = re.findall(r'href="/changes/(\d+)"', dashboard)
    assert seqs
    change = await (await client.get(f"/changes/{seqs[0]}")).text()
    assert "30" in inner_texts(change, "del") and "90" in inner_texts(change, "ins")
    events = await (await client.get("/api/events")).json()
    assert events["head"] == events["events"][-1]["seq"]


async def test_shortened_diff_is_recomputed_from_the_text_blobs(
    tmp_path: Path, page_server: PageServer, make_client: ClientFactory
) -> None:
    before = [f"Section {i} says the retention period is short." for i in range(400)]
    after = [f"Section {i} says the retention period is long{i}." for i in range(400)]
    url = page_server.set("/big", page("Retention", *before))
    settings = load_config(write_config(tmp_path, url))
    db_url = f"sqlite:///{tmp_path / 'monitor.db'}"
    async with (
        open_store(db_url) as store,
        Fetcher(settings.monitor, NetworkPolicy()) as fetcher,
    ):
        runner = CheckRunner(store=store, fetcher=fetcher, settings=settings)
        await runner.reconcile()
        await runner.check(settings.sources[0])
        page_server.set("/big", page("Retention", *after))
        report = await runner.check(settings.sources[0])
        (change,) = [e for e in report.events if e.type == "ChangeDetected"]
    recorded = change.data["diff"]
    assert recorded.get("truncated") is True
    assert len(recorded["changes"]) < 400  # the record alone could not draw them all
    client = await make_client(db_url=db_url, settings=settings)
    html = await (await client.get(f"/changes/{change.seq}")).text()
    assert "recomputed from the texts" in html
    added = inner_texts(html, "ins")
    assert "long399" in added  # the last paragraph, beyond what the record kept
    # the Atom entry carries the readable diff of the whole change too, not the shortened one
    feed = await (await client.get("/feeds/changes.atom")).text()
    assert "380 more changed blocks" in feed  # 400 blocks, 20 drawn in an entry


async def test_serve_command_serves_until_sigterm(tmp_path: Path, page_server: PageServer) -> None:
    url = page_server.set("/p", page("Policy", "Version one."))
    write_config(tmp_path, url)
    code, out = await run_cli(tmp_path, "check")
    assert code == 0, out
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.web.cli",
        "serve",
        "--web",
        "127.0.0.1:0",
        cwd=tmp_path,
        env=clean_env(),
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        line = (await asyncio.wait_for(process.stderr.readline(), 30)).decode()
        found = re.search(r"at (http://127\.0\.0\.1:\d+)/", line)
        assert found, line
        async with aiohttp.ClientSession() as session:
            async with session.get(found.group(1) + "/healthz") as response:
                assert response.status == 200
                assert (await response.json())["head_seq"] >= 2
            async with session.get(found.group(1) + "/sources/policy") as response:
                assert "Version one." in await response.text()
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 15) == 0
        rest = (await process.stderr.read()).decode()
        assert "web view stopped" in rest
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_serve_command_never_creates_a_database(tmp_path: Path) -> None:
    code, out = await run_cli(
        tmp_path, "serve", "--web", "127.0.0.1:0", "--db", "sqlite:///missing.db"
    )
    assert code == 2, out
    assert "missing.db" in out
    assert not (tmp_path / "missing.db").exists()
