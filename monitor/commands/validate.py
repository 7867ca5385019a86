"""``monitor validate``: check the configuration; nothing is written."""

from __future__ import annotations

import argparse

from monitor.commands import common


def add_parser(sub: common.Subparsers, options: argparse.ArgumentParser) -> None:
    common.add_command(
        sub,
        options,
        "validate",
        run,
        description="Check sources.toml and report every problem at once. Writes nothing.",
    )


async def run(args: argparse.Namespace) -> int:
    settings = common.load_settings(args)
    companies = {s.company for s in settings.sources if s.company}
    # Added only when there are entries: the line of a config without any stays as it was.
    discover = f", {len(settings.discover)} discover entries" if settings.discover else ""
    print(
        f"{settings.path}: ok — {len(settings.sources)} sources from {len(companies)} companies, "
        f"{len(settings.rules)} rules, {len(settings.channels)} channels{discover}"
    )
    return 0
