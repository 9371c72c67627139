"""The replay's report: ``replay.json`` (every number) and ``report.html`` (the same numbers
as plots a person would rather look at, PNGs embedded, plus two short tables).

Every number comes from a command's own output recorded by ``periods``: realised ROC-AUC
per version and scoring month from the last ``monitor performance`` report, drift share
from ``monitor run``, decisions from the promote task's result, sizes and durations as
measured around the commands.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from imdbops.atomic import atomic_path, atomic_write_json, atomic_write_text

REPORT_JSON = "replay.json"
REPORT_HTML = "report.html"
PLOTS_DIR = "plots"
MARKERS = {"PROMOTE": ("^", "tab:green"), "HOLD": ("o", "tab:orange"), "REJECT": ("x", "tab:red")}


def _mb(n: int | float) -> float:
    return float(n) / 1e6


def realised_by_version(periods: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{version: {"test": auc, "points": [(period date, roc_auc, rows)]}}``, a scoring
    month mapped to the period stamped in it. Each (version, month) is taken from the newest
    performance report that judged it: with ``monitoring.performance_window_days`` the last
    report holds only the recent months."""
    month_to_date = {p["date"][:7]: p["date"] for p in periods}
    tests: dict[str, Any] = {}
    months: dict[str, dict[str, tuple]] = {}
    for period in periods:
        for v in (period.get("performance") or {}).get("versions") or []:
            version = str(v["model_version"])
            tests[version] = (v.get("test_metrics") or {}).get("roc_auc")
            for m in v.get("months") or []:
                point = (
                    month_to_date.get(m["month"], m["month"] + "-01"),
                    m["metrics"].get("roc_auc"),
                    m["rows"],
                )
                months.setdefault(version, {})[m["month"]] = point
    return {
        version: {"test": tests[version], "points": [by[m] for m in sorted(by)]}
        for version, by in sorted(months.items(), key=lambda kv: (len(kv[0]), kv[0]))
        if by
    }


