"""robots.txt, per origin, when ``respect_robots`` or a source's ``robots`` asks for it.

RFC 9309: rules are cached (``ROBOTS_TTL``, under the 24 h it allows); a robots.txt
that answers 4xx allows everything; one that cannot be read (5xx, no answer, a
redirect loop) disallows everything, and is asked for again after ``ROBOTS_RETRY``.
A refusal is ``FetchError(robots)``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import aiohttp

from monitor.check.response import read_capped
from monitor.errors import FetchError

if TYPE_CHECKING:
    import urllib.robotparser

ROBOTS_TTL = 12 * 3600.0  # RFC 9309 asks for at most 24 h of caching
ROBOTS_RETRY = 600.0  # an unreadable robots.txt is asked for again after ten minutes
ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309: parse at least 500 KiB
ROBOTS_REDIRECTS = 5
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class _RobotsEntry:
    """One origin's robots.txt: rules (``None`` = allow all) or why it could not be read."""

    expires: float  # monotonic time
    parser: urllib.robotparser.RobotFileParser | None
    problem: str | None


@dataclass
class RobotsRules:
    """Each origin's robots.txt as last read; ``check`` refuses what it disallows."""

    user_agent: str
    _entries: dict[str, _RobotsEntry] = field(default_factory=dict)  # origin -> rules

    async def check(
        self,
        url: str,
        session: aiohttp.ClientSession,
        check_url: Callable[[str], None],
        timeout_s: int,
    ) -> None:
        """Raise ``FetchError(robots)`` unless ``url``'s robots.txt lets us fetch it.

        ``check_url`` vets each URL asked for (the network policy), redirects included.
        """
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        entry = self._entries.get(origin)
        if entry is None or entry.expires < time.monotonic():
            try:
                async with asyncio.timeout(timeout_s):
                    entry = await _load(session, origin, check_url)
            except TimeoutError:
                entry = _RobotsEntry(
                    expires=time.monotonic() + ROBOTS_RETRY,
                    parser=None,
                    problem=f"no answer within {timeout_s}s",
                )
            self._entries[origin] = entry
        if entry.problem is not None:
            # RFC 9309 §2.3.1.4: an unreachable robots.txt means "disallow everything".
            raise FetchError(
                "robots",
                f"{origin}/robots.txt could not be read ({entry.problem}); not fetching "
                f"{url} while robots.txt is respected",
            )
        if entry.parser is not None and not entry.parser.can_fetch(self.user_agent, url):
            raise FetchError("robots", f"{origin}/robots.txt disallows {url} for our user agent")


async def _load(
    session: aiohttp.ClientSession, origin: str, check_url: Callable[[str], None]
) -> _RobotsEntry:
    url = origin + "/robots.txt"
    problem: str | None = None
    try:
        for _ in range(ROBOTS_REDIRECTS + 1):
            check_url(url)
            async with session.get(url, allow_redirects=False) as response:
                status = response.status
                if status in REDIRECT_STATUS and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    continue
                if 200 <= status < 300:
                    body = await read_capped(response, ROBOTS_MAX_BYTES, url)
                    import urllib.robotparser  # with urllib.request: only for a robots.txt

                    parser = urllib.robotparser.RobotFileParser(url)
                    parser.parse(body.decode("utf-8", errors="replace").splitlines())
                    return _RobotsEntry(
                        expires=time.monotonic() + ROBOTS_TTL, parser=parser, problem=None
                    )
                if 400 <= status < 500:
                    # RFC 9309 §2.3.1.3: "unavailable" robots.txt allows everything.
                    return _RobotsEntry(
                        expires=time.monotonic() + ROBOTS_TTL, parser=None, problem=None
                    )
                problem = f"HTTP {status}"
                break
        else:
            problem = f"more than {ROBOTS_REDIRECTS} redirects"
    except FetchError as exc:
        problem = str(exc)
    except (aiohttp.ClientError, OSError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    return _RobotsEntry(expires=time.monotonic() + ROBOTS_RETRY, parser=None, problem=problem)
