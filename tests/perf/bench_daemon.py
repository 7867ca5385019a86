"""Benchmark the daemon's check path on many sources; prints figures (not a test).

Run from a checkout::

    python tests/perf/bench_daemon.py                  # 1,000 sources
    python tests/perf/bench_daemon.py --sources 10000  # and the 10k-source memory figure

A local aiohttp server in a *separate process* (so it does not share the GIL
with the monitor) serves N synthetic ~300 KB HTML pages, each with an ETag;
every "round" a tenth of them changes one paragraph. The monitor side is the
daemon's own path — ``Fetcher.reserve_host`` → the global ``concurrency``
semaphore → ``CheckRunner.check`` against a real SQLite log — with every
source on one host, so ``per_host`` is raised to ``concurrency`` (a real
deployment spreads over many hosts). Phases:

* baseline: the first capture of every page (extract, two blobs, an event);
* 200 unchanged: the server ignores ``If-None-Match``; every page is downloaded
  and is byte-identical to the last capture (the raw-bytes fast path);
* 200, a tenth changed: as above, but 10 % of pages changed since the last round
  (extract, diff, rules, blobs, ``ChangeDetected``);
* 304: the server honours ``If-None-Match``; unchanged pages cost a 304.

CPU ms per check is this process's CPU time (user + system) over the phase,
divided by the checks; the server's CPU is not included. Peak RSS is
``ru_maxrss``. With ``--sources 10000`` a fresh process then starts the real
``Daemon`` (scheduler, notifier, 10k jobs, 10k cached states) on that database
and reports its RSS once it is idle.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout

TARGETS = {"200 unchanged": 150.0, "304": 1000.0}
RSS_TARGET_MB = 150.0


# --------------------------------------------------------------------------- the page server


def synthetic_base(kb: int, seed: int = 4) -> tuple[bytes, bytes]:
    """An HTML report page of about ``kb`` KB, split around one slot.

    Shaped like the corporate pages watched in practice: about a third inline
    script and style, a third markup (classes, data attributes, links), a third
    text in sections of paragraphs, lists and tables.
    """
    rnd = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rnd.choice(letters) for _ in range(rnd.randint(2, 10))) for _ in range(4000)]

    def sentence(n: int) -> str:
        return " ".join(rnd.choices(words, k=n)).capitalize() + "."

    def token() -> str:
        return "".join(rnd.choices(letters + "0123456789", k=rnd.randint(6, 14)))

    def attrs() -> str:
        return (
            f' class="c-{token()} c-{token()}" data-track="{token()}" '
            f'data-component-id="{token()}-{rnd.randint(0, 99999)}"'
        )

    script = "".join(
        f"function f{i}(a,b){{var {token()}=a+'{token()}';"
        f"return b?{token()}(a):[{i},'{token()}'];}}"
        for i in range(kb * 1024 // 3 // 70)
    )
    style = "".join(
        f".c-{token()}{{margin:{rnd.randint(0, 40)}px;color:#{rnd.randint(0, 0xFFFFFF):06x}}}"
        for _ in range(kb * 1024 // 8 // 40)
    )
    head = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Transparency report</title><style>{style}</style>"
        f"<script>{script}</script></head><body>"
        "<nav><a href='/'>Home</a> <a href='/reports'>Reports</a></nav><main>"
        "<h1>Government requests for user data</h1>"
    )
    parts: list[str] = []
    size = len(head)
    section = 0
    while size < kb * 1024:
        section += 1
        chunk = [
            f"<section{attrs()}><div{attrs()}><h2{attrs()}>Section {section}: {sentence(4)}</h2>"
        ]
        chunk += [
            f"<div{attrs()}><p{attrs()}>{sentence(rnd.randint(10, 40))} "
            f"<a href='/r/{token()}'{attrs()}>{sentence(2)}</a></p></div>"
            for _ in range(rnd.randint(2, 6))
        ]
        chunk.append(
            f"<ul{attrs()}>"
            + "".join(f"<li{attrs()}>{sentence(6)}</li>" for _ in range(3))
            + "</ul>"
        )
        chunk.append(
            f"<table{attrs()}><tr><th>Country</th><th>Requests</th><th>Disclosed</th></tr>"
            + "".join(
                f"<tr{attrs()}><td>{rnd.choice(words).title()}</td><td>{rnd.randint(0, 9999)}</td>"
                f"<td>{rnd.randint(0, 100)}%</td></tr>"
                for _ in range(4)
            )
            + "</table></div></section>"
        )
        text = "".join(chunk)
        parts.append(text)
        size += len(text)
    middle = len(parts) // 3
    before = head + "".join(parts[:middle])
    after = "".join(parts[middle:]) + "</main><footer>© Example</footer></body></html>"
    return before.encode(), after.encode()


def serve(port_file: str, kb: int) -> None:
    """The page server (its own process): /p/{i}; /_control?round=R&conditional=0|1."""
    from aiohttp import web

    before, after = synthetic_base(kb)
    state: dict[str, int] = {"round": 0, "conditional": 0}

    def revision(i: int) -> int:
        # Page i changes in the rounds r with r % 10 == i % 10: a tenth per round.
        return (state["round"] + 9 - i % 10) // 10

    async def page(request: web.Request) -> web.Response:
        i = int(request.match_info["i"])
        rev = revision(i)
        etag = f'"{i}-{rev}"'
        if state["conditional"] and request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        slot = (
            f"<p>Source {i}. Revision {rev}: from this period on we publish the number of "
            f"requests received from authority {i * 7 + rev} separately.</p>"
        ).encode()
        return web.Response(
            body=before + slot + after,
            headers={"ETag": etag, "Content-Type": "text/html; charset=utf-8"},
        )

    async def control(request: web.Request) -> web.Response:
        if "round" in request.query:
            state["round"] = int(request.query["round"])
        if "conditional" in request.query:
            state["conditional"] = int(request.query["conditional"] == "1")
        return web.json_response({"cpu": time.process_time()})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/p/{i}", page)
        app.router.add_get("/_control", control)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        await asyncio.to_thread(Path(port_file).write_text, str(runner.addresses[0][1]))
        await asyncio.Event().wait()

    asyncio.run(main())


# --------------------------------------------------------------------------- the monitor side


def config_text(port: int, n: int, concurrency: int, db: Path) -> str:
    lines = [
        "[monitor]",
        f'database = "sqlite:///{db}"',
        f"concurrency = {concurrency}",
        f"per_host = {concurrency}",
        'default_interval = "1h"',
        "",
        "[[rule]]",
        'id = "authority"',
        'all = ["authority"]',
        'any = ["requests"]',
        'severity = "high"',
        "",
    ]
    for i in range(n):
        lines += ["[[source]]", f'id = "s{i:05}"', f'url = "http://127.0.0.1:{port}/p/{i}"', ""]
    return "\n".join(lines)


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB (VmRSS, VmHWM).

    ``ru_maxrss`` would do for the peak, except that Linux carries it over from the
    parent across fork and exec; VmHWM belongs to this process's memory alone.
    """
    found: dict[str, float] = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) / 1024
    if "VmHWM" not in found:  # not Linux
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return peak, peak
    return found["VmRSS"], found["VmHWM"]