def decisions(periods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every gate decision in order: from the period's training run and from the
    retraining a check triggered."""
    rows = []
    for p in periods:
        t = p.get("training")
        if t and t.get("fresh") and t.get("decision"):
            rows.append({"date": p["date"], "trigger": t.get("why"), **_decision(t)})
        for check in ("drift", "performance"):
            retrain = (p.get(check) or {}).get("retrain")
            if isinstance(retrain, dict) and isinstance(retrain.get("decision"), dict):
                rows.append({"date": p["date"], "trigger": check, **_decision(retrain["decision"])})
    return rows


def _decision(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": str(d.get("version") or d.get("challenger_version")),
        "decision": d.get("decision"),
        "reason": d.get("reason"),
        "champion_after": d.get("champion_after"),
    }


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def plots(periods: list[dict[str, Any]], drift_threshold: float) -> dict[str, str]:
    """``{name: base64 PNG}`` for the five plots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dates = [p["date"] for p in periods]
    x = {d: i for i, d in enumerate(dates)}
    out: dict[str, str] = {}

    fig, ax = plt.subplots(figsize=(9, 4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (version, info) in enumerate(
        sorted(
            realised_by_version(periods).items(),
            key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0,
        )
    ):
        c = colours[i % len(colours)]
        pts = [(x[d], auc) for d, auc, _ in info["points"] if auc is not None and d in x]
        if pts:
            ax.plot(*zip(*pts, strict=True), "o-", color=c, label=f"v{version} realised")
        if info["test"] is not None:
            ax.axhline(info["test"], color=c, ls="--", lw=1, alpha=0.7)
    ax.set_title("ROC-AUC on titles rated since they were scored (dashed: the version's holdout)")
    ax.set_ylabel("ROC-AUC")
    _xticks(ax, dates)
    if ax.get_legend_handles_labels()[0]:
        _legend_below(ax, ncol=6)
    out["realised_auc"] = _png(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 3))
    shares = [(p.get("drift") or {}).get("drift_share") for p in periods]
    detected = [(p.get("drift") or {}).get("drift_detected") for p in periods]
    ax.bar(range(len(dates)), [s or 0 for s in shares],
           color=["tab:red" if d else "tab:blue" for d in detected])  # fmt: skip
    ax.axhline(drift_threshold, color="k", ls="--", lw=1, label="drift threshold")
    ax.set_ylim(0, 1)
    ax.set_title("Share of drifted features in each period's API traffic (red: drift)")
    _xticks(ax, dates)
    ax.legend(fontsize=8)
    out["drift"] = _png(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 3.5))
    champions = [_int(p.get("champion")) for p in periods]
    ax.step(range(len(dates)), champions, where="mid", color="k", label="champion (served)")
    for row in decisions(periods):
        marker, colour = MARKERS.get(str(row["decision"]), ("s", "grey"))
        ax.scatter(
            [x[row["date"]]], [_int(row["version"])], marker=marker, color=colour, s=70, zorder=3
        )
    for name, (marker, colour) in MARKERS.items():
        ax.scatter([], [], marker=marker, color=colour, label=name)
    ax.set_ylabel("model version")
    ax.set_title("Which version served each period, and the gate's decision on each new one")
    _xticks(ax, dates)
    ax.legend(fontsize=8, ncol=4)
    out["versions"] = _png(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 3.5))
    places = sorted({k for p in periods for k in (p.get("state") or {})})
    series = [[_mb((p.get("state") or {}).get(k, 0)) for p in periods] for k in places]
    if places:
        ax.stackplot(range(len(dates)), series, labels=places)
        ax.legend(fontsize=7, ncol=4, loc="upper left")
    ax.set_ylabel("MB")
    ax.set_title("State kept after each period (local folders and object-store prefixes)")
    _xticks(ax, dates)
    out["state"] = _png(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 3.5))
    steps = list(dict.fromkeys(k for p in periods for k in p.get("steps") or {}))
    bottom = [0.0] * len(periods)
    for k in steps:
        vals = [(p.get("steps") or {}).get(k, 0.0) for p in periods]
        ax.bar(range(len(dates)), vals, bottom=bottom, label=k)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.set_ylabel("seconds")
    ax.set_title("Wall time of each step, per period")
    _xticks(ax, dates)
    _legend_below(ax, ncol=len(steps))
    out["durations"] = _png(fig)
    plt.close(fig)
    return out


def _int(v: Any) -> float:
    try:
        return int(v)
    except (TypeError, ValueError):
        return float("nan")


def _legend_below(ax, ncol: int) -> None:
    """Under the x labels, so it never hides a bar or a point."""
    ax.legend(fontsize=8, ncol=max(1, ncol), loc="upper center", bbox_to_anchor=(0.5, -0.3))


