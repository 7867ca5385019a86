"""Benchmark checks as a user runs them, measured from outside; prints figures (not a test).

Run from a checkout::

    python tests/perf/bench_check.py                  # 1,000 pages of ~300 KB
    python tests/perf/bench_check.py --pages 200 --daemon-seconds 20
    python tests/perf/bench_check.py --pages 300 --startup-only --startup-runs 7

A page server in its own process serves N synthetic ~300 KB report pages (the
shape of ``bench_daemon.synthetic_base``: a third script and style, a third
markup, a third text) whose bytes differ on *every* request outside the visible
text, as real pages do: a CSRF token in attributes (a ``<meta>`` in the head, a
hidden ``<input>`` and a ``data-nonce`` in the body) and a timestamp in an
inline script. Two sets of pages: ``/p/{i}`` sends no validators; ``/e/{i}``
sends an ETag and answers ``If-None-Match`` with 304 while the page's text is
unchanged. A "round" changes one paragraph on a tenth of the pages.

Every pass is one ``monitor check`` process over all pages of a set, with its own
SQLite log, as a cron job would run it. Its CPU time and peak RSS come from
``wait4`` (that process alone; the page server is not counted). "CPU per page" is
the pass's CPU less the start-up CPU, divided by the pages; start-up is measured
as a ``monitor check`` of a single page answered by 304. Cases:

* 304: the ETag set, second pass (the first one captured the ETags);
* no ETag, unchanged text: every body differs from the last capture, the text does not;
* no ETag, 10 % changed: the pass average when a tenth of the pages changed;
* changed page: a pass where every page changed one paragraph (extract, diff, rules,
  blobs, ``ChangeDetected``);
* first capture: the first pass over the no-ETag set (extract, blobs, an event).

Then ``monitor run`` (the daemon, its own process) checks the no-ETag set with
``interval = "1s"`` — more often than it can — so the rate is its capacity on
this machine: checks/s and CPU per check (the daemon and any worker processes it
started) over a window after a warm-up, and its peak RSS.

The machine may be shared: wall-clock figures then measure the neighbours too.
CPU time is the fairer measure; every figure is the best of ``--repeat`` passes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout

from tests.perf.bench_daemon import synthetic_base

TARGETS_MS = {
    "304": 1.0,
    "no ETag, unchanged text": 8.0,
    "changed page": 30.0,
    "first capture": 30.0,
}
STARTUP_TARGET_MS = 300.0
DAEMON_TARGET_PER_S = 250.0


# --------------------------------------------------------------------------- the page server


def serve(port_file: str, kb: int) -> None:
    """The page server (its own process): /p/{i}, /e/{i}; /_control?round=R."""
    from aiohttp import web

    before, after = synthetic_base(kb)
    head_end = before.index(b"</head>")
    main_start = before.index(b"<main>")
    state = {"round": 0, "requests": 0, "all": 0}
    rnd = random.Random()

    def revision(i: int) -> int:
        # Page i changes in the rounds r with r % 10 == i % 10: a tenth per round;
        # "all" changes every page at once.
        return (state["round"] + 9 - i % 10) // 10 + 100 * state["all"]

    def body(i: int, rev: int) -> bytes:
        token = f"{rnd.getrandbits(128):032x}"
        now = time.time()
        slot = (
            f"<p>Source {i}. Revision {rev}: from this period on we publish the number of "
            f"requests received from authority {i * 7 + rev} separately.</p>"
        ).encode()
        return b"".join(
            (
                before[:head_end],
                f'<meta name="csrf-token" content="{token}">'.encode(),
                before[head_end:main_start],
                f'<main data-nonce="{token[:12]}"><form action="/subscribe" method="post">'
                f'<input type="hidden" name="csrf" value="{token}"></form>'
                f"<script>window.__rendered_at={now:.6f};window.__rid='{token[:8]}';</script>".encode(),
                before[main_start + len(b"<main>") :],
                slot,
                after,
            )
        )

    async def plain(request: web.Request) -> web.Response:
        state["requests"] += 1
        i = int(request.match_info["i"])
        return web.Response(
            body=body(i, revision(i)), headers={"Content-Type": "text/html; charset=utf-8"}
        )

    async def tagged(request: web.Request) -> web.Response:
        state["requests"] += 1
        i = int(request.match_info["i"])
        rev = revision(i)
        etag = f'"{i}-{rev}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(
            body=body(i, rev),
            headers={"ETag": etag, "Content-Type": "text/html; charset=utf-8"},
        )

    async def control(request: web.Request) -> web.Response:
        if "round" in request.query:
            state["round"] = int(request.query["round"])
        if "all" in request.query:
            state["all"] = int(request.query["all"])
        return web.json_response({"cpu": time.process_time(), "requests": state["requests"]})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/p/{i}", plain)
        app.router.add_get("/e/{i}", tagged)
        app.router.add_get("/_control", control)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        await asyncio.to_thread(Path(port_file).write_text, str(runner.addresses[0][1]))
        await asyncio.Event().wait()

    asyncio.run(main())


def control(port: int, **query: int) -> dict[str, float]:
    from urllib.request import urlopen

    params = "&".join(f"{k}={v}" for k, v in query.items())
    with urlopen(f"http://127.0.0.1:{port}/_control?{params}", timeout=30) as response:
        return dict(json.loads(response.read()))


# --------------------------------------------------------------------------- the monitor side


def write_config(path: Path, port: int, prefix: str, n: int, db: Path, interval: str) -> None:
    lines = [
        "[monitor]",
        f'database = "sqlite:///{db}"',
        "allow_private = true",
        "concurrency = 16",
        "per_host = 16",
        f'default_interval = "{interval}"',
        "",
    ]
    for i in range(n):
        lines += [
            "[[source]]",
            f'id = "{prefix}{i:05}"',
            f'url = "http://127.0.0.1:{port}/{prefix}/{i}"',
        ]
        lines.append("")
    path.write_text("\n".join(lines))


# As installed: modules load from their cached bytecode. (A development environment
# with PYTHONDONTWRITEBYTECODE compiles every module at every start, ~0.1 s more.)
MONITOR_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run_check_measured(config: Path, *ids: str) -> tuple[float, float, list[str]]:
    """One ``monitor check`` process: (CPU seconds, peak RSS MB, outcome per source)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "check", "--config", str(config), *ids],
        env=MONITOR_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=config.parent,  # keys and journals the monitor writes stay in the scratch directory
    )
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"monitor check failed ({proc.returncode}): {err.decode()[-2000:]}")
    outcomes = [line.split()[1] for line in out.decode().splitlines() if line.strip()]
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, outcomes


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (the daemon and its extraction workers)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += [child for child, parent in parents.items() if parent == current]
    return found


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its descendants."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for member in descendants(pid):
        try:
            stat = Path(f"/proc/{member}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def status_mb(pid: int, key: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def daemon_phase(config: Path, port: int, warmup: float, seconds: float) -> dict[str, Any]:
    """``monitor run`` on the no-ETag set: capacity, CPU per check, peak RSS."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(config)],
        env=MONITOR_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=config.parent,
    )
    try:
        time.sleep(warmup)
        start = control(port)
        cpu, wall = tree_cpu(proc.pid), time.perf_counter()
        time.sleep(seconds)
        end = control(port)
        cpu, wall = tree_cpu(proc.pid) - cpu, time.perf_counter() - wall
        checks = int(end["requests"] - start["requests"])
        rss = status_mb(proc.pid, "VmHWM")
        workers = sum(status_mb(p, "VmRSS") for p in descendants(proc.pid) if p != proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return {
        "case": "daemon, no ETag, unchanged text",
        "checks": checks,
        "checks_per_s": round(checks / wall, 1),
        "cpu_ms_per_check": round(cpu * 1000 / max(checks, 1), 2),
        "server_cpu_ms_per_check": round((end["cpu"] - start["cpu"]) * 1000 / max(checks, 1), 2),
        "peak_rss_mb": round(rss, 1),
        "worker_processes_rss_mb": round(workers, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--page-kb", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=2, help="passes per steady case (best)")
    parser.add_argument("--daemon-seconds", type=float, default=30.0, help="0: skip the daemon")
    parser.add_argument("--daemon-warmup", type=float, default=15.0)
    parser.add_argument(
        "--startup-only",
        action="store_true",
        help="measure only the start-up (best of --startup-runs) and stop",
    )
    parser.add_argument("--startup-runs", type=int, default=3)
    parser.add_argument("--serve", metavar="PORT_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.page_kb)
        return

    n = args.pages
    with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        port_file = Path(tmp) / "port"
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port_file), "--page-kb", str(args.page_kb)]
        )
        rows: list[dict[str, Any]] = []

        def report(case: str, cpu_s: float, rss: float, outcomes: list[str]) -> None:
            per_page = (cpu_s - startup) * 1000 / n
            row = {
                "case": case,
                "pages": n,
                "cpu_ms_per_page": round(per_page, 2),
                "pass_cpu_s": round(cpu_s, 2),
                "peak_rss_mb": round(rss, 1),
                "outcomes": {o: outcomes.count(o) for o in sorted(set(outcomes))},
            }
            rows.append(row)
            print(json.dumps(row), flush=True)

        try:
            deadline = time.monotonic() + 30
            while not port_file.exists() or not port_file.read_text():
                if time.monotonic() > deadline:
                    raise SystemExit("the page server did not start")
                time.sleep(0.05)
            port = int(port_file.read_text())
            plain, tagged = Path(tmp) / "plain.toml", Path(tmp) / "tagged.toml"
            write_config(plain, port, "p", n, Path(tmp) / "plain.db", "1s")
            write_config(tagged, port, "e", n, Path(tmp) / "tagged.db", "1h")
            print(
                f"# {n} pages of ~{args.page_kb} KB, one `monitor check` process per pass, "
                f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            # The ETag set: first pass captures, then 304s.
            run_check_measured(tagged)
            runs = sorted(run_check_measured(tagged, "e00000")[0] for _ in range(args.startup_runs))
            startup = runs[0]
            print(
                json.dumps(
                    {
                        "case": "start-up (one page, 304)",
                        "cpu_ms": round(startup * 1000),
                        "median_ms": round(runs[len(runs) // 2] * 1000),
                    }
                ),
                flush=True,
            )
            if args.startup_only:
                return
            best = min((run_check_measured(tagged) for _ in range(args.repeat)), key=lambda r: r[0])
            report("304", *best)
            # The no-ETag set.
            report("first capture", *run_check_measured(plain))
            best = min((run_check_measured(plain) for _ in range(args.repeat)), key=lambda r: r[0])
            report("no ETag, unchanged text", *best)
            changed = []
            for round_ in range(1, args.repeat + 1):
                control(port, round=round_)
                changed.append(run_check_measured(plain))
            report("no ETag, 10 % changed", *min(changed, key=lambda r: r[0]))
            # What one changed page costs: a pass where every page changed one paragraph.
            everything = []
            for bump in range(1, args.repeat + 1):
                control(port, all=bump)
                everything.append(run_check_measured(plain))
            report("changed page", *min(everything, key=lambda r: r[0]))
            if args.daemon_seconds > 0:
                row = daemon_phase(plain, port, args.daemon_warmup, args.daemon_seconds)
                rows.append(row)
                print(json.dumps(row), flush=True)
        finally:
            server.terminate()
            server.wait(10)

    print(f"# load average at the end {os.getloadavg()[0]:.1f}")
    print(f"# start-up: {startup * 1000:.0f} ms CPU (target ≤ {STARTUP_TARGET_MS:.0f})")
    for row in rows:
        case = str(row["case"])
        if case in TARGETS_MS:
            value = float(row["cpu_ms_per_page"])
            verdict = "ok" if value <= TARGETS_MS[case] else "ABOVE TARGET"
            print(
                f"# {case}: {value:.1f} ms CPU per page "
                f"(target ≤ {TARGETS_MS[case]:.0f}): {verdict}"
            )
        elif case.startswith("daemon"):
            rate = float(row["checks_per_s"])
            verdict = "ok" if rate >= DAEMON_TARGET_PER_S else "BELOW TARGET"
            print(f"# {case}: {rate:.0f} checks/s (target ≥ {DAEMON_TARGET_PER_S:.0f}): {verdict}")


if __name__ == "__main__":
    main()
