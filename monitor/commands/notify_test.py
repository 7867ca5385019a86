"""``monitor notify-test [CHANNEL]``: send a test message to one channel, or to every channel.

Prints ``sent to NAME`` or ``FAILED NAME: reason`` per channel (never a URL) and
records nothing in the log. Exit 0 when every message went out, 1 when any
failed, 2 for an unknown channel name (the nearest known name is suggested).
"""

from __future__ import annotations

import argparse
import difflib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from monitor.commands import common

if TYPE_CHECKING:
    from monitor.config.settings import ChannelSettings, Settings


def add_parser(sub: common.Subparsers, options: argparse.ArgumentParser) -> None:
    parser = common.add_command(
        sub,
        options,
        "notify-test",
        run,
        description="Send a short test message through Apprise to CHANNEL (every [[channel]] "
        "when omitted) and report, per channel, whether it was accepted. Nothing is "
        "written to the log.",
    )
    parser.add_argument("channel", nargs="?", metavar="CHANNEL", help="a [[channel]] name")


def select_channels(settings: Settings, name: str | None) -> list[ChannelSettings]:
    if not settings.channels:
        raise common.UsageError(f"{settings.path} has no [[channel]] to test")
    if name is None:
        return list(settings.channels)
    known = {c.name: c for c in settings.channels}
    if name in known:
        return [known[name]]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(known))}"
    raise common.UsageError(f"unknown channel {name!r} in {settings.path}{hint}")


async def run(args: argparse.Namespace) -> int:
    import asyncio

    from monitor.notify.channels import send_test  # Apprise and its plugins: only when sending

    settings = common.load_settings(args)
    channels = select_channels(settings, args.channel)
    now = datetime.now(UTC)
    errors = await asyncio.gather(*(send_test(channel, now) for channel in channels))
    for channel, error in zip(channels, errors, strict=True):
        if error is None:
            print(f"sent to {channel.name}")
        else:
            print(f"FAILED {channel.name}: {error}")
    return 0 if all(error is None for error in errors) else 1