def _xticks(ax, dates: list[str]) -> None:
    step = max(1, len(dates) // 12)
    ax.set_xticks(range(0, len(dates), step))
    ax.set_xticklabels(dates[::step], rotation=30, ha="right", fontsize=8)
    ax.grid(alpha=0.3)


def summary(periods: list[dict[str, Any]]) -> dict[str, Any]:
    state = [sum((p.get("state") or {}).values()) for p in periods]
    seconds = [sum((p.get("steps") or {}).values()) for p in periods]
    return {
        "periods": len(periods),
        "champions": [p.get("champion") for p in periods],
        "decisions": decisions(periods),
        "state_bytes": state,
        "period_seconds": [round(s, 2) for s in seconds],
        "realised": realised_by_version(periods),
    }


def write_report(folder: Path, settings: dict[str, Any], periods: list[dict[str, Any]]) -> Path:
    """``folder/replay.json``, ``folder/report.html`` and each plot as
    ``folder/plots/<name>.png`` (for a docs page); returns the HTML's path."""
    folder = Path(folder)
    data = {"settings": settings, "summary": summary(periods), "periods": periods}
    atomic_write_json(folder / REPORT_JSON, data)
    images = plots(periods, float(settings.get("drift_threshold", 0.5)))
    for name, png in images.items():
        with atomic_path(folder / PLOTS_DIR / f"{name}.png") as tmp:
            tmp.write_bytes(base64.b64decode(png))
    return atomic_write_text(folder / REPORT_HTML, render_html(data, images))


CAPTIONS = {
    "versions": "Served versions and the promotion gate",
    "realised_auc": "Realised ROC-AUC per version (delayed ground truth)",
    "drift": "Drift per period",
    "state": "State size",
    "durations": "Step durations",
}


def render_html(data: dict[str, Any], images: dict[str, str]) -> str:
    e = html.escape
    s = data["settings"]
    periods = data["periods"]
    rows = []
    for p in periods:
        t = p.get("training") or {}
        served = ", ".join(
            f"v{v}: {n}"
            for v, n in sorted((p.get("traffic") or {}).get("answered_by_version", {}).items())
        )
        perf = p.get("performance") or {}
        drift = p.get("drift") or {}
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{e(str(c))}</td>"
                for c in (
                    p["date"],
                    f"{p['snapshot']['titles']:,} / {p['snapshot']['unrated']:,}",
                    f"v{p.get('champion')}",
                    served or "-",
                    f"v{t.get('version')} {t.get('decision')}" if t.get("fresh") else "-",
                    "-"
                    if drift.get("drift_share") is None
                    else f"{drift['drift_share']:.2f}"
                    + (" drift" if drift.get("drift_detected") else ""),
                    f"{perf.get('verdict', '-')} ({perf.get('rows_matched', 0):,} rows)",
                    f"{_mb(sum((p.get('state') or {}).values())):.1f}",
                    f"{sum((p.get('steps') or {}).values()):.0f}",
                )
            )
            + "</tr>"  # fmt: skip
        )
    decision_rows = "".join(
        f"<tr><td>{e(d['date'])}</td><td>v{e(d['version'])}</td><td>{e(str(d['trigger']))}</td>"
        f"<td><b>{e(str(d['decision']))}</b></td><td>{e(str(d['reason']))}</td></tr>"
        for d in data["summary"]["decisions"]
    )
    figures = "".join(
        f'<figure><figcaption>{e(CAPTIONS[k])}</figcaption>'
        f'<img alt="{e(CAPTIONS[k])}" src="data:image/png;base64,{images[k]}"></figure>'
        for k in CAPTIONS if k in images
    )  # fmt: skip
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>imdbops replay</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
figure {{ margin: 1.5em 0; }} figcaption {{ font-weight: 600; margin-bottom: .3em; }}
img {{ max-width: 100%; }} table {{ border-collapse: collapse; font-size: 13px; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: left; }}
.meta {{ color: #666; font-size: 13px; }}
</style></head><body>
<h1>imdbops over time: {len(periods)} periods, {e(periods[0]["date"] if periods else "-")} to
{e(periods[-1]["date"] if periods else "-")}</h1>
<p class="meta">source {e(str(s.get("source")))} · every {s.get("period_months")} month(s) ·
ratings arrive after ~{s.get("rating_delay_days")} days · training: {e(str(s.get("train")))} ·
stack: {e(str(s.get("stack")))} · gc: {e(str(s.get("gc")))} · every number below is a
command's own output (replay.json holds them all)</p>
{figures}
<h2>Gate decisions</h2>
<table><tr><th>period</th><th>version</th><th>trigger</th><th>decision</th><th>reason</th></tr>
{decision_rows}</table>
<h2>Periods</h2>
<table><tr><th>date</th><th>titles / unrated</th><th>champion</th><th>API answers by version</th>
<th>trained</th><th>drift share</th><th>performance</th><th>state MB</th><th>seconds</th></tr>
{"".join(rows)}</table>
</body></html>
"""
