"""Validation results and their reports (JSON for machines, text and HTML for people).

A report lists every failing column and check with a count and up to ``max_examples``
example rows, so the person fixing the data sees what is wrong without opening it.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from imdbops import clock
from imdbops.atomic import atomic_write_json, atomic_write_text

TABLE = "<table>"  # the "column" of table-level checks (empty table, row count, ...)


class DataValidationError(ValueError):
    """The data broke its contract; ``report_path`` holds the full JSON report."""

    def __init__(self, result: ValidationResult):
        self.result = result
        self.report_path = result.report_path
        problems = "; ".join(
            f"{f.column}: {f.check} ({f.count} row{'s' if f.count != 1 else ''})"
            for f in result.failures[:8]
        )
        more = f" and {len(result.failures) - 8} more" if len(result.failures) > 8 else ""
        super().__init__(
            f"{result.name} data failed validation ({result.source or 'in-memory frame'}): "
            f"{problems}{more}. Fix the data (or the extract) and rerun; "
            f"full report: {result.report_path}"
        )


@dataclass
class Failure:
    column: str
    check: str
    count: int
    examples: list[dict[str, Any]] = field(default_factory=list)
    detail: str = ""


@dataclass
class ValidationResult:
    name: str
    ok: bool
    n_rows: int
    columns: list[str]
    failures: list[Failure] = field(default_factory=list)
    warnings: list[Failure] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    report_path: Path | None = None
    checked_at: str = field(default_factory=lambda: clock.now().isoformat())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["report_path"] = str(self.report_path) if self.report_path else None
        return data


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        try:
            return _plain(value.item())
        except (ValueError, TypeError):
            pass
    return value if isinstance(value, (str, int, float, bool)) else str(value)


def example_rows(df: pd.DataFrame, index: list[Any], limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` rows of ``df`` by index label, as JSON-safe dicts with their row id."""
    rows = []
    for idx in index[:limit]:
        try:
            record = df.loc[idx]
        except (KeyError, TypeError):
            continue
        if isinstance(record, pd.DataFrame):
            record = record.iloc[0]
        rows.append({"_row": _plain(idx), **{k: _plain(v) for k, v in record.items()}})
    return rows


_BUILTIN_CHECKS = {
    "column_in_dataframe": "column_missing",
    "column_in_schema": "column_unexpected",
    "field_uniqueness": "unique",
    "not_nullable": "not_nullable",
}


def _check_name(schema: Any, column: str, check: str, number: Any) -> str:
    """A stable, readable name: the Check's own ``name`` rather than pandera's repr."""
    if check in _BUILTIN_CHECKS:
        return _BUILTIN_CHECKS[check]
    if check.startswith("dtype("):
        return "dtype"
    col = getattr(schema, "columns", {}).get(column)
    if col is not None and number is not None and not pd.isna(number):
        checks = col.checks
        if 0 <= int(number) < len(checks) and checks[int(number)].name:
            return str(checks[int(number)].name)
    return check


def failures_from_pandera(
    failure_cases: pd.DataFrame, df: pd.DataFrame, limit: int, schema: Any = None
) -> list[Failure]:
    """Group pandera's failure cases by (column, check) into counted failures with examples."""
    out = []
    cases = failure_cases.copy()
    cases["column"] = cases["column"].fillna(TABLE).astype(str)
    cases["check"] = cases["check"].astype(str)
    for (column, check), group in cases.groupby(["column", "check"], sort=False):
        name = _check_name(schema, column, check, group["check_number"].iloc[0])
        values = [_plain(v) for v in group["failure_case"].tolist()[:limit]]
        if name == "column_unexpected":
            for value in group["failure_case"].tolist():
                out.append(Failure(str(value), name, 1, [], "column is not in the contract"))
            continue
        if name == "column_missing":
            for value in group["failure_case"].tolist():
                out.append(Failure(str(value), name, 1, [], "required column is missing"))
            continue
        if name == "dtype":
            expected = check.removeprefix("dtype(").removesuffix(")")
            actual = str(df[column].dtype) if column in df else "?"
            detail = f"expected dtype {expected}, found {actual}; sample values: {values}"
            out.append(Failure(column, name, len(df), _unparsable(df, column, limit), detail))
            continue
        index = [i for i in group["index"].tolist() if i is not None and not pd.isna(i)]
        if not index:
            # The check could not run at all (e.g. a numeric range on text): every row fails.
            out.append(Failure(column, name, len(df), [], f"check errored: {values[0]}"))
            continue
        detail = f"failing values: {values}"
        out.append(Failure(column, name, len(index), example_rows(df, index, limit), detail))
    return out


