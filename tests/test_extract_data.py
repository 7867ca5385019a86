"""JSON and CSV sources: canonical, order-insensitive text."""

from __future__ import annotations

import json

import pytest

from monitor.config.settings import SourceSettings
from monitor.extract.data import JsonPathError, parse_json_path
from monitor.extract.document import Extraction, extract


def run(body: str, content_type: str | None, **rules: object) -> Extraction:
    source = SourceSettings(id="s", url="https://example.org/api", **rules)  # type: ignore[arg-type]
    return extract(body.encode("utf-8"), content_type=content_type, source=source)


REPORT = {
    "period": "2024-H1",
    "data": {
        "reports": [
            {"country": "Hong Kong", "requests": 45, "accounts": 12, "disclosed": True},
            {"country": "Chile", "requests": 3, "rate": 0.5, "note": None, "tags": []},
        ]
    },
    "meta": {"generated": {}, "key.with dots": "x"},
}


def test_json_renders_one_sorted_field_per_leaf() -> None:
    result = run(json.dumps(REPORT), "application/json")
    assert result.format == "json"
    assert result.text == "\n".join(
        [
            "data.reports[0].accounts: 12",
            "data.reports[0].country: Hong Kong",
            "data.reports[0].disclosed: true",
            "data.reports[0].requests: 45",
            "data.reports[1].country: Chile",
            "data.reports[1].note: null",
            "data.reports[1].rate: 0.5",
            "data.reports[1].requests: 3",
            "data.reports[1].tags: []",
            "meta.generated: {}",
            'meta["key.with dots"]: x',
            "period: 2024-H1",
        ]
    )
    assert {b.kind for b in result.blocks} == {"field"}


def test_json_key_order_and_formatting_are_not_changes() -> None:
    shuffled = {
        "meta": {"key.with dots": "x", "generated": {}},
        "period": "2024-H1",
        "data": {"reports": [dict(reversed(r.items())) for r in REPORT["data"]["reports"]]},  # type: ignore[index]
    }
    assert run(json.dumps(shuffled, indent=4), "application/json").text == (
        run(json.dumps(REPORT, separators=(",", ":")), "application/json").text
    )


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("data.reports[*].country",
         "data.reports[0].country: Hong Kong\ndata.reports[1].country: Chile"),
        ("$.data.reports[1].requests", "data.reports[1].requests: 3"),
        ("data.reports[-1].requests", "data.reports[1].requests: 3"),
        ('meta["key.with dots"]', 'meta["key.with dots"]: x'),
        ("data.reports[0]", "data.reports[0].accounts: 12\ndata.reports[0].country: Hong Kong\n"
         "data.reports[0].disclosed: true\ndata.reports[0].requests: 45"),
        ("data.*[*].requests", "data.reports[0].requests: 45\ndata.reports[1].requests: 3"),
        ("period", "period: 2024-H1"),
    ],
)  # fmt: skip
def test_json_path_selects_values(path: str, text: str) -> None:
    result = run(json.dumps(REPORT), "application/json", json_path=path)
    assert result.select_matched is True
    assert result.text == text


@pytest.mark.parametrize("path", ["data.nothing", "data.reports[7]", "period.deeper", "[0]"])
def test_json_path_matching_nothing_is_flagged(path: str) -> None:
    result = run(json.dumps(REPORT), "application/json", json_path=path)
    assert result.select_matched is False
    assert result.text == ""


@pytest.mark.parametrize("path", ["data..reports", "data[", "a[x]", "a[1"])
def test_malformed_json_path_is_rejected_and_matches_nothing(path: str) -> None:
    with pytest.raises(JsonPathError):
        parse_json_path(path)
    assert run(json.dumps(REPORT), "application/json", json_path=path).select_matched is False


def test_json_scalars_strings_and_deep_documents() -> None:
    assert run('"Hello\\n  world"', "application/json").text == "$: Hello world"
    deep = "[" * 50_000 + "]" * 50_000  # deeper than json.loads can go: read as text
    assert run(deep, "application/json").format == "text"
    nested = json.dumps({"a": [[[[{"b": 1}]]]]})
    assert run(nested, None).text == "a[0][0][0][0].b: 1"


CSV = 'Country,Requests,Accounts\nHong Kong,45,12\nChile,,3\n"Bosnia, and Herzegovina",1,2\n'


def test_csv_rows_become_keyed_records_sorted_by_key() -> None:
    result = run(CSV, "text/csv")
    assert result.format == "csv"
    assert result.text == (
        "Bosnia, and Herzegovina · Requests: 1 · Accounts: 2\n"
        "Chile · Accounts: 3\n"
        "Hong Kong · Requests: 45 · Accounts: 12"
    )
    assert {b.kind for b in result.blocks} == {"record"}


def test_csv_row_order_is_not_a_change_but_a_value_is() -> None:
    lines = CSV.strip().split("\n")
    reordered = "\n".join([lines[0], *reversed(lines[1:])]) + "\n"
    assert run(reordered, "text/csv").text == run(CSV, "text/csv").text
    changed = run(CSV.replace("45", "0"), "text/csv").text.split("\n")
    assert changed[-1] == "Hong Kong · Requests: 0 · Accounts: 12"


@pytest.mark.parametrize(
    ("body", "csv_key", "text"),
    [
        ("region;country;n\nEU;FR;1\nEU;DE;2\nAS;HK;3\n", ("region", "country"),
         "AS · HK · n: 3\nEU · DE · n: 2\nEU · FR · n: 1"),
        ("Country\tRequests\nHong Kong\t45\n", (), "Hong Kong · Requests: 45"),
        ("Country|Requests\nHong Kong|45\n", ("COUNTRY",), "Hong Kong · Requests: 45"),
        ("a,b\n1,2\n", ("missing",), "1 · b: 2"),
        ('name,note\nx,"two\nlines"\n', (), "x · note: two lines"),
        ("a,b\n1,2,3\n\n,,\n", (), "1 · b: 2 · column 3: 3"),
    ],
)  # fmt: skip
def test_csv_dialects_and_keys(body: str, csv_key: tuple[str, ...], text: str) -> None:
    assert run(body, "text/csv", csv_key=csv_key).text == text
