"""Secrets never reach the database, the logs or the web view; files are owner-only.

A full run: ``monitor run`` as a real process (debug logging, a permissive umask)
with two channels whose Apprise URLs carry secrets (one delivers, one cannot), a
source sending a secret header, and a web token. The page changes, alerts are sent
and fail, and then every byte the run left behind is searched for the secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from monitor.cli import main
from monitor.config.parse import load_config
from monitor.daemon.service import Daemon
from monitor.store import open_store
from monitor.web.app import create_app
from tests.pageserver import PageServer

ROOT = Path(__file__).resolve().parents[2]
HOOK_SECRET = "hookpath-S3CRET-7f2a91"
DEAD_PASSWORD = "deadpw-S3CRET-9c1e44"
DEAD_TOKEN = "deadtok-S3CRET-31b0c7"
HEADER_SECRET = "bearer-S3CRET-55aa02"
WEB_TOKEN = "webtoken-S3CRET-d4e8f3"
SECRETS = (HOOK_SECRET, DEAD_PASSWORD, DEAD_TOKEN, HEADER_SECRET, WEB_TOKEN)
CONFIG = """
[monitor]
key_path = "monitor.key"

[web]
token = "${WEB_TOKEN}"

[[channel]]
name = "team-hook"
url = "${HOOK_URL}"
tags = ["urgent"]

[[channel]]
name = "dead-hook"
url = "${DEAD_URL}"
tags = ["urgent"]

[[rule]]
id = "hk-requests"
all = ["Hong Kong"]
severity = "high"
notify = ["urgent"]

[[source]]
id = "report"
title = "Government requests"
url = "${PAGE_URL}"
interval = "1s"
tags = ["law-enforcement"]
headers = { Authorization = "${AUTH}" }
"""


def page(text: str) -> str:
    return f"<html><head><title>Requests</title></head><body><h1>Requests</h1><p>{text}</p></body>"


def leaks(text: str | bytes) -> list[str]:
    """The secrets found in ``text`` (also percent- or JSON-escaped, or as UTF-16)."""
    found = []
    for secret in SECRETS:
        forms = {secret, secret.replace("-", "%2D"), secret.encode("utf-16-le").decode("latin-1")}
        haystack = text.decode("latin-1") if isinstance(text, bytes) else text
        if any(form in haystack for form in forms):
            found.append(secret)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def receiver(posts: list[bytes]) -> AsyncIterator[int]:
    """An Apprise ``json://`` webhook on 127.0.0.1 whose path holds a secret."""

    async def hook(request: web.Request) -> web.Response:
        posts.append(await request.read())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post(f"/hook/{HOOK_SECRET}", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


def database_files(where: Path) -> dict[str, bytes]:
    return {name.name: name.read_bytes() for name in where.glob("monitor.db*")}


def database_modes(where: Path) -> dict[str, int]:
    return {name.name: stat.S_IMODE(name.stat().st_mode) for name in where.glob("monitor.db*")}


def db_types(db: Path) -> list[str]:
    import sqlite3

    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(db)) as conn:
        try:
            return [t for (t,) in conn.execute("SELECT type FROM events ORDER BY seq")]
        except sqlite3.OperationalError:
            return []


async def until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def crawl(client: TestClient[web.Request, web.Application]) -> dict[str, bytes]:
    """Every page the web view links to from its dashboard, plus the machine endpoints."""
    auth = {"Authorization": f"Bearer {WEB_TOKEN}"}
    queue = ["/", "/healthz", "/metrics", "/api/sources", "/api/changes", "/api/events",
             "/api/openapi.json", "/feeds/changes.atom", "/feeds/tags/law-enforcement.atom",
             "/feeds/rules/hk-requests.atom", "/api/sources/report", "/api/sources/report/text",
             "/feeds/sources/report.atom"]  # fmt: skip
    seen: dict[str, bytes] = {}
    while queue and len(seen) < 300:
        path = queue.pop(0)
        if path in seen:
            continue
        response = await client.get(path, headers=auth)
        body = await response.read()
        assert response.status == 200, (path, response.status, body[:300])
        seen[path] = b"".join(f"{k}: {v}\n".encode() for k, v in response.headers.items()) + body
        for link in re.findall(rb'(?:href|src)="(/[^"#?]*)', body):
            target = link.decode()
            if target not in seen and not target.startswith("/static/"):
                queue.append(target)
    return seen


