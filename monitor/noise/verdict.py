"""What the noise rules say about one change of one source, for ``classify.decide``. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitor.config.settings import SourceSettings
from monitor.core.projections import SourceState
from monitor.events import Event, VolatilityLearned, VolatilityUnlearned
from monitor.noise.learned import Region, change_region, clip
from monitor.noise.volatile import VOLATILE, noise_class

# Severity of a quiet change that no rule matched.
QUIET_SEVERITY = {"volatile": "info", "chrome": "info", "dated": "low"}


@dataclass(frozen=True, slots=True)
class NoiseVerdict:
    """The quiet class of a change (None: real text), its region and what was learned."""

    classification: str | None
    region: Region | None = None
    streak: int | None = None
    learned: VolatilityLearned | None = None


def judge_change(
    state: SourceState,
    source: SourceSettings,
    old_text: str,
    new_text: str,
    new_chrome: Sequence[Sequence[int]],
    checks_since_event: int,
    known: bool = False,
) -> NoiseVerdict:
    """Classify a change by its tokens, its place (chrome), and the source's learned regions.

    Only changes to a *new* text (not ``known``: a flicker back to an earlier text is
    ``reverted``, and an A/B flicker is not a block that changes on every check) that
    no token or chrome rule explains count towards learning a region, and only
    consecutive ones (``checks_since_event == 1``: no unchanged check in between).
    """
    last = state.last_good
    old_chrome = last.chrome if last is not None else ()
    quiet = noise_class(old_text, new_text, old_chrome, new_chrome)
    if quiet is not None:
        return NoiseVerdict(quiet)
    region = change_region(old_text.split("\n"), new_text.split("\n"))
    if region is None:
        return NoiseVerdict(None)
    if any(r.region == region.key for r in state.learned):
        return NoiseVerdict(VOLATILE, region=region, streak=None)
    if known:
        return NoiseVerdict(None)
    streak = 1
    if state.streak is not None and state.streak[0] == region.key and checks_since_event == 1:
        streak = state.streak[1] + 1
    learned = None
    needed = source.learn_volatile_after
    if needed and streak >= needed:
        learned = VolatilityLearned(
            region=region.key,
            before=clip(region.before),
            after=clip(region.after),
            example=clip(" / ".join(region.new)),
            changes=streak,
        )
    return NoiseVerdict(None, region=region, streak=streak, learned=learned)


def unlearned(
    state: SourceState, source: SourceSettings, checks_since_event: int, changed: str | None
) -> list[Event]:
    """``VolatilityUnlearned`` for learned regions quiet on enough checks, this one included.

    ``changed``: the region this check changed (it is not quiet), if any.
    """
    events: list[Event] = []
    for learned in state.learned:
        if learned.region == changed:
            continue
        quiet = learned.quiet + checks_since_event
        if quiet >= source.unlearn_volatile_after:
            events.append(VolatilityUnlearned(region=learned.region, quiet_checks=quiet))
    return events
