"""Benchmark browser checks: checks per minute and peak memory with 50 sources (not a test).

Run: ``python tests/perf/bench_browser.py [SOURCES] [POOL_SIZE]`` (defaults 50 and 2).
Each source is a local page that builds its text with JavaScript (a shell, a script,
~3 KB of text in tables and paragraphs), checked through the real pipeline into a
SQLite log: a first pass (baselines), a second pass (nothing changed) and a pass
with ``screenshot = true`` (full-page PNGs). Memory is sampled twice a second: the
browser's process tree (proportional set size), the Playwright driver, and this
Python process. CPU time is counted for this process (less the page server's
thread), the Playwright driver and every browser process, so the CPU cost per check
holds even on a busy machine where the wall-clock rate does not. The pages are
served from this machine, so the figures are the monitor's own cost, not the
network's.
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout

from monitor.check.browser import BrowserPool, unavailable_reason
from monitor.check.browser_process import process_memory, process_tree
from monitor.check.fetch import Fetcher
from monitor.check.netpolicy import NetworkPolicy
from monitor.check.pipeline import CheckRunner
from monitor.config.settings import MonitorSettings, Settings, SourceSettings
from monitor.store import open_store
from tests.pageserver import PageServer

MiB = 2**20


def shell(n: int) -> str:
    return (
        f"<!doctype html><html><head><title>Dashboard {n}</title></head><body>"
        f"<main id='app'></main><script src='/app{n}.js'></script></body></html>"
    )


def script(n: int) -> str:
    rows = "".join(
        f"<tr><td>Country {r}</td><td>{(n * 31 + r * 7) % 997}</td><td>{r * 3 % 100}%</td></tr>"
        for r in range(40)
    )
    paragraphs = "".join(
        f"<p>Section {p} of report {n}: we received requests from authorities and "
        f"disclosed data in a share of cases, as the table shows.</p>"
        for p in range(10)
    )
    html = f"<h1>Government requests, report {n}</h1>{paragraphs}<table>{rows}</table>"
    return f"document.getElementById('app').innerHTML = {html!r};"


@dataclass
class Peaks:
    browser: int = 0
    driver: int = 0
    running: bool = True


def driver_memory() -> int:
    """Memory of the Playwright driver (node) processes started by this process."""
    total = 0
    for pid in process_tree(os.getpid()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"run-driver" in cmdline:
            total += process_memory(pid)
    return total


def _times(stat_path: str, *, children: bool) -> float:
    """CPU seconds in a /proc stat file (utime+stime, plus reaped children's if asked)."""
    try:
        with open(stat_path) as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_seconds(server_thread: int | None) -> float:
    """CPU time the monitor has used: this process (less the page server's thread),
    the Playwright driver and every browser process (with the renderers they reaped)."""
    total = _times("/proc/self/stat", children=False)
    if server_thread is not None:
        total -= _times(f"/proc/self/task/{server_thread}/stat", children=False)
    for pid in process_tree(os.getpid())[1:]:
        total += _times(f"/proc/{pid}/stat", children=True)
    return total


async def sample(pool: BrowserPool, peaks: Peaks) -> None:
    while peaks.running:
        browser = await asyncio.to_thread(pool.memory)
        driver = await asyncio.to_thread(driver_memory)
        peaks.browser = max(peaks.browser, browser)
        peaks.driver = max(peaks.driver, driver)
        await asyncio.sleep(0.5)  # reading /proc costs CPU the checks need


async def one_pass(runner: CheckRunner, sources: list[SourceSettings], limit: int) -> float:
    gate = asyncio.Semaphore(limit)

    async def check(source: SourceSettings) -> str:
        async with gate:
            return (await runner.check(source)).outcome

    started = time.perf_counter()
    outcomes = await asyncio.gather(*(check(s) for s in sources))
    elapsed = time.perf_counter() - started
    counts = {o: outcomes.count(o) for o in sorted(set(outcomes))}
    print(f"    outcomes: {counts}")
    return elapsed


async def main(count: int, size: int) -> None:
    reason = unavailable_reason()
    if reason is not None:
        sys.exit(reason)
    server = PageServer().start()
    for n in range(count):
        server.set(f"/app{n}.js", script(n), content_type="application/javascript")
        server.set(f"/d{n}", shell(n))
    monitor = MonitorSettings(timeout=30, concurrency=16, per_host=count)
    sources = [
        SourceSettings(id=f"dash-{n}", url=server.url(f"/d{n}"), render="browser", select="#app")
        for n in range(count)
    ]
    shots = [replace(s, id=f"shot-{s.id}", screenshot=True) for s in sources]
    settings = Settings(path="bench", monitor=monitor, sources=tuple(sources + shots))
    print(
        f"{count} sources, pool of {size} pages, Chromium at /usr/bin/chromium, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start"
    )
    server_thread = server._thread.native_id
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            open_store(f"sqlite:///{tmp}/bench.db") as store,
            Fetcher(monitor, NetworkPolicy()) as fetcher,
            BrowserPool(monitor, NetworkPolicy(), size=size) as pool,
        ):
            runner = CheckRunner(store=store, fetcher=fetcher, settings=settings, browser=pool)
            await runner.reconcile()
            peaks = Peaks()
            sampler = asyncio.create_task(sample(pool, peaks))
            try:
                for label, batch in (
                    ("first pass (browser start + baselines)", sources),
                    ("second pass (unchanged)", sources),
                    ("screenshot pass (full-page PNG each)", shots),
                ):
                    print(f"  {label}")
                    cpu_before = cpu_seconds(server_thread)
                    elapsed = await one_pass(runner, batch, monitor.concurrency)
                    cpu = (cpu_seconds(server_thread) - cpu_before) / len(batch)
                    cores = os.cpu_count() or 1
                    print(
                        f"    {elapsed:.1f} s: {len(batch) / elapsed * 60:.0f} checks/min, "
                        f"{elapsed / len(batch) * 1000:.0f} ms per check (wall); "
                        f"{cpu * 1000:.0f} ms CPU per check, so at most "
                        f"{cores * 60 / cpu:.0f} checks/min on {cores} idle cores"
                    )
            finally:
                peaks.running = False
                await sampler
            print(
                f"  browser launches: {pool.launches}, pages: {pool.pages}, "
                f"restarts: {pool.restarts}, crashes: {pool.crashes}"
            )
    server.stop()
    python_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        f"  peak memory: browser tree {peaks.browser / MiB:.0f} MiB (PSS), "
        f"Playwright driver {peaks.driver / MiB:.0f} MiB, "
        f"this Python process {python_peak / MiB:.0f} MiB (max RSS)"
    )


if __name__ == "__main__":
    sources_arg = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    size_arg = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    asyncio.run(main(sources_arg, size_arg))