async def control(port: int, **query: int) -> float:
    """Set the server's round and mode; returns the server's CPU seconds so far."""
    import aiohttp

    async with aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{port}/_control"
        async with session.get(url, params={k: str(v) for k, v in query.items()}) as response:
            response.raise_for_status()
            return float((await response.json())["cpu"])


async def rounds(config: Path, port: int, args: argparse.Namespace) -> list[dict[str, object]]:
    from monitor.check.fetch import Fetcher
    from monitor.check.pipeline import CheckReport, CheckRunner
    from monitor.config.parse import load_config
    from monitor.config.settings import SourceSettings
    from monitor.daemon.generations import network_policy
    from monitor.store import open_store

    settings = load_config(config, environ={})
    results: list[dict[str, object]] = []
    async with (
        open_store(settings.monitor.database) as store,
        Fetcher(settings.monitor, network_policy(settings)) as fetcher,
    ):
        runner = CheckRunner(store=store, fetcher=fetcher, settings=settings)
        await runner.reconcile()
        limit = asyncio.Semaphore(settings.monitor.concurrency)

        async def one(source: SourceSettings) -> CheckReport:
            async with fetcher.reserve_host(source.url), limit:
                return await runner.check(source)

        async def phase(label: str, round_: int, conditional: bool) -> None:
            server_cpu = await control(port, round=round_, conditional=int(conditional))
            cpu, wall = time.process_time(), time.perf_counter()
            reports = await asyncio.gather(*(one(s) for s in settings.sources))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            server_cpu = await control(port) - server_cpu
            outcomes = Counter(r.outcome for r in reports)
            detail = Counter(r.detail for r in reports if r.outcome == "unchanged")
            row = {
                "phase": label,
                "checks": len(reports),
                "seconds": round(wall, 2),
                "checks_per_s": round(len(reports) / wall, 1),
                "cpu_ms_per_check": round(cpu * 1000 / len(reports), 2),
                "server_cpu_ms_per_check": round(server_cpu * 1000 / len(reports), 2),
                "outcomes": dict(outcomes),
                "not_modified": detail.get("304 not modified", 0),
                "rss_mb": round(rss_mb()[0], 1),
            }
            results.append(row)
            print(json.dumps(row), flush=True)

        await phase("baseline", 0, False)
        for _ in range(args.rounds):
            await phase("200 unchanged", 0, False)
        await phase("200, a tenth changed", 1, False)
        await phase("200, a tenth changed", 2, False)
        await phase("304 (first round)", 2, True)
        for _ in range(args.rounds):
            await phase("304", 2, True)
        await phase("304, a tenth changed", 3, True)
    return results


