"""Benchmark ``monitor.diff.textdiff.diff_texts`` on big pages; prints CPU figures (not a test).

Run: ``python tests/perf/bench_diff.py``. The target is < 300 ms CPU for a 2 MB page
with 5% of its paragraphs edited, without degrading to a whole-page replacement.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout

from monitor.config.settings import RuleSettings
from monitor.core.rules import CompiledRule, compile_rules, match_rules
from monitor.diff.textdiff import apply_patch, diff_texts

TARGET = 2_000_000


def vocabulary(rnd: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rnd.choice(letters) for _ in range(rnd.randint(2, 9))) for _ in range(5000)]


def page(rnd: random.Random, words: list[str], words_per_block: tuple[int, int]) -> list[str]:
    """A structured page: headings, paragraphs, list items and table rows, ~2 MB."""
    lines: list[str] = []
    size = 0
    while size < TARGET:
        roll = rnd.random()
        if roll < 0.05:
            line = "#" * rnd.randint(1, 3) + " " + " ".join(rnd.choices(words, k=3)).title()
        elif roll < 0.20:
            line = "- " + " ".join(rnd.choices(words, k=rnd.randint(3, 12)))
        elif roll < 0.30:
            line = " | ".join(str(rnd.randint(0, 99999)) for _ in range(5))
        else:
            line = " ".join(rnd.choices(words, k=rnd.randint(*words_per_block))) + "."
        lines.append(line)
        size += len(line) + 1
    return lines


def edit(rnd: random.Random, words: list[str], lines: list[str], share: float) -> list[str]:
    """Edit ``share`` of the paragraphs: replace, insert or delete a word or two."""
    out = list(lines)
    paragraphs = [
        i for i, line in enumerate(lines) if not line.startswith(("#", "- ")) and "|" not in line
    ]
    for i in rnd.sample(paragraphs, int(len(paragraphs) * share)):
        tokens = out[i].split(" ")
        k = rnd.randrange(len(tokens))
        action = rnd.random()
        if action < 0.6:
            tokens[k] = rnd.choice(words)
        elif action < 0.8:
            tokens.insert(k, rnd.choice(words))
        elif len(tokens) > 1:
            del tokens[k]
        out[i] = " ".join(tokens)
    return out


def cjk_page(rnd: random.Random) -> list[str]:
    chars = "我们已暂停处理香港政府的请求执法机构数据透明度报告用户账户内容删除"
    lines = []
    size = 0
    while size < TARGET // 3:  # ~2 MB in UTF-8
        line = "".join(rnd.choices(chars, k=rnd.randint(30, 200))) + "。"
        lines.append(line)
        size += len(line) + 1
    return lines


def cjk_edit(rnd: random.Random, lines: list[str], share: float) -> list[str]:
    out = list(lines)
    for i in rnd.sample(range(len(lines)), int(len(lines) * share)):
        k = rnd.randrange(len(out[i]) - 1)
        out[i] = out[i][:k] + "恢" + out[i][k + 1 :]
    return out


def twenty_rules(words: list[str]) -> tuple[CompiledRule, ...]:
    """Rules shaped like real ones: all + any terms, some with none, near and a regex."""
    return compile_rules(
        [
            RuleSettings(
                id=f"rule-{k}",
                all=(words[k],),
                any=(words[k + 100], words[k + 200] + " " + words[k + 300]),
                none=(words[k + 400],),
                near=10 if k % 2 else None,
                regex=(rf"\b{words[k + 500]}\w*",) if k % 3 == 0 else (),
            )
            for k in range(20)
        ]
    )


def measure(
    label: str, old: str, new: str, repeat: int = 3, rules: tuple[CompiledRule, ...] = ()
) -> None:
    best = float("inf")
    result = diff_texts(old, new)
    for _ in range(repeat):
        start = time.process_time()
        result = diff_texts(old, new)
        best = min(best, time.process_time() - start)
    assert apply_patch(old, result.patch) == new
    s = result.stats
    print(
        f"{label:<44} {len(old) / 1e6:5.2f} MB  {best * 1000:7.1f} ms CPU  "
        f"changed={s['blocks_changed']} added={s['blocks_added']} removed={s['blocks_removed']} "
        f"moved={s['blocks_moved']} chars-={s['chars_removed']} chars+={s['chars_added']} "
        f"patch={len(result.patch) / 1000:.0f} KB"
    )
    if rules:
        timed(
            f"  then {len(rules)} rules on that diff",
            lambda: match_rules(rules, result, source_id="bench", source_tags=()),
        )


def timed(label: str, fn: Callable[[], object], repeat: int = 3) -> None:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    print(f"{label:<44} {best * 1000:7.1f} ms CPU")


def main() -> None:
    rnd = random.Random(20240601)
    words = vocabulary(rnd)
    rules = twenty_rules(words)
    for words_per_block in ((20, 120), (5, 30)):
        lines = page(rnd, words, words_per_block)
        old = "\n".join(lines)
        tag = f"{len(lines)} blocks of {words_per_block[0]}-{words_per_block[1]} words"
        print(f"-- {tag}")
        timed("identical texts", lambda old=old: diff_texts(old, old + ""))  # type: ignore[misc]
        for share in (0.01, 0.05, 0.20):
            new = "\n".join(edit(rnd, words, lines, share))
            measure(f"{share:.0%} of paragraphs edited", old, new, rules=rules)
        moved = list(lines)
        block = moved[100:150]
        del moved[100:150]
        moved[len(moved) // 2 : len(moved) // 2] = block
        measure("50 blocks moved", old, "\n".join(moved))
        rewritten = page(rnd, words, words_per_block)
        measure("whole page rewritten", old, "\n".join(rewritten), repeat=1, rules=rules)
    cjk = cjk_page(rnd)
    measure(
        "CJK, 5% of paragraphs: one character", "\n".join(cjk), "\n".join(cjk_edit(rnd, cjk, 0.05))
    )


if __name__ == "__main__":
    main()
