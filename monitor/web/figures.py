"""Figures on the web: ``GET /api/sources/{id}/figures`` and the source page's chart.

Both read through ``monitor.figures.view`` (the log and its blobs), so they show
exactly what ``monitor figures`` prints. Filters: ``where=COLUMN=VALUE``
(repeatable), ``column=C`` (repeatable) and, for the API, ``as_of=TIME``.
Without filters the page draws the first value column for the keys with the
largest latest figures (at most ``chart.MAX_SERIES`` lines).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from monitor.errors import BlobMissingError, FiguresError
from monitor.events import ChangeDetected
from monitor.figures.chart import MAX_SERIES, Chart, Series, layout, series_of
from monitor.figures.history import FiguresHistory
from monitor.figures.series import FigureRow, figure_rows, figures_document
from monitor.figures.view import FiguresView, NoFigures, load_figures
from monitor.web.context import WebContext, context_of, path_part
from monitor.web.params import time_param

log = logging.getLogger(__name__)


routes = web.RouteTableDef()


def add_figures_routes(app: web.Application) -> None:
    app.router.add_routes(routes)


# COLUMN=VALUE with a column that is not blank. The same test as the OpenAPI pattern
# (ASCII white space only): Python's str.strip also removes \x1c-\x1f, which JSON
# Schema's \s does not, and the API must refuse exactly what its document forbids.
WHERE_PATTERN = "^[^=]*[^=\t\n\x0b\x0c\r ][^=]*="
_WHERE = re.compile(WHERE_PATTERN)


def _where(query: MultiMapping[str]) -> list[tuple[str, str]]:
    pairs = []
    for item in query.getall("where", []):
        if not _WHERE.match(item):
            raise ValueError(f"where expects COLUMN=VALUE, like Country=Hong Kong; got {item!r}")
        column, _, value = item.partition("=")
        pairs.append((column.strip(), value.strip().strip('"')))
    return pairs


@routes.get("/api/sources/{source_id}/figures")
async def figures_api(request: web.Request) -> web.Response:
    context = context_of(request)
    source_id = request.match_info["source_id"]
    query = request.query
    until = time_param(query, "as_of")
    if await context.store.stream_version(source_id) == 0:
        raise web.HTTPNotFound(text=f"no source {source_id!r} in the log")
    try:
        where = _where(query)
        view = await load_figures(context.store, source_id, until=until)
        rows = figure_rows(
            view.history, view.table, where=where, columns=query.getall("column", [])
        )
    except NoFigures as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    except (ValueError, FiguresError) as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    except BlobMissingError as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    document = figures_document(source_id, until, view.capture, view.table, view.history, rows)
    return web.json_response(document, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --------------------------------------------------------------------------- page


@dataclass(frozen=True, slots=True)
class FiguresSection:
    """What the source page shows about figures."""

    chart: Chart | None
    column: str
    columns: tuple[str, ...]
    where: tuple[tuple[str, str], ...]
    rows: int
    restated: int
    note: str
    api_href: str


def _capture_href(history: FiguresHistory, source_id: str) -> Any:
    def href(seq: int) -> str | None:
        capture = history.capture(seq)
        if capture is None:
            return None
        if capture.type == ChangeDetected.type:
            return f"/changes/{seq}"
        return f"/blobs/{capture.raw_sha256}"  # the baseline capture's raw body

    return href


def _busiest(series: list[Series]) -> list[Series]:
    """The series with the largest latest figure first, at most ``MAX_SERIES``."""

    def latest(s: Series) -> Decimal:
        values = [p.value for p in s.points if p.value is not None]
        return values[-1] if values else Decimal(-1)

    return sorted(series, key=lambda s: (-latest(s), s.label))[:MAX_SERIES]


async def figures_section(
    context: WebContext, source_id: str, settings: Mapping[str, Any], query: MultiMapping[str]
) -> FiguresSection | None:
    """The figures part of a source page, or None for a source without figures."""
    if not isinstance(settings.get("figures"), dict):
        return None
    api_href = f"/api/sources/{path_part(source_id)}/figures"
    try:
        where = _where(query)
        view: FiguresView = await load_figures(context.store, source_id)
        chosen = query.getall("column", [])[:1]
        rows: list[FigureRow] = figure_rows(view.history, view.table, where=where, columns=chosen)
    except (NoFigures, ValueError, FiguresError, BlobMissingError) as exc:
        return FiguresSection(None, "", (), (), 0, 0, str(exc), api_href)
    column = rows[0].values[0][0] if rows and rows[0].values else (chosen or [""])[0]
    series = series_of(rows, column)
    picked = series if where and len(series) <= MAX_SERIES else _busiest(series)
    title = f"{column} by {view.table.period_name}"
    note = (
        ""
        if len(picked) == len(series)
        else (
            f"Showing {len(picked)} of {len(series)} series (the largest latest figures); "
            "choose with ?where=COLUMN=VALUE."
        )
    )
    chart = layout(picked, title=title, href=_capture_href(view.history, source_id))
    return FiguresSection(
        chart=chart if picked else None,
        column=column,
        columns=view.table.columns,
        where=tuple(where),
        rows=len(rows),
        restated=sum(1 for r in rows if r.restatements),
        note=note or ("" if picked else "No figures match."),
        api_href=api_href,
    )
