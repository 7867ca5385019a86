"""Benchmark a figures source's work per change on a 50k-row long CSV (~2 MB); prints figures.

Run: ``python tests/perf/bench_figures.py``. Not a test. The target (issue #22) is
under 2 s to read and diff the report: the text extraction (keyed CSV records),
the text diff, reading the new table, and comparing it with the previous one
(the check pipeline keeps the previous table, so it is not read again).
"""

from __future__ import annotations

import csv
import io
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout

from monitor.config.settings import (
    FigureRuleSettings,
    FiguresSettings,
    RuleSettings,
    SourceSettings,
)
from monitor.core.rules import compile_rules
from monitor.diff.textdiff import diff_texts
from monitor.extract.document import extract
from monitor.figures.decide import compare, figure_matches
from monitor.figures.read import read_table

T = TypeVar("T")
HEADER = [
    "Period Ending",
    "Country",
    "Data Request Type",
    "User Data Requests",
    "Users/Accounts Specified",
    "Percentage of requests where some data produced",
]
SETTINGS = FiguresSettings(key=("Country", "Data Request Type"), period="Period Ending")
SOURCE = SourceSettings(
    id="bench",
    url="https://example.org/r.csv",
    csv_key=("Country", "Data Request Type", "Period Ending"),
)
RULES = compile_rules(
    [
        RuleSettings(
            id="hk", figures=FigureRuleSettings(when="from_zero", where=(("Country", "Country 7"),))
        )
    ]
)


def periods(n: int) -> list[str]:
    return [f"{2000 + k // 2}-{'06-30' if k % 2 == 0 else '12-31'}" for k in range(n)]


def report(rnd: random.Random, n_periods: int) -> list[list[str]]:
    rows = []
    for period in periods(n_periods):
        for country in range(200):
            for kind in range(10):
                value = rnd.choice(["0", str(rnd.randint(1, 99_999)), "< 10", "0 - 249", ""])
                accounts, share = str(rnd.randint(0, 9_999)), f"{rnd.randint(0, 100)}%"
                rows.append([period, f"Country {country}", f"Type {kind}", value, accounts, share])
    return rows


def as_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([HEADER, *rows])
    return out.getvalue().encode()


CPU: list[float] = []


def timed(label: str, fn: Callable[[], T]) -> tuple[T, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    CPU.append(cpu)
    print(f"  {label:<34} {wall * 1000:8.0f} ms wall {cpu * 1000:8.0f} ms CPU")
    return result, wall


def main() -> None:
    rnd = random.Random(22)
    old_rows = report(rnd, 25)  # 25 half-years × 200 countries × 10 types = 50,000 rows
    new_rows = [list(r) for r in old_rows]
    for row in rnd.sample(new_rows, 5):
        row[3] = str(rnd.randint(1, 99))  # restatements
    del new_rows[rnd.randrange(len(new_rows))]  # a withdrawn row
    new_rows += [r for r in report(rnd, 26) if r[0] == periods(26)[-1]]  # a new half-year
    old, new = as_csv(old_rows), as_csv(new_rows)
    print(
        f"old report: {len(old_rows):,} rows, {len(old) / 1e6:.1f} MB; new: {len(new_rows):,} rows"
    )
    previous = read_table(old, "text/csv", SETTINGS, limit=1 << 30)
    old_text = extract(old, content_type="text/csv", source=SOURCE).text
    total = 0.0
    extraction, took = timed(
        "extract text (keyed CSV records)",
        lambda: extract(new, content_type="text/csv", source=SOURCE),
    )
    total += took
    _, took = timed("diff texts", lambda: diff_texts(old_text, extraction.text))
    total += took
    table, took = timed(
        "read the new table", lambda: read_table(new, "text/csv", SETTINGS, limit=1 << 30)
    )
    total += took
    delta, took = timed("compare with the previous table", lambda: compare(previous, table))
    total += took
    _, took = timed(
        "figure rules",
        lambda: figure_matches(RULES, delta, table, source_id="bench", source_tags=(), name="G"),
    )
    total += took
    print(
        f"  published {len(delta.published)}, restated {len(delta.restated)}, "
        f"withdrawn {len(delta.withdrawn)}"
    )
    print(
        f"total {total:.2f} s wall, {sum(CPU):.2f} s CPU "
        "(target < 2 s; wall time is noisy on a shared machine)"
    )


if __name__ == "__main__":
    main()
