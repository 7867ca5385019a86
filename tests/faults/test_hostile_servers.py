"""Hostile and broken web servers: each check ends in a recorded, clearly worded event.

Every case runs one check of a misbehaving page on 127.0.0.1 through the daemon's
path, while healthy pages on another server keep changing and being checked
(``World.check``). A case passes only if the check ends in the expected event with
a message a user can act on, in bounded time and memory, with its neighbours
checked on time and the log still verifying.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.check.fetch import MAX_ATTEMPTS, MAX_REDIRECTS, TIMEOUT_ATTEMPTS
from monitor.config.settings import SourceSettings
from monitor.events import StoredEvent
from tests.faults.conftest import FORBIDDEN, MAX_BYTES, TIMEOUT, Run, World
from tests.faults.hostile import (
    MIB,
    HostileServer,
    Reader,
    StubResolver,
    Writer,
    brotli_bomb,
    cut_mid_body,
    endless,
    gzip_bomb,
    html,
    redirect,
    respond,
    self_signed_context,
    status_storm,
    trickle,
)

MEMORY_BOUND_MB = 50


async def only_event(world: World, source_id: str) -> StoredEvent:
    events = await world.events(source_id)
    assert len(events) == 1, [e.type for e in events]
    return events[0]


async def failed(world: World, source: SourceSettings, kind: str) -> tuple[StoredEvent, Run]:
    """Check ``source``; it must record one ``FetchFailed`` of ``kind``, neighbours unharmed."""
    run = await world.check(source)
    event = await only_event(world, source.id)
    assert event.type == "FetchFailed", event.data
    assert event.data["error"] == kind, event.data
    assert event.data["url"] == source.url
    assert run.report.outcome == "failed"
    run.assert_neighbours_unaffected()
    await world.assert_log_verifies()
    return event, run


async def captured_text(world: World, source: SourceSettings) -> tuple[StoredEvent, str, Run]:
    """Check ``source``; it must record a capture (baseline or suspect); returns its text."""
    run = await world.check(source)
    event = await only_event(world, source.id)
    assert event.type in ("BaselineCaptured", "ContentSuspect"), event.data
    text = (await world.store.get_blob(event.data["capture"]["text_sha256"])).decode("utf-8")
    run.assert_neighbours_unaffected()
    await world.assert_log_verifies()
    return event, text, run


# --------------------------------------------------------------------------- slow and endless


async def test_a_body_trickled_a_byte_a_second_times_out_within_the_source_timeout(
    world: World, hostile: HostileServer
) -> None:
    url = hostile.route("/slowloris", trickle(10_000, every=1.0))
    event, run = await failed(world, SourceSettings(id="slowloris", url=url), "timeout")
    assert event.data["message"] == f"no complete answer within {TIMEOUT}s from {url}"
    # Each attempt is cut at the timeout however steadily bytes arrive; two attempts at most.
    assert hostile.hits["/slowloris"] == TIMEOUT_ATTEMPTS
    assert run.seconds < TIMEOUT_ATTEMPTS * TIMEOUT + 1.0


async def test_a_body_that_never_ends_is_cut_at_the_size_cap(
    world: World, hostile: HostileServer
) -> None:
    url = hostile.route("/endless", endless())
    event, run = await failed(world, SourceSettings(id="endless", url=url), "too_large")
    assert event.data["message"] == (
        f"body from {url} exceeds the cap of {MAX_BYTES} bytes (after decompression)"
    )
    assert run.seconds < TIMEOUT and run.rss_growth_mb < MEMORY_BOUND_MB


async def test_a_declared_body_over_the_cap_is_refused_before_it_is_read(
    world: World, hostile: HostileServer
) -> None:
    huge = 5 * MIB
    url = hostile.route("/declared", respond(200, bytes(huge), {"Content-Type": "text/html"}))
    event, _ = await failed(world, SourceSettings(id="declared", url=url), "too_large")
    assert event.data["message"] == f"{url} declares {huge} bytes; the cap is {MAX_BYTES}"


async def test_a_source_can_lower_its_own_cap(world: World, hostile: HostileServer) -> None:
    url = hostile.route("/big", html("<p>" + "policy text " * 20_000 + "</p>"))
    source = SourceSettings(id="small-cap", url=url, max_bytes=100_000)
    event, _ = await failed(world, source, "too_large")
    assert "the cap is 100000" in event.data["message"]


@pytest.mark.parametrize(
    ("encoding", "bomb"),
    [("gzip", gzip_bomb), ("br", brotli_bomb)],
    ids=["gzip", "brotli"],
)
async def test_a_compression_bomb_is_cut_at_the_cap_with_memory_bounded(
    world: World, hostile: HostileServer, encoding: str, bomb: Callable[[int], bytes]
) -> None:
    body = bomb(256)  # inflates to 256 MiB of zeros
    url = hostile.route(
        "/bomb", respond(200, body, {"Content-Type": "text/html", "Content-Encoding": encoding})
    )
    event, run = await failed(world, SourceSettings(id=f"{encoding}-bomb", url=url), "too_large")
    assert "after decompression" in event.data["message"]
    assert run.rss_growth_mb < MEMORY_BOUND_MB, f"memory grew {run.rss_growth_mb:.0f} MB"
    assert run.seconds < TIMEOUT


# --------------------------------------------------------------------------- redirects


async def test_a_redirect_loop_is_a_clear_failure(world: World, hostile: HostileServer) -> None:
    hostile.route("/loop-b", redirect("/loop-a"))
    url = hostile.route("/loop-a", redirect("/loop-b"))
    event, _ = await failed(world, SourceSettings(id="loop", url=url), "redirect_loop")
    assert event.data["message"] == (
        f"more than {MAX_REDIRECTS} redirects or a loop at {hostile.url('/loop-a')}"
    )
    assert hostile.hits["/loop-a"] == 1 and hostile.hits["/loop-b"] == 1


async def test_an_endless_chain_of_new_redirects_stops_at_the_limit(
    world: World, hostile: HostileServer
) -> None:
    async def deeper(path: str, reader: Reader, writer: Writer) -> None:
        await redirect(path + "x")(path, reader, writer)

    url = hostile.route("/chain/*", deeper)
    await failed(world, SourceSettings(id="chain", url=url.replace("*", "x")), "redirect_loop")
    assert sum(hostile.hits.values()) == MAX_REDIRECTS + 1


@pytest.mark.parametrize(
    ("target", "kind", "message"),
    [
        ("file:///etc/passwd", "redirect_scheme", "refusing to follow file URL file:///etc/passwd"),
        ("ftp://127.0.0.1/pub/x", "redirect_scheme", "refusing to follow ftp URL ftp://127.0.0.1"),
        (
            f"http://{FORBIDDEN}:{{port}}/admin",
            "forbidden_address",
            f"{FORBIDDEN} is in a network the configuration forbids",
        ),
    ],
    ids=["file", "ftp", "denied-address"],
)
async def test_a_redirect_out_of_bounds_is_refused(
    world: World, hostile: HostileServer, target: str, kind: str, message: str
) -> None:
    url = hostile.route("/out", redirect(target.format(port=hostile.port)))
    event, _ = await failed(world, SourceSettings(id="out", url=url), kind)
    assert message in event.data["message"]
    assert set(hostile.hits) == {"/out"}  # nothing was fetched from the target


async def test_a_name_that_does_not_resolve_is_a_dns_failure(
    world: World, stub_dns: dict[str, str]
) -> None:
    url = "http://nothing.invalid/report"
    event, _ = await failed(world, SourceSettings(id="no-dns", url=url), "dns")
    assert event.data["message"].startswith("cannot resolve nothing.invalid")
    # A DNS failure is not worth retrying: counted, not timed (a clock lies under load).
    assert StubResolver.queries.count("nothing.invalid") == 1


async def test_a_name_resolving_to_a_forbidden_address_is_refused(
    world: World, hostile: HostileServer, stub_dns: dict[str, str]
) -> None:
    hostile.route("/", html("<p>secret intranet page</p>"))
    stub_dns["rebound.invalid"] = FORBIDDEN
    url = f"http://rebound.invalid:{hostile.port}/"
    event, _ = await failed(world, SourceSettings(id="rebound", url=url), "forbidden_address")
    assert f"rebound.invalid resolves to a forbidden address: {FORBIDDEN}" in event.data["message"]
    assert not hostile.hits


# --------------------------------------------------------------------------- broken connections


async def test_a_connection_reset_mid_body_is_a_failure(
    world: World, hostile: HostileServer
) -> None:
    url = hostile.route("/rst", cut_mid_body(10_000, b"<html><body><p>half a pa", rst=True))
    event, _ = await failed(world, SourceSettings(id="rst", url=url), "reset")
    assert event.data["message"].startswith(
        f"{url} closed the connection before the whole body arrived ("
    )
    assert "received 24 of 10000 bytes" in event.data["message"]
    assert hostile.hits["/rst"] == MAX_ATTEMPTS  # a reset is transient: retried, then recorded


async def test_a_connection_closed_before_the_declared_length_is_a_failure(
    world: World, hostile: HostileServer
) -> None:
    url = hostile.route("/fin", cut_mid_body(10_000, b"<html><body><p>half a pa", rst=False))
    event, _ = await failed(world, SourceSettings(id="fin", url=url), "reset")
    assert event.data["message"].startswith(
        f"{url} closed the connection before the whole body arrived ("
    )
    assert "received 24 of 10000 bytes" in event.data["message"]
    assert hostile.hits["/fin"] == MAX_ATTEMPTS


async def test_a_self_signed_certificate_is_refused_unless_the_source_opts_out(
    world: World, tmp_path: Path
) -> None:
    tls = HostileServer(tls=self_signed_context(tmp_path)).start()
    try:
        url = tls.route("/", html("<h1>Transparency report</h1><p>Requests: 12.</p>"))
        event, _ = await failed(world, SourceSettings(id="tls", url=url), "tls")
        assert event.data["message"].startswith(f"TLS certificate not trusted for {url}")
        assert "self-signed" in event.data["message"]
        trusting = SourceSettings(id="tls-opt-out", url=url, verify_tls=False)
        _, text, _ = await captured_text(world, trusting)
        assert "Requests: 12." in text
    finally:
        tls.stop()


# --------------------------------------------------------------------------- error storms


async def test_a_storm_of_500s_is_retried_a_bounded_number_of_times(
    world: World, hostile: HostileServer
) -> None:
    url = hostile.route("/down", status_storm(500))
    event, run = await failed(world, SourceSettings(id="down", url=url), "http")
    assert event.data["status"] == 500
    assert event.data["message"] == f"HTTP 500 Busy from {url}"
    assert hostile.hits["/down"] == MAX_ATTEMPTS
    # Backed off between attempts (this world's retry_base is 0.05 s: waits of at least
    # 0.025 s, then 0.05 s): a lower bound, which no machine load can break.
    assert run.seconds >= 0.025 + 0.05


async def test_a_storm_of_429s_honours_retry_after_and_gives_up(
    world: World, hostile: HostileServer
) -> None:
    url = hostile.route("/limited", status_storm(429, {"Retry-After": "1"}))
    event, run = await failed(world, SourceSettings(id="limited", url=url), "http")
    assert event.data["status"] == 429
    assert hostile.hits["/limited"] == MAX_ATTEMPTS
    assert run.seconds >= (MAX_ATTEMPTS - 1) * 1.0  # each retry waited as asked


async def test_a_long_retry_after_fails_at_once_and_pauses_only_that_server(
    world: World, hostile: HostileServer
) -> None:
    url = hostile.route("/quiet", status_storm(503, {"Retry-After": "3600"}))
    event, run = await failed(world, SourceSettings(id="quiet", url=url), "http")
    assert event.data["status"] == 503
    assert "asks for 3600s of quiet" in event.data["message"]
    assert hostile.hits["/quiet"] == 1
    assert run.seconds < 3600 / 10  # it did not wait for the hour asked
    assert world.fetcher.host_pause(url) > 3000
    # The healthy pages on 127.0.0.1 but another port were checked meanwhile (above) and
    # are not held by that server's pause.
    assert world.fetcher.host_pause(world.healthy[0].url) == 0.0


# --------------------------------------------------------------------------- hostile content

REPORT = "<h1>Transparency report</h1><p>We received 1,204 government requests.</p>"


@pytest.mark.parametrize(
    "content_type",
    [None, "application/octet-stream", "image/png", "text/plain", "text/html; charset=nonsense"],
)
async def test_html_with_a_wrong_or_missing_content_type_is_still_read(
    world: World, hostile: HostileServer, content_type: str | None
) -> None:
    page = f"<!doctype html><html><head><title>R</title></head><body>{REPORT}</body></html>"
    url = hostile.route("/typed", html(page, content_type))
    event, text, _ = await captured_text(world, SourceSettings(id="typed", url=url))
    assert event.type == "BaselineCaptured"
    assert "We received 1,204 government requests." in text


async def test_binary_garbage_served_as_html_is_a_suspect_capture_not_a_crash(
    world: World, hostile: HostileServer
) -> None:
    garbage = random.Random(8).randbytes(300_000)
    url = hostile.route("/garbage", html(garbage))
    event, text, run = await captured_text(world, SourceSettings(id="garbage", url=url))
    assert event.type == "ContentSuspect" and event.data["reason"] == "garbled"
    assert "% of the text is undecodable bytes (a binary file" in event.data["detail"]
    assert event.data["capture"]["bytes"] == len(garbage)  # the exact body is kept as evidence
    assert "\x00" not in text  # what was decoded is text, never raw control bytes
    assert run.seconds < 5.0


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        # Declared UTF-8, but the bytes are windows-1252: invalid bytes become U+FFFD.
        (
            "<p>Menschenrechte für alle – Bericht 2024</p>".encode("cp1252"),
            "text/html; charset=utf-8",
            "Menschenrechte f\ufffdr alle \ufffd Bericht 2024",
        ),
        # UTF-8 and windows-1252 mixed in one page.
        (
            "<p>Déclaration – ".encode() + "données personnelles".encode("cp1252") + b"</p>",
            "text/html; charset=utf-8",
            "Déclaration – donn\ufffdes personnelles",
        ),
        # An unknown charset label: the next evidence (the meta tag) is used.
        (
            '<meta charset="windows-1251"><p>Отчёт о прозрачности</p>'.encode("cp1251"),
            "text/html; charset=x-no-such-charset",
            "Отчёт о прозрачности",
        ),
        # Declared UTF-16 with an odd number of bytes.
        (
            "<p>report</p>".encode("utf-16-le") + b"\x00\xd8\x41",
            "text/html; charset=utf-16",
            "report",
        ),
    ],
    ids=["utf8-label-cp1252-bytes", "mixed", "unknown-label", "truncated-utf16"],
)
async def test_invalid_and_mixed_encodings_give_a_sane_text(
    world: World, hostile: HostileServer, body: bytes, content_type: str, expected: str
) -> None:
    url = hostile.route("/encoded", html(body, content_type))
    _, text, _ = await captured_text(world, SourceSettings(id="encoded", url=url))
    assert expected in text, text


async def test_html_nested_100000_levels_deep_is_read_in_bounded_time(
    world: World, hostile: HostileServer
) -> None:
    depth = 100_000
    page = "<html><body>" + "<div>" * depth + "<p>The innermost sentence.</p>" + "</div>" * depth
    url = hostile.route("/deep", html(page))
    source = SourceSettings(id="deep", url=url, max_bytes=4 * MIB)
    event, text, run = await captured_text(world, source)
    assert event.type == "BaselineCaptured"
    assert "The innermost sentence." in text
    assert run.seconds < 10.0, f"took {run.seconds:.1f}s"  # quadratic parsing takes minutes


async def test_a_table_of_50000_rows_is_read_in_bounded_time(
    world: World, hostile: HostileServer
) -> None:
    rows = "".join(f"<tr><td>Country {i}</td><td>{i * 3}</td></tr>" for i in range(50_000))
    page = f"<html><body><table><tr><th>Country</th><th>Requests</th></tr>{rows}</table></body>"
    url = hostile.route("/table", html(page))
    source = SourceSettings(id="table", url=url, max_bytes=4 * MIB)
    event, text, run = await captured_text(world, source)
    assert event.type == "BaselineCaptured"
    assert "Country 49999" in text and "149997" in text
    assert run.seconds < 20.0, f"took {run.seconds:.1f}s"  # ~2 s on an idle machine
