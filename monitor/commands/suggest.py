"""``monitor suggest URL|ID``: a ready ``[[source]]`` block for a page.

With a URL, the page is fetched a few times (``--times``, ``--wait`` seconds apart)
through the monitor's own fetcher and its address policy (``[monitor]`` settings of
the config when there is one: private addresses refused unless allowed). With the
id of a source already in the log, its stored captures are read instead (no
fetch). The analysis is ``monitor.noise.suggest``; the block goes to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from monitor.commands import common
from monitor.commands.check import network_policy

if TYPE_CHECKING:
    from monitor.config.settings import Settings

MAX_STORED = 5  # stored captures read for an id, newest ones


def add_parser(sub: common.Subparsers, options: argparse.ArgumentParser) -> None:
    parser = common.add_command(
        sub,
        options,
        "suggest",
        run,
        description="Fetch URL a few times (or read the stored captures of source ID) and "
        "print a [[source]] block: a select for the main content, a remove list, and the "
        "text that changed between captures.",
    )
    parser.add_argument("target", metavar="URL|ID", help="a page address, or a source id")
    parser.add_argument(
        "--times", type=int, default=3, help="fetches of a URL (default 3, at most 10)"
    )
    parser.add_argument(
        "--wait", type=float, default=5.0, help="seconds between fetches (default 5)"
    )


def _is_url(target: str) -> bool:
    return target.startswith(("http://", "https://"))


async def _fetch(settings: Settings | None, url: str, times: int, wait: float) -> list[bytes]:
    from monitor.check.fetch import Fetcher
    from monitor.clock import utc_now
    from monitor.config.settings import Settings, SourceSettings
    from monitor.extract.document import choose_format
    from monitor.noise.suggest import source_id_for

    monitor = settings.monitor if settings is not None else Settings(path="").monitor
    policy = network_policy(settings or Settings(path=""))
    source = SourceSettings(id=source_id_for(url), url=url)
    bodies: list[bytes] = []
    async with Fetcher(monitor, policy) as fetcher:
        for attempt in range(times):
            if attempt:
                await asyncio.sleep(wait)
            result = await fetcher.fetch(source, now=utc_now())
            if choose_format(result.body, result.content_type, None) != "html":
                raise common.UsageError(
                    f"{url} is not an HTML page ({result.content_type}): "
                    "add it with a plain [[source]], no select is needed"
                )
            bodies.append(result.body)
    return bodies


async def _stored(settings: Settings | None, args: argparse.Namespace) -> tuple[str, list[bytes]]:
    from monitor.events import CAPTURE_EVENTS, SETTINGS_EVENTS

    async with common.open_log(args, settings) as store:
        events = await store.read(stream=args.target)
        if not events:
            raise common.UsageError(
                f"{args.target!r} is neither a URL (http:// or https://) nor a source id "
                "in the log; `monitor log` lists the sources"
            )
        url = ""
        raws: list[str] = []
        for stored in events:
            event = stored.event
            if isinstance(event, SETTINGS_EVENTS):
                url = str(event.settings.get("url") or url)
            elif isinstance(event, CAPTURE_EVENTS):
                raw = event.capture.raw_sha256
                if raw and raw not in raws:
                    raws.append(raw)
        if not raws:
            raise common.UsageError(
                f"source {args.target!r} has no stored capture yet; run a check"
            )
        bodies = [await store.get_blob(raw) for raw in raws[-MAX_STORED:]]
    return url, bodies


async def run(args: argparse.Namespace) -> int:
    from monitor.noise.suggest import suggest

    if not 1 <= args.times <= 10:
        raise common.UsageError("--times must be between 1 and 10")
    if not 0 <= args.wait <= 3600:  # also refuses nan and inf
        raise common.UsageError("--wait must be between 0 and 3600 seconds")
    if not _is_url(args.target) and ("/" in args.target or args.target.startswith("www.")):
        raise common.UsageError(
            f"{args.target!r} is not a full address: write https://{args.target}"
        )
    settings = common.settings_if_present(args)
    known_id = None
    if _is_url(args.target):
        url = args.target
        try:
            urlsplit(url).port  # noqa: B018 - raises on a malformed host or port
        except ValueError as exc:
            raise common.UsageError(f"{url!r} is not a valid URL: {exc}") from exc
        bodies = await _fetch(settings, url, args.times, args.wait)
    else:
        url, bodies = await _stored(settings, args)
        known_id = args.target
    print(suggest(url, bodies, source_id=known_id, fresh=known_id is None).toml(), end="")
    return 0
