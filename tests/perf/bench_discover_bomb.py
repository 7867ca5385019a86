"""Measure a sitemap gzip bomb against discovery: time to refuse it and peak memory (not a test).

Run: ``python tests/perf/bench_discover_bomb.py [GIB]`` (default 1). Builds about
1 MB of gzip that inflates to GIB GiB of XML, serves it from a local page server
in this process — once as a ``.xml.gz`` file (``application/gzip``), once as
``sitemap.xml`` with ``Content-Encoding: gzip`` — and runs the real ``monitor
check`` in a child process against a ``[[discover]]`` entry reading it. Prints,
per case, the wall time of that ``monitor check`` (start-up included), the child's
peak RSS (``ru_maxrss``) and the line it printed. The target: refused within 5 s,
peak RSS under 200 MB.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run from a checkout

from tests.pageserver import PageServer  # noqa: E402

MiB = 2**20


def bomb(gib: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    parts = [packer.compress(b'<?xml version="1.0"?><urlset>')]
    zeros = b" " * MiB
    for _ in range(gib * 1024):
        parts.append(packer.compress(zeros))
    parts.append(packer.flush())
    return b"".join(parts)


def run_check(directory: Path, url: str) -> tuple[float, int, str]:
    (directory / "sources.toml").write_text(
        f'[monitor]\ndatabase = "sqlite:///monitor.db"\n\n'
        f'[[discover]]\nid = "bomb"\nsitemap = "{url}"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.perf_counter() - started
    peak_kib = int(done.stderr.rsplit("PEAK_KIB ", 1)[1].split()[0])
    return elapsed, peak_kib * 1024, done.stdout.strip()


# The real CLI in the child, reporting its own peak RSS (Linux: KiB) when it ends.
CHILD = (
    "import resource, sys\n"
    "from monitor.cli import main\n"
    "code = main(['check'])\n"
    "print('PEAK_KIB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def main() -> None:
    gib = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    started = time.perf_counter()
    body = bomb(gib)
    print(
        f"gzip of {gib} GiB of XML: {len(body) / MiB:.2f} MiB "
        f"(built in {time.perf_counter() - started:.1f}s)"
    )
    server = PageServer().start()
    try:
        server.set("/sitemap.xml.gz", body, content_type="application/gzip")
        server.set(
            "/sitemap.xml",
            body,
            content_type="application/xml",
            headers={"Content-Encoding": "gzip"},
        )
        for label, path in (
            (".xml.gz file", "/sitemap.xml.gz"),
            ("Content-Encoding: gzip", "/sitemap.xml"),
        ):
            with tempfile.TemporaryDirectory() as tmp:
                elapsed, peak, out = run_check(Path(tmp), server.url(path))
            print(f"{label}: monitor check took {elapsed:.2f}s, peak RSS {peak / MiB:.0f} MiB")
            print(f"  {out}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