async def daemon_rss(config: str, seconds: float) -> None:
    """Start the real daemon on ``config`` and print its RSS once it has settled."""
    from monitor.config.parse import load_config
    from monitor.daemon.service import Daemon

    settings = load_config(config, environ={})
    before = rss_mb()[0]
    daemon = Daemon(settings, database=settings.monitor.database, handle_signals=False)
    task = asyncio.create_task(daemon.run())
    started = time.perf_counter()
    await daemon.ready.wait()
    ready_after = time.perf_counter() - started
    await asyncio.sleep(seconds)
    current, peak = rss_mb()
    daemon.request_stop()
    await task
    print(
        json.dumps(
            {
                "phase": "daemon idle",
                "sources": len(settings.sources),
                "startup_s": round(ready_after, 2),
                "checks_while_idle": daemon.status.checks,
                "rss_before_start_mb": round(before, 1),
                "rss_mb": round(current, 1),
                "peak_rss_mb": round(peak, 1),
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2, help="repeats of the steady phases")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--page-kb", type=int, default=300)
    parser.add_argument(
        "--idle-rss",
        action="store_true",
        help="also measure the idle daemon's RSS (always with 10,000+ sources)",
    )
    parser.add_argument("--serve", metavar="PORT_FILE", help=argparse.SUPPRESS)
    parser.add_argument("--daemon-rss", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.page_kb)
        return
    if args.daemon_rss:
        asyncio.run(daemon_rss(args.daemon_rss, 8.0))
        return

    with tempfile.TemporaryDirectory(prefix="bench-daemon-") as tmp:
        port_file = Path(tmp) / "port"
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port_file), "--page-kb", str(args.page_kb)]
        )
        try:
            deadline = time.monotonic() + 30
            while not port_file.exists() or not port_file.read_text():
                if time.monotonic() > deadline:
                    raise SystemExit("the page server did not start")
                time.sleep(0.05)
            port = int(port_file.read_text())
            db = Path(tmp) / "bench.db"
            config = Path(tmp) / "sources.toml"
            config.write_text(config_text(port, args.sources, args.concurrency, db))
            print(
                f"# {args.sources} sources, ~{args.page_kb} KB pages, concurrency "
                f"{args.concurrency}, {os.cpu_count()} CPUs",
                flush=True,
            )
            results = asyncio.run(rounds(config, port, args))
            peak = rss_mb()[1]
            print(
                json.dumps(
                    {
                        "phase": "checks",
                        "peak_rss_mb": round(peak, 1),
                        "db_mb": round(db.stat().st_size / 2**20, 1),
                    }
                ),
                flush=True,
            )
            if args.sources >= 10000 or args.idle_rss:
                subprocess.run([sys.executable, __file__, "--daemon-rss", str(config)], check=True)
        finally:
            server.terminate()
            server.wait(10)
    for label, target in TARGETS.items():
        rows = [r for r in results if r["phase"] == label]
        if not rows:  # --rounds 0
            continue
        best = max(float(r["checks_per_s"]) for r in rows)  # type: ignore[arg-type]
        verdict = "ok" if best >= target else "BELOW TARGET"
        print(f"# {label}: best {best:.0f} checks/s (target ≥ {target:.0f}): {verdict}")


if __name__ == "__main__":
    main()
