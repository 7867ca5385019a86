"""/healthz and /metrics: what an operator's probes and Prometheus read."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime

import jsonschema

from monitor.events import format_time, parse_time
from monitor.web.openapi import openapi_document
from tests.web.conftest import Client, ClientFactory
from tests.web.site import Site
from tests.web.test_api import response_schema

SAMPLE = re.compile(r'^([a-z_]+)(\{(?:[a-z_]+="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+]+|\+Inf)$')


def parse_metrics(text: str) -> dict[str, float]:
    """Samples by ``name{labels}``; fails on any line that is not valid exposition format."""
    samples: dict[str, float] = {}
    typed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram"), line
            typed.add(name)
            continue
        found = SAMPLE.match(line)
        assert found, f"not a Prometheus sample: {line!r}"
        name = found.group(1)
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in typed or family in typed, f"{name} has no TYPE line"
        samples[name + (found.group(2) or "")] = float(found.group(3))
    return samples


async def test_healthz_reports_lag_and_check_age_without_a_token(
    make_client: ClientFactory, site: Site
) -> None:
    client = await make_client(token="s3cret")
    response = await client.get("/healthz")
    body = await response.json()
    assert response.status == 200
    schema = response_schema(openapi_document(), "/healthz", 200)
    jsonschema.Draft202012Validator(schema).validate(body)
    head = site.events[-1].seq
    cursor = site.change("hk-requests").seq
    assert body["ok"] is True
    assert body["head_seq"] == head
    assert body["notifier_cursor"] == cursor and body["notifier_lag"] == head - cursor
    assert body["last_check_at"] is not None and body["last_check_age_seconds"] >= 0
    assert body["scheduler"] is None
    assert "s3cret" not in await response.text()


async def test_healthz_includes_the_daemons_liveness_and_fails_with_it(
    make_client: ClientFactory,
) -> None:
    state = {"ok": True, "jobs": 5, "last_tick_age_seconds": 1}
    client = await make_client(health=lambda: dict(state))
    body = await (await client.get("/healthz")).json()
    assert body["ok"] is True and body["scheduler"] == state
    state["ok"] = False
    response = await client.get("/healthz")
    assert response.status == 503
    assert (await response.json())["scheduler"]["ok"] is False


async def test_healthz_takes_the_daemons_later_last_check(make_client: ClientFactory) -> None:
    reported = {"last_check_at": datetime.now(UTC).isoformat()}
    client = await make_client(health=lambda: reported)
    body = await (await client.get("/healthz")).json()
    assert body["ok"] is True  # a report without "ok" is a live daemon
    assert body["last_check_at"] == format_time(parse_time(reported["last_check_at"]))
    assert body["last_check_age_seconds"] < 30
    reported["last_check_at"] = "2000-01-01T00:00:00+00:00"  # older than the log: ignored
    body = await (await client.get("/healthz")).json()
    assert body["last_check_at"] > "2020"


async def test_healthz_shows_any_value_the_daemon_reports(make_client: ClientFactory) -> None:
    started = datetime(2026, 3, 12, 8, 0, tzinfo=UTC)
    client = await make_client(health=lambda: {"ok": True, "started": started})
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json())["scheduler"]["started"] == str(started)


async def test_healthz_survives_a_broken_health_callable(make_client: ClientFactory) -> None:
    def broken() -> dict[str, object]:
        raise RuntimeError("scheduler gone")

    client = await make_client(health=broken)
    response = await client.get("/healthz")
    assert response.status == 503
    assert "scheduler gone" in (await response.json())["scheduler"]["error"]


async def test_metrics_count_what_the_log_records(client: Client, site: Site) -> None:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = parse_metrics(await response.text())
    types = Counter(e.type for e in site.events)
    for kind, count in types.items():
        assert samples[f'monitor_events_total{{type="{kind}"}}'] == count
    assert samples['monitor_checks_total{outcome="baseline"}'] == 5
    assert samples['monitor_checks_total{outcome="changed"}'] == 3
    assert samples['monitor_checks_total{outcome="reverted"}'] == 1
    assert samples['monitor_checks_total{outcome="suspect"}'] == 1
    assert samples['monitor_checks_total{outcome="failed"}'] == 1
    assert samples['monitor_fetch_failures_total{error="http"}'] == 1
    assert samples['monitor_changes_total{classification="substantive"}'] == 3
    assert samples['monitor_changes_total{classification="reverted"}'] == 1
    assert samples['monitor_changes_by_severity_total{severity="high"}'] == 1
    assert samples['monitor_notifications_total{outcome="sent",channel="team-mail"}'] == 1
    assert samples['monitor_notifications_total{outcome="failed",channel="team-webhook"}'] == 1
    assert samples['monitor_sources{status="failing"}'] == 1
    assert samples["monitor_log_head_seq"] == site.events[-1].seq
    # every capture (5 baselines, 4 changes, 1 suspect) has a duration
    captures = [e for e in site.events if "capture" in e.data]
    assert samples["monitor_check_duration_seconds_count"] == len(captures) == 10
    assert samples['monitor_check_duration_seconds_bucket{le="+Inf"}'] == len(captures)
    total_ms = sum(e.data["capture"]["elapsed_ms"] for e in captures)
    assert abs(samples["monitor_check_duration_seconds_sum"] - total_ms / 1000) < 1e-9
    buckets = [v for k, v in samples.items() if k.startswith("monitor_check_duration_seconds_b")]
    assert buckets == sorted(buckets)  # cumulative
