"""Benchmark ``monitor run`` workers sharing one PostgreSQL log; prints checks/s (not a test).

Run from a checkout (PostgreSQL at $MONITOR_TEST_PG, default
postgresql://127.0.0.1:5432/test; each run uses a schema of its own, dropped after)::

    python tests/perf/bench_workers.py                     # 1, 2 and 3 workers
    python tests/perf/bench_workers.py --workers 1 4 --sources 1000

Each configuration starts N real ``python -m monitor run`` processes on a fresh
schema, with ``--sources`` pages on one local aiohttp server (run in a separate
process, so it does not share a GIL or a core budget with the measuring code).
Every source has ``interval = "1s"``, far more often than the workers can check
them all, so every worker is always busy: the rate the server sees is the
cluster's capacity. ``per_host`` is raised to ``concurrency`` (one host here; a
real deployment spreads over many). Two phases per configuration, after every
baseline is in the log:

* 200 unchanged: the server ignores ``If-None-Match``; each page (~20 KB) is
  downloaded and is byte-identical to the last capture (the raw-bytes fast path);
* 304: the server honours ``If-None-Match``; an unchanged page costs a 304.

Reported per phase (a Markdown table): checks/s (requests the server answered
per second of the window) and CPU ms per check, from /proc, of the worker
processes, of every local ``postgres`` process (0 if the server is remote; it
includes anything else that server does meanwhile) and of the page server — so
it shows where a machine's cores go.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run from a checkout

DEFAULT_PG = "postgresql://127.0.0.1:5432/test"
WINDOW = 8.0  # seconds measured per phase
SETTLE = 3.0  # seconds after a phase switch before measuring


# --------------------------------------------------------------------------- the page server


def serve(
    port_out: multiprocessing.connection.Connection,
    mode: Any,
    hits: Any,
) -> None:
    """The page server process: /p/N pages with an ETag; ``mode`` 1 = honour If-None-Match."""
    from aiohttp import web

    filler = " ".join(f"word{i % 97}" for i in range(3000))

    async def page(request: web.Request) -> web.Response:
        with hits.get_lock():
            hits.value += 1
        n = request.match_info["n"]
        etag = f'"p{n}"'
        if mode.value == 1 and request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        body = (
            f"<!doctype html><html><head><title>Report {n}</title></head><body><main>"
            f"<h1>Transparency report {n}</h1><p>{filler}</p></main></body></html>"
        )
        return web.Response(text=body, content_type="text/html", headers={"ETag": etag})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/p/{n}", page)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port_out.send(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


# --------------------------------------------------------------------------- helpers


def write_config(path: Path, port: int, sources: int, url: str, concurrency: int) -> None:
    lines = [
        "[monitor]",
        f'database = "{url}"',
        f"concurrency = {concurrency}",
        f"per_host = {concurrency}",
        "jitter = 0",
        "allow_private = true",
        "",
    ]
    for i in range(sources):
        lines += [
            "[[source]]",
            f'id = "p{i:05d}"',
            f'url = "http://127.0.0.1:{port}/p/{i}"',
            'interval = "1s"',
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_worker(
    workdir: Path, config: Path, url: str, env: dict[str, str], index: int
) -> subprocess.Popen[bytes]:
    with (workdir / f"worker{index}.log").open("w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config", str(config), "--db", url],
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=env,
        )


async def count(conn: asyncpg.Connection, sql: str) -> int:
    try:
        return int(await conn.fetchval(sql))
    except asyncpg.UndefinedTableError:
        return 0


def postgres_cpu() -> float:
    """CPU seconds of every local ``postgres`` process (0 when the server is elsewhere)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() == "postgres":
                total += cpu_seconds(int(entry.name))
        except OSError:
            continue  # the process ended meanwhile
    return total


Figures = tuple[float, float, float, float]  # checks/s; CPU ms per check: workers, db, server


async def measure(hits: Any, workers: list[subprocess.Popen[bytes]], server_pid: int) -> Figures:
    """Checks/s and CPU ms per check (workers, PostgreSQL, page server) over one window."""
    await asyncio.sleep(SETTLE)

    def sample() -> tuple[int, float, float, float, float]:
        return (
            hits.value,
            sum(cpu_seconds(w.pid) for w in workers),
            postgres_cpu(),
            cpu_seconds(server_pid),
            time.monotonic(),
        )

    before = sample()
    await asyncio.sleep(WINDOW)
    after = sample()
    checks = max(1, after[0] - before[0])
    return (
        checks / (after[4] - before[4]),
        1000 * (after[1] - before[1]) / checks,
        1000 * (after[2] - before[2]) / checks,
        1000 * (after[3] - before[3]) / checks,
    )


async def run_one(
    n: int,
    sources: int,
    concurrency: int,
    server: str,
    port: int,
    mode: Any,
    hits: Any,
    server_pid: int,
) -> dict[str, Figures]:
    schema = f"bench_workers_{uuid.uuid4().hex[:8]}"
    url = f"{server}{'&' if '?' in server else '?'}schema={schema}"
    admin = await asyncpg.connect(server)
    workdir = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    config = workdir / "sources.toml"
    write_config(config, port, sources, url, concurrency)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    }
    env.pop("MONITOR_CONFIG", None)
    env.pop("MONITOR_DB", None)
    mode.value = 0
    workers = [start_worker(workdir, config, url, env, i) for i in range(n)]
    results: dict[str, Figures] = {}
    try:
        db = await asyncpg.connect(server, server_settings={"search_path": schema})
        started = time.monotonic()
        while (
            await count(db, "SELECT count(*) FROM events WHERE type = 'BaselineCaptured'") < sources
        ):
            if any(w.poll() is not None for w in workers):
                raise SystemExit(f"a worker exited; see {workdir}")
            if time.monotonic() - started > 300:
                raise SystemExit(f"baselines took over 5 minutes; see {workdir}")
            await asyncio.sleep(0.5)
        await db.close()
        results["200 unchanged"] = await measure(hits, workers, server_pid)
        mode.value = 1
        results["304"] = await measure(hits, workers, server_pid)
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(60)
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--sources", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--pg", default=os.environ.get("MONITOR_TEST_PG") or DEFAULT_PG)
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat each configuration, report the best"
    )
    args = parser.parse_args()

    receive, send = multiprocessing.Pipe(duplex=False)
    mode = multiprocessing.Value("i", 0)
    hits = multiprocessing.Value("q", 0)
    server = multiprocessing.Process(target=serve, args=(send, mode, hits), daemon=True)
    server.start()
    port = receive.recv()
    server_pid = server.pid
    assert server_pid is not None
    print(
        f"{args.sources} sources on one local server, concurrency {args.concurrency} per "
        f"worker, {os.cpu_count()} CPUs, PostgreSQL {args.pg.split('@')[-1]}"
    )
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    print("| workers | phase | checks/s | CPU ms/check: workers | PostgreSQL | page server |")
    print("| --- | --- | --- | --- | --- | --- |")
    try:
        for n in args.workers:
            best: dict[str, Figures] = {}
            for _ in range(args.rounds):
                results = await run_one(
                    n, args.sources, args.concurrency, args.pg, port, mode, hits, server_pid
                )
                for phase, figures in results.items():
                    if phase not in best or figures[0] > best[phase][0]:
                        best[phase] = figures
            for phase, (rate, workers_ms, db_ms, server_ms) in best.items():
                print(
                    f"| {n} | {phase} | {rate:.0f} | {workers_ms:.2f} | {db_ms:.2f} | "
                    f"{server_ms:.2f} |",
                    flush=True,
                )
    finally:
        server.terminate()
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    asyncio.run(main())