async def test_a_full_run_leaves_no_secret_in_the_database_logs_or_web_pages(
    workdir: Path, page_server: PageServer, closed_port: int
) -> None:
    assert leaks(f'"url": "json://ops:{DEAD_PASSWORD}@h"'.encode()) == [DEAD_PASSWORD]
    url = page_server.set("/r", page("We received 100 requests."))
    config = workdir / "sources.toml"
    config.write_text(CONFIG, encoding="utf-8")
    db = workdir / "monitor.db"
    log = workdir / "daemon.log"
    posts: list[bytes] = []
    async with receiver(posts) as port:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "HOOK_URL": f"json://127.0.0.1:{port}/hook/{HOOK_SECRET}",
            "DEAD_URL": f"json://ops:{DEAD_PASSWORD}@127.0.0.1:{closed_port}/x/{DEAD_TOKEN}",
            "AUTH": f"Bearer {HEADER_SECRET}",
            "WEB_TOKEN": WEB_TOKEN,
            "PAGE_URL": url,
        }
        command = (
            f"umask 000 && exec {sys.executable} -m monitor -vv run --config {config} "
            f"--db sqlite:///{db} --web 127.0.0.1:{free_port()}"
        )
        with log.open("w") as err:
            proc = await asyncio.create_subprocess_exec(
                "/bin/sh", "-c", command, cwd=workdir, env=env,
                stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            await until(lambda: "BaselineCaptured" in db_types(db), 20, "the baseline")
            page_server.set("/r", page("We received 100 requests, 12 from Hong Kong."))
            await until(
                lambda: {"NotificationSent", "NotificationFailed"} <= set(db_types(db)),
                30,
                "the alerts",
            )
            assert page_server.requests[-1][1]["Authorization"] == f"Bearer {HEADER_SECRET}"
            modes_while_running = database_modes(workdir)
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 20) == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert len(posts) == 1 and b"Hong Kong" in posts[0]
    stderr = log.read_text(encoding="utf-8")
    assert "dead-hook" in stderr  # the failure is logged, by channel name
    assert leaks(stderr) == [], stderr

    # The database: every file byte, and every blob decompressed.
    for name, content in database_files(workdir).items():
        assert leaks(content) == [], name
    settings = load_config(config, environ=env)
    async with open_store(f"sqlite:///{db}", create=False) as store:
        async for blob_id in store.iterate_blob_ids():
            assert leaks(await store.get_blob(blob_id)) == [], blob_id
        # The web view, every page it links to and its machine endpoints.
        async with TestClient(TestServer(create_app(store, settings))) as client:
            pages = await crawl(client)
    assert any(p.startswith("/changes/") for p in pages) and len(pages) > 10
    for path, body in pages.items():
        assert leaks(body) == [], path

    # Owner-only files, though the daemon ran with umask 000.
    assert modes_while_running == {"monitor.db": 0o600, "monitor.db-wal": 0o600,
                                   "monitor.db-shm": 0o600}  # fmt: skip


async def test_in_process_logs_at_debug_hold_no_secret(
    workdir: Path,
    page_server: PageServer,
    closed_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Modules never log a secret themselves (the CLI's redaction is a second line)."""
    url = page_server.set("/r", page("We received 100 requests."))
    config = workdir / "sources.toml"
    config.write_text(CONFIG, encoding="utf-8")
    posts: list[bytes] = []
    caplog.set_level(logging.DEBUG)
    async with receiver(posts) as port:
        environ = {
            "HOOK_URL": f"json://127.0.0.1:{port}/hook/{HOOK_SECRET}",
            "DEAD_URL": f"json://ops:{DEAD_PASSWORD}@127.0.0.1:{closed_port}/x/{DEAD_TOKEN}",
            "AUTH": f"Bearer {HEADER_SECRET}",
            "WEB_TOKEN": WEB_TOKEN,
            "PAGE_URL": url,
        }
        daemon = Daemon(
            load_config(config, environ=environ),
            database=f"sqlite:///{workdir / 'monitor.db'}",
            config_path=config,
            environ=environ,
            handle_signals=False,
            notifier_retry_base=0.05,
        )
        task = asyncio.create_task(daemon.run())
        try:
            db = workdir / "monitor.db"
            await until(lambda: "BaselineCaptured" in db_types(db), 20, "the baseline")
            page_server.set("/r", page("We received 100 requests, 12 from Hong Kong."))
            await until(
                lambda: {"NotificationSent", "NotificationFailed"} <= set(db_types(db)),
                30,
                "the alerts",
            )
        finally:
            daemon.request_stop()
            await asyncio.wait_for(task, 20)
    assert posts
    assert leaks(caplog.text) == [], caplog.text


def test_the_signing_key_is_owner_only_whatever_the_umask(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "sources.toml").write_text('[monitor]\nkey_path = "keys/monitor.key"\n')
    (workdir / "keys").mkdir()
    common = ["--config", "sources.toml", "--db", "sqlite:///monitor.db"]
    old = os.umask(0)
    try:
        assert main(["check", *common]) == 0, capsys.readouterr()
        assert main(["checkpoint", *common]) == 0, capsys.readouterr()
    finally:
        os.umask(old)
    assert stat.S_IMODE((workdir / "keys" / "monitor.key").stat().st_mode) == 0o600
    assert set(database_modes(workdir).values()) == {0o600}
