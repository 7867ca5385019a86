"""``/healthz`` (JSON) and ``/metrics`` (Prometheus text format 0.0.4).

Both are derived from the log, so a restarted web view reports the same totals:
checks by the outcome the log records (unchanged checks leave an event only as
the periodic ``ContentConfirmed``), fetch failures by kind, changes by
classification and severity, notification outcomes by channel name, and a
histogram of check durations from ``capture.elapsed_ms``. ``/healthz`` adds the
notifier's lag (head seq minus its cursor) and, in the daemon, the scheduler's
own liveness from the ``health`` callable (whose ``last_check_at``, when later,
is the last check: an unchanged check logs nothing); it is the one route that
needs no token, so it shows counts and ages only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from monitor.clock import utc_now
from monitor.events import format_time, parse_time
from monitor.store.pauses import HostPause, running_pauses
from monitor.web.context import WebContext, age_seconds, context_of
from monitor.web.model import ReadModel
from monitor.web.records import STATUSES

log = logging.getLogger(__name__)

PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
NOTIFIER_CURSOR = "notifier"


routes = web.RouteTableDef()


def add_ops_routes(app: web.Application) -> None:
    app.router.add_routes(routes)


async def health_report(context: WebContext, model: ReadModel) -> tuple[bool, dict[str, Any]]:
    """(healthy, the /healthz body)."""
    cursor = await context.store.get_cursor(NOTIFIER_CURSOR)
    scheduler: dict[str, Any] | None = None
    ok = True
    if context.health is not None:
        try:
            scheduler = dict(context.health())
        except Exception as exc:  # the daemon's callable must not take the health check down
            log.warning("health callable failed: %r", exc)
            scheduler = {"ok": False, "error": repr(exc)}
        ok = bool(scheduler.get("ok", True))
    last_check = _latest(model.last_check_at, (scheduler or {}).get("last_check_at"))
    body = {
        "ok": ok,
        "head_seq": model.head_seq,
        "last_event_at": model.head_recorded_at,
        "last_check_at": last_check,
        "last_check_age_seconds": age_seconds(last_check, utc_now()),
        "notifier_cursor": cursor,
        "notifier_lag": max(0, model.head_seq - cursor),
        "scheduler": scheduler,
    }
    return ok, body


def _latest(logged: str | None, reported: object) -> str | None:
    """The later of the log's last check and the daemon's (unchanged checks log nothing)."""
    if not isinstance(reported, str) or not reported:
        return logged
    try:
        daemon = format_time(parse_time(reported))
    except ValueError:
        return logged
    return daemon if logged is None or daemon > logged else logged


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    context = context_of(request)
    model = await context.follower.current()
    ok, body = await health_report(context, model)
    # default=str: whatever the daemon's callable reports (times, paths) still serializes.
    return web.json_response(
        body, status=200 if ok else 503, dumps=lambda v: json.dumps(v, default=str)
    )


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    context = context_of(request)
    model = await context.follower.current()
    _, health = await health_report(context, model)
    paused = await running_pauses(context.store, utc_now())
    text = render_metrics(model, notifier_lag=int(health["notifier_lag"]), paused=paused)
    return web.Response(text=text, headers={"Content-Type": PROMETHEUS_TYPE})


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{name}="{_label(value)}"' for name, value in pairs)
    return "{" + inner + "}" if inner else ""


def _seconds(ms: int) -> str:
    return repr(ms / 1000)


def render_metrics(model: ReadModel, *, notifier_lag: int, paused: Iterable[HostPause] = ()) -> str:
    """The Prometheus exposition of ``model`` and the host pauses running; pure."""
    c = model.counters
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")

    family("monitor_events_total", "counter", "Events in the log, by type.")
    for kind, count in sorted(c.events.items()):
        lines.append(f"monitor_events_total{_labels([('type', kind)])} {count}")
    family(
        "monitor_checks_total",
        "counter",
        "Checks recorded in the log, by outcome (unchanged: periodic confirmations only).",
    )
    outcomes = (
        "baseline",
        "changed",
        "reverted",
        "quiet",  # volatile, dated or chrome changes (monitor.noise)
        "pending",
        "unchanged",
        "suspect",
        "failed",
        "deferred",
    )
    for outcome in outcomes:
        lines.append(f"monitor_checks_total{_labels([('outcome', outcome)])} {c.checks[outcome]}")
    family("monitor_fetch_failures_total", "counter", "Failed fetches, by error kind.")
    for kind, count in sorted(c.fetch_failures.items()):
        lines.append(f"monitor_fetch_failures_total{_labels([('error', kind)])} {count}")
    family("monitor_changes_total", "counter", "Detected changes, by classification.")
    for kind in sorted({"substantive", "reverted", *c.changes}):
        lines.append(
            f"monitor_changes_total{_labels([('classification', kind)])} {c.changes[kind]}"
        )
    family("monitor_changes_by_severity_total", "counter", "Detected changes, by severity.")
    for severity, count in sorted(c.changes_by_severity.items()):
        lines.append(
            f"monitor_changes_by_severity_total{_labels([('severity', severity)])} {count}"
        )
    family("monitor_notifications_total", "counter", "Notification attempts, by outcome.")
    for (outcome, channel), count in sorted(c.notifications.items()):
        labels = _labels([("outcome", outcome), ("channel", channel)])
        lines.append(f"monitor_notifications_total{labels} {count}")
    family("monitor_check_duration_seconds", "histogram", "Fetch time of recorded captures.")
    hist = c.durations
    for bound, count in zip(hist.buckets, hist.counts, strict=True):
        lines.append(f'monitor_check_duration_seconds_bucket{{le="{_seconds(bound)}"}} {count}')
    lines.append(f'monitor_check_duration_seconds_bucket{{le="+Inf"}} {hist.count}')
    lines.append(f"monitor_check_duration_seconds_sum {_seconds(hist.total_ms)}")
    lines.append(f"monitor_check_duration_seconds_count {hist.count}")
    family("monitor_sources", "gauge", "Sources in the log, by status.")
    counts = model.status_counts()
    for status in STATUSES:
        lines.append(f"monitor_sources{_labels([('status', status)])} {counts[status]}")
    family("monitor_log_head_seq", "gauge", "The seq of the last event in the log.")
    lines.append(f"monitor_log_head_seq {model.head_seq}")
    family("monitor_notifier_lag_events", "gauge", "Events the notifier has not read yet.")
    lines.append(f"monitor_notifier_lag_events {notifier_lag}")
    family(
        "monitor_timestamps_total",
        "counter",
        "RFC 3161 time stamps of checkpoints, by outcome (stamped, failed) and TSA.",
    )
    for (outcome, tsa), count in sorted(c.timestamps.items()):
        lines.append(
            f"monitor_timestamps_total{_labels([('outcome', outcome), ('tsa', tsa)])} {count}"
        )
    family(
        "monitor_third_party_captures_total",
        "counter",
        "Captures asked of outside archives (Save Page Now), by outcome and archive.",
    )
    for (outcome, archive), count in sorted(c.third_party.items()):
        labels = _labels([("outcome", outcome), ("archive", archive)])
        lines.append(f"monitor_third_party_captures_total{labels} {count}")
    family("monitor_unreadable_events_total", "counter", "Events the web view could not read.")
    lines.append(f"monitor_unreadable_events_total {c.unreadable}")
    pauses = sorted(paused, key=lambda p: p.host)
    family("monitor_hosts_paused", "gauge", "Hosts that asked for quiet (Retry-After) just now.")
    lines.append(f"monitor_hosts_paused {len(pauses)}")
    family(
        "monitor_host_paused_until_seconds",
        "gauge",
        "Unix time until which a host asked for quiet; no request goes to it before then.",
    )
    for pause in pauses:
        until = repr(pause.until.timestamp())
        lines.append(f"monitor_host_paused_until_seconds{_labels([('host', pause.host)])} {until}")
    return "\n".join(lines) + "\n"
