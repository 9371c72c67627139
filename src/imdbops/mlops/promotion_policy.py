"""The live-evidence promotion policy: a challenger must have shadowed the champion first.

With ``training.live_min_titles`` > 0, a PROMOTE of the gate (``promote.py``) against an
existing champion stands only if the latest shadow verdict (``monitor performance``, see
``monitoring/shadow_verdict.py``) compared this challenger with this champion on at least that
many titles whose ratings arrived after they were scored, and the paired bootstrap interval
of (challenger - champion) on the primary metric does not reach below ``-live_tolerance``:
"not worse, with confidence". Otherwise:

- too few labelled titles (or no verdict yet): HOLD, and the version keeps the
  ``challenger`` alias, which ``serving.shadow: [challenger]`` scores in shadow;
- the whole interval below 0 (worse with confidence): REJECT;
- anything between: HOLD (keep shadowing).

A forced promotion and the first champion skip the policy. The decision records the
evidence it used (``live_evidence``: the verdict's run id, titles, interval).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from imdbops.config import Config

EVIDENCE_FILENAME = "latest.json"


def live_evidence_path(cfg: Config) -> Path:
    """Where ``monitor performance`` writes the latest shadow verdict (the one place)."""
    return Path(cfg.monitoring.reports_dir) / "shadow" / EVIDENCE_FILENAME


def read_evidence(cfg: Config) -> dict[str, Any] | None:
    """The latest shadow verdict, or None (never raises: a missing file means no evidence)."""
    try:
        data = json.loads(live_evidence_path(cfg).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def find_comparison(
    evidence: dict[str, Any] | None, challenger: str, champion: str
) -> dict[str, Any] | None:
    for c in (evidence or {}).get("comparisons") or []:
        if (
            str(c.get("shadow_version")) == challenger
            and str(c.get("champion_version")) == champion
        ):
            return c
    return None


def apply_live_policy(
    cfg: Config,
    decision: dict[str, Any],
    verdict: str,
    reason: str,
    champ_version: str | None,
    force: bool,
) -> tuple[str, str]:
    """The gate's verdict after the policy (unchanged when the policy is off or not concerned)."""
    t = cfg.training
    decision.pop("live_evidence", None)  # from a decision against a champion since moved
    if t.live_min_titles <= 0 or force or verdict != "PROMOTE" or champ_version is None:
        return verdict, reason
    version = str(decision["challenger_version"])
    metric = t.primary_metric
    evidence = read_evidence(cfg)
    comparison = find_comparison(evidence, version, str(champ_version))
    titles = int(comparison["titles"]) if comparison else 0
    boot = ((comparison or {}).get("difference") or {}).get(metric)
    decision["live_evidence"] = {
        "source": str(live_evidence_path(cfg)),
        "run_id": (evidence or {}).get("run_id"),
        "created_at": (evidence or {}).get("created_at"),
        "champion_version": str(champ_version),
        "labelled_titles": titles,
        "required_titles": t.live_min_titles,
        "tolerance": t.live_tolerance,
        "metric": metric,
        "difference": boot,
    }
    where = f"(shadow verdict {(evidence or {}).get('run_id') or 'none yet'})"
    if titles < t.live_min_titles or boot is None:
        return "HOLD", (
            f"{reason}; but live evidence is required: {titles} of {t.live_min_titles} labelled "
            f"titles shadowed against champion {champ_version} {where}; it stays challenger "
            "(shadowed when serving.shadow names 'challenger') until `imdbops monitor "
            "performance` has enough, then promote it again"
        )
    ci = f"[{boot['ci_low']:+.4f}, {boot['ci_high']:+.4f}]"
    live = (
        f"live {metric} difference {boot['difference']:+.4f}, "
        f"{1 - t.bootstrap_alpha:.0%} CI {ci} on {titles} labelled titles {where}"
    )
    if boot["ci_low"] >= -t.live_tolerance:
        return verdict, f"{reason}; {live}: not worse than the champion"
    if boot["ci_high"] < 0:
        return "REJECT", f"worse than champion {champ_version} on live traffic: {live}"
    return "HOLD", (
        f"{reason}; but on live traffic not yet shown not worse (CI low below "
        f"-{t.live_tolerance}): {live}; keep shadowing"
    )
