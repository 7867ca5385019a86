"""Soak the real daemon: thousands of sources for minutes; prints figures (not a test).

Run from a checkout::

    python tests/perf/soak.py                           # 5,000 sources, 5 minutes
    python tests/perf/soak.py --sources 5000 --minutes 10 --interval 60

A page server in a *separate process* (it must not share the GIL with the monitor)
serves N small report pages (~6 KB) over ``--ports`` ports, so politeness works per
``host:port`` as it would across sites. Every page has an ETag and honours
``If-None-Match``; every ``--change-every`` seconds ``--change-percent`` of the pages
change one paragraph. The monitor side is the real ``Daemon`` (APScheduler, the
notifier, a real SQLite log), each source checked every ``--interval`` ± 10 %.

Measured after a warm-up — every source's first capture (all are new, so they arrive
in a burst) plus one interval for the backlog to drain, at least two intervals:

* memory: RSS sampled every 5 s; growth from the end of the warm-up to the end,
  and the least-squares slope in MB per minute;
* event-loop lag: a task sleeps 50 ms in a loop and records how late it wakes;
* every due check done: for each source, the longest gap between two checks and
  the number of checks against the number due; a source that missed a check is
  counted and named.

The verdict line says PASS or FAIL against these bounds: memory growth after the
warm-up under 25 MB and a slope under 2 MB/min, loop lag p99 under 250 ms, no
source with a gap over ``interval × 1.1 + 15 s``, and the log verifying at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
RSS_GROWTH_MB = 25.0
RSS_SLOPE_MB_PER_MIN = 2.0
LAG_P99_MS = 250.0
GAP_SLACK_S = 15.0

# --------------------------------------------------------------------------- the page server


def serve(sources: int, ports: int, change_every: float, change_percent: float) -> None:
    """The page server (its own process); prints its ports as one JSON line, then serves."""
    from aiohttp import web

    rng = random.Random(11)
    versions = [0] * sources
    words = ["request", "government", "account", "data", "order", "court", "law", "user",
             "disclosed", "country", "emergency", "content", "removal", "policy"]  # fmt: skip
    filler = [" ".join(rng.choice(words) for _ in range(40)).capitalize() + "." for _ in range(20)]

    async def page(request: web.Request) -> web.Response:
        i = int(request.match_info["i"])
        etag = f'"{i}-{versions[i]}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        body = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Transparency report "
            f"{i}</title></head><body><nav><a href='/'>Home</a></nav><main>"
            f"<h1>Government requests, report {i}</h1>"
            + "".join(f"<p>{filler[(i + k) % len(filler)]}</p>" for k in range(12))
            + f"<p>Revision {versions[i]}: we received {i * 7 + versions[i]} requests.</p>"
            "</main></body></html>"
        )
        return web.Response(
            text=body, content_type="text/html", charset="utf-8", headers={"ETag": etag}
        )

    async def change() -> None:
        count = max(1, int(sources * change_percent / 100))
        while True:
            await asyncio.sleep(change_every)
            for i in rng.sample(range(sources), count):
                versions[i] += 1

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/p/{i}", page)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        bound = []
        for _ in range(ports):
            site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
            await site.start()
            bound.append(runner.addresses[-1][1])
        print(json.dumps(bound), flush=True)
        await change()

    asyncio.run(main())


# --------------------------------------------------------------------------- the monitor side


def rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE / 1024 / 1024


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (t, y) in y per unit of t."""
    if len(points) < 2:
        return 0.0
    mean_t = statistics.fmean(t for t, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    num = sum((t - mean_t) * (y - mean_y) for t, y in points)
    den = sum((t - mean_t) ** 2 for t, _ in points)
    return num / den if den else 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def write_config(path: Path, ports: list[int], sources: int, interval: int) -> None:
    lines = ["[monitor]", f'default_interval = "{interval}s"', "", "[[rule]]",
             'id = "requests"', 'all = ["requests"]', 'severity = "medium"', ""]  # fmt: skip
    for i in range(sources):
        port = ports[i % len(ports)]
        lines += ["[[source]]", f'id = "s{i:05}"', f'url = "http://127.0.0.1:{port}/p/{i}"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")


async def soak(args: argparse.Namespace, ports: list[int], workdir: Path) -> bool:
    from monitor.audit.verify import verify_store
    from monitor.check.pipeline import CheckReport
    from monitor.config.parse import load_config
    from monitor.daemon.service import Daemon
    from monitor.store import open_store

    config = workdir / "sources.toml"
    db = workdir / "soak.db"
    write_config(config, ports, args.sources, args.interval)
    checks: dict[str, list[float]] = defaultdict(list)
    outcomes: Counter[str] = Counter()

    baselined: list[float] = []  # when the last first capture arrived

    def on_report(report: CheckReport) -> None:
        checks[report.source_id].append(time.monotonic())
        outcomes[report.outcome] += 1
        if report.outcome == "baseline" and outcomes["baseline"] == args.sources:
            baselined.append(time.monotonic())

    settings = load_config(config, environ={})
    daemon = Daemon(
        settings,
        database=f"sqlite:///{db}",
        config_path=config,
        environ={},
        handle_signals=False,
        on_report=on_report,
    )
    lags: list[tuple[float, float]] = []
    rss: list[tuple[float, float]] = []
    duration = args.minutes * 60.0
    stop = asyncio.Event()

    async def probe_lag() -> None:
        while not stop.is_set():
            before = time.monotonic()
            await asyncio.sleep(0.05)
            lags.append((before, time.monotonic() - before - 0.05))

    async def sample_rss() -> None:
        while not stop.is_set():
            rss.append((time.monotonic(), rss_mb()))
            await asyncio.sleep(5)

    cpu_start = time.process_time()
    task = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.ready.wait(), 120)
    started = time.monotonic()
    probes = [asyncio.create_task(probe_lag()), asyncio.create_task(sample_rss())]
    last_print = started
    while time.monotonic() - started < duration:
        await asyncio.sleep(1)
        if task.done():
            raise RuntimeError("the daemon stopped during the soak") from task.exception()
        if time.monotonic() - last_print >= 30:
            last_print = time.monotonic()
            print(f"  {last_print - started:5.0f}s  checks {sum(outcomes.values()):7d}  "
                  f"rss {rss_mb():6.1f} MB  {dict(outcomes)}", flush=True)  # fmt: skip
    ended = time.monotonic()
    stop.set()
    await asyncio.gather(*probes)
    daemon.request_stop()
    await asyncio.wait_for(task, 120)
    cpu = time.process_time() - cpu_start

    # Warm-up: every source's first capture (a burst: all are new), then one interval
    # for the backlog to drain and the schedule to settle; at least two intervals.
    warm = max(started + 2 * args.interval, (baselined or [ended])[0] + args.interval)
    after_warm_rss = [(t, m) for t, m in rss if t >= warm]
    growth = after_warm_rss[-1][1] - after_warm_rss[0][1] if after_warm_rss else 0.0
    per_min = slope([((t - warm) / 60, m) for t, m in after_warm_rss])
    lag_ms = [lag * 1000 for t, lag in lags if t >= warm] or [0.0]
    allowed_gap = args.interval * 1.1 + GAP_SLACK_S
    worst_gap = 0.0
    late: list[str] = []
    missing: list[str] = []
    for i in range(args.sources):
        source_id = f"s{i:05}"
        times = [t for t in checks.get(source_id, []) if t >= warm - allowed_gap]
        window = [warm, *times, ended] if times else [warm, ended]
        gaps = [b - a for a, b in itertools.pairwise(window)]
        worst = max(gaps)
        worst_gap = max(worst_gap, worst)
        if worst > allowed_gap:
            late.append(source_id)
        due = int((ended - warm) / (args.interval * 1.1))
        if len([t for t in times if t >= warm]) < due:
            missing.append(source_id)
    async with open_store(f"sqlite:///{db}", create=False) as store:
        head_seq, _ = await store.head()
        verified = await verify_store(store)
    total = sum(outcomes.values())
    print()
    print(f"sources {args.sources}, ports {len(ports)}, interval {args.interval}s ±10 %, "
          f"{args.minutes:g} min; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
          "cores")  # fmt: skip
    print(f"checks {total} ({total / (ended - started):.1f}/s), outcomes {dict(outcomes)}; "
          f"warm-up {warm - started:.0f}s (all baselines after "
          f"{(baselined or [ended])[0] - started:.0f}s)")  # fmt: skip
    print(
        f"events {head_seq}, database {db.stat().st_size / 1e6:.1f} MB, "
        f"CPU {cpu:.0f}s ({cpu / max(total, 1) * 1000:.2f} ms per check)"
    )
    print(
        f"rss start {rss[0][1]:.1f} MB, after warm-up {after_warm_rss[0][1] if after_warm_rss else 0:.1f} MB, "  # noqa: E501
        f"end {rss[-1][1]:.1f} MB; growth after warm-up {growth:+.1f} MB, "
        f"slope {per_min:+.2f} MB/min"
    )
    print(
        f"loop lag p50 {percentile(lag_ms, 0.5):.1f} ms, p99 {percentile(lag_ms, 0.99):.1f} ms,"
        f" max {max(lag_ms):.1f} ms"
    )
    print(
        f"longest gap between two checks of a source {worst_gap:.1f}s (allowed "
        f"{allowed_gap:.0f}s); late {len(late)}, short of due checks {len(missing)}"
        + (f" e.g. {(late or missing)[:5]}" if late or missing else "")
    )
    print(f"log verifies: {verified.ok}" + ("" if verified.ok else f" {verified.findings[:3]}"))
    ok = (
        growth < RSS_GROWTH_MB
        and per_min < RSS_SLOPE_MB_PER_MIN
        and percentile(lag_ms, 0.99) < LAG_P99_MS
        and not late
        and not missing
        and verified.ok
    )
    print("PASS" if ok else "FAIL")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, default=5000)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--interval", type=int, default=60, help="seconds between checks")
    parser.add_argument("--ports", type=int, default=10)
    parser.add_argument("--change-every", type=float, default=10.0)
    parser.add_argument("--change-percent", type=float, default=0.5)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.sources, args.ports, args.change_every, args.change_percent)
        return 0
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--sources", str(args.sources),
         "--ports", str(args.ports), "--change-every", str(args.change_every),
         "--change-percent", str(args.change_percent)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        ports = json.loads(server.stdout.readline())
        with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
            return 0 if asyncio.run(soak(args, ports, Path(tmp))) else 1
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    sys.exit(main())