def _unparsable(df: pd.DataFrame, column: str, limit: int) -> list[dict[str, Any]]:
    """Example rows whose value is not a number (the usual cause of a dtype failure)."""
    if column not in df:
        return []
    values = df[column]
    bad = values.notna() & pd.to_numeric(values, errors="coerce").isna()
    index = list(df.index[bad]) or list(df.index)
    return example_rows(df, index, limit)


def write_report(result: ValidationResult, reports_dir: Path) -> Path:
    """Write ``<name>.json``, ``<name>.txt`` and ``<name>.html``; return the JSON path."""
    reports_dir = Path(reports_dir)
    json_path = reports_dir / f"{result.name}.json"
    result.report_path = json_path
    atomic_write_json(json_path, result.to_dict())
    atomic_write_text(reports_dir / f"{result.name}.txt", render_text(result))
    atomic_write_text(reports_dir / f"{result.name}.html", render_html(result))
    return json_path


def render_text(result: ValidationResult) -> str:
    lines = [
        f"Validation of {result.name} data: {'PASSED' if result.ok else 'FAILED'}",
        f"source: {result.source or 'in-memory frame'}",
        f"rows: {result.n_rows}   columns: {', '.join(result.columns)}",
        f"checked at: {result.checked_at}",
        "",
    ]
    for title, items in (("FAILURES", result.failures), ("WARNINGS", result.warnings)):
        if not items:
            continue
        lines.append(f"{title} ({len(items)})")
        for f in items:
            lines.append(f"- column {f.column!r}, check {f.check!r}: {f.count} row(s)")
            if f.detail:
                lines.append(f"    {f.detail}")
            for ex in f.examples:
                lines.append(f"    e.g. {json.dumps(ex, default=str)}")
        lines.append("")
    if result.stats:
        lines.append(f"stats: {json.dumps(result.stats, default=str, sort_keys=True)}")
    return "\n".join(lines) + "\n"


def render_html(result: ValidationResult) -> str:
    esc = html.escape
    status = "PASSED" if result.ok else "FAILED"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Validation: {esc(result.name)} {status}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
        ".FAILED{color:#b00}.PASSED{color:#070}code{font-size:90%}</style></head><body>",
        f"<h1>{esc(result.name)} data: <span class='{status}'>{status}</span></h1>",
        f"<p>source: <code>{esc(str(result.source or 'in-memory frame'))}</code>; "
        f"rows: {result.n_rows}; checked at {esc(result.checked_at)}</p>",
    ]
    for title, items in (("Failures", result.failures), ("Warnings", result.warnings)):
        if not items:
            continue
        parts.append(f"<h2>{title}</h2><table><tr><th>column</th><th>check</th>")
        parts.append("<th>rows</th><th>detail</th><th>examples</th></tr>")
        for f in items:
            examples = "<br>".join(esc(json.dumps(ex, default=str)) for ex in f.examples)
            parts.append(
                f"<tr><td>{esc(f.column)}</td><td>{esc(f.check)}</td><td>{f.count}</td>"
                f"<td>{esc(f.detail)}</td><td><code>{examples}</code></td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "".join(parts)
