"""Task ``promote``: the gate that decides whether a registered version becomes champion.

Both versions are judged on *common unseen ground*: the rows of the current test split (its
random holdout, or the out-of-time one with ``training.gate_holdout: time``) that neither
trained or tuned on, from each version's recorded membership (``membership.py``). A
challenger whose membership is unknown is held; a champion whose membership is unknown is
scored on every row the challenger did not see (its score can only be inflated by that, so a
PROMOTE stands and a regression only HOLDs). Decision rules:
1. REJECT unless the challenger beats the majority baseline by ``min_margin_over_baseline``
   on the primary metric (ROC-AUC: majority = 0.5), on the test rows it did not see.
2. No champion yet: PROMOTE.
3. HOLD when fewer than ``min_compare_rows`` common unseen rows remain (or one class only).
4. REJECT if the challenger is worse than the champion by more than ``regression_tolerance``
   and the CI of the difference lies below 0 (a regression within noise HOLDs).
5. PROMOTE if the paired bootstrap CI of (challenger - champion) lies above 0, else HOLD
   (the challenger gets the ``challenger`` alias).
The decision names the rows compared and those excluded as seen by the champion.

The decide-and-move section runs under the promotion lock (``promotion_lock.py``: a ``flock``
on one machine, a lease in the tracking server's database when the store is shared), so two
concurrent promotions serialise: exactly one champion, both decisions recorded. Before moving
an alias the gate checks that the champion is still the one it decided against
(compare-and-set) and decides again if not.
The promotion history (a registered-model tag) is what ``rollback`` walks back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imdbops import clock
from imdbops.artifact_names import RUN_DECISIONS_DIR, file_name
from imdbops.atomic import atomic_write_json
from imdbops.config import Config
from imdbops.failpoints import failpoint
from imdbops.log import get_logger
from imdbops.mlops.bootstrap import metric_fn, paired_bootstrap
from imdbops.mlops.membership import seen_by
from imdbops.mlops.promotion_lock import promotion_lock
from imdbops.mlops.promotion_policy import apply_live_policy
from imdbops.mlops.registry import alias_version, delete_alias, load_version, set_alias
from imdbops.mlops.split import holdout_masks, load_split, read_split_meta
from imdbops.mlops.tracking import get_client
from imdbops.orchestrator.catalog import Location

log = get_logger("mlops.promote")

CHAMPION, CHALLENGER = "champion", "challenger"
HISTORY_TAG = "champion_history"
MAX_HISTORY = 50
MAX_DECISIONS = 5  # re-decisions when the champion moves under the gate (outside the lock)


class PromotionError(ValueError):
    """A promotion or rollback request that cannot be carried out (the message says why)."""


def read_history(cfg: Config) -> list[str]:
    """Champion versions in the order they became champion (oldest first)."""
    from mlflow.exceptions import MlflowException

    try:
        model = get_client(cfg).get_registered_model(cfg.tracking.model_name)
    except MlflowException:
        return []
    raw = (model.tags or {}).get(HISTORY_TAG)
    return [str(v) for v in json.loads(raw)] if raw else []


def _write_history(cfg: Config, versions: list[str]) -> None:
    get_client(cfg).set_registered_model_tag(
        cfg.tracking.model_name, HISTORY_TAG, json.dumps(versions[-MAX_HISTORY:])
    )


def _record(cfg: Config, decision: dict[str, Any], out_path: Path | None) -> None:
    client = get_client(cfg)
    name, version = cfg.tracking.model_name, decision["challenger_version"]
    client.set_model_version_tag(name, version, "promotion_decision", decision["decision"])
    client.set_model_version_tag(name, version, "promotion_reason", decision["reason"][:5000])
    client.set_model_version_tag(name, version, "promotion_at", decision["decided_at"])
    if decision.get("challenger_run_id"):
        stamp = decision["decided_at"].replace(":", "")
        client.log_dict(
            decision["challenger_run_id"], decision, f"{RUN_DECISIONS_DIR}/decision-{stamp}.json"
        )
    if out_path is not None:
        atomic_write_json(out_path, decision)


@dataclass
class _Ground:
    """The current test split as the gate sees it: every row, and which rows it may use."""

    y: np.ndarray
    p_challenger: np.ndarray
    ids: np.ndarray
    holdouts: dict[str, np.ndarray]  # "random" / "time" row masks
    challenger_unseen: np.ndarray
    meta: dict[str, Any]  # split.json of the current split
    splits_dir: Location


def _unseen(ids: np.ndarray, seen: set[str]) -> np.ndarray:
    return ~np.isin(ids, np.fromiter(seen, dtype=object, count=len(seen)))


def _both_classes(y: np.ndarray) -> bool:
    return len(np.unique(y)) == 2


def promote_version(
    cfg: Config,
    version: str,
    splits_dir: Location,
    *,
    force: bool = False,
    out_path: Path | None = None,
) -> dict[str, Any]:
    """Gate ``version`` against the baseline and the champion; move the alias on PROMOTE."""
    meta = read_split_meta(splits_dir)
    test, X_test, y_test = load_split(splits_dir, "test")
    _, _, y_train = load_split(splits_dir, "train")

    challenger = load_version(cfg, str(version))
    seen, seen_from = seen_by(cfg, challenger.tags, challenger.run_id, meta, splits_dir)
    ids = test["tconst"].astype(str).to_numpy(dtype=object)
    ground = _Ground(
        y=y_test,
        p_challenger=challenger.model.predict_proba(X_test)[:, 1],
        ids=ids,
        holdouts=holdout_masks(test, meta),
        challenger_unseen=_unseen(ids, seen) if seen is not None else np.zeros(len(ids), bool),
        meta=meta,
        splits_dir=splits_dir,
    )
    decision = _opening(cfg, challenger, ground, y_train, force)
    decision["challenger_membership"] = seen_from if seen is not None else None
    unknown = (
        None
        if seen is not None
        else f"version {challenger.version}'s training membership is unknown ({seen_from})"
    )
    passes_baseline = (
        decision["challenger_score"]
        >= decision["baseline_majority_score"] + cfg.training.min_margin_over_baseline
    )

    with promotion_lock(cfg):
        for _ in range(MAX_DECISIONS):
            champ_version = alias_version(cfg, CHAMPION)
            verdict, reason = _decide_on(
                cfg, decision, champ_version, passes_baseline, force, X_test, ground, unknown
            )
            verdict, reason = apply_live_policy(
                cfg, decision, verdict, reason, champ_version, force
            )
            # Compare-and-set: move aliases only if the champion is still the one decided
            # against (the lock makes this hold unless someone moved it outside the gate).
            if verdict == "REJECT" or alias_version(cfg, CHAMPION) == champ_version:
                break
            log.warning("the champion moved while deciding on version %s: deciding again", version)
        else:
            raise PromotionError(
                f"the champion kept moving while version {version} was being decided; retry"
            )
        decision.update(decision=verdict, reason=reason)
        # Where the champion alias points once this decision is applied (the DAG records it
        # and checks it on the next run).
        decision["champion_after"] = challenger.version if verdict == "PROMOTE" else champ_version
        decision["decided_at"] = clock.now().isoformat(timespec="microseconds")
        _move_aliases(cfg, verdict, challenger.version, champ_version)
        _record(cfg, decision, out_path)
    log.info("%s version %s: %s", verdict, challenger.version, reason)
    return decision


def _opening(
    cfg: Config, challenger: Any, ground: _Ground, y_train: np.ndarray, force: bool
) -> dict[str, Any]:
    """The decision's facts before any champion is looked at: the challenger's and the
    majority baseline's scores on the gate's holdout rows the challenger did not see."""
    t = cfg.training
    score = metric_fn(t.primary_metric)
    rows = ground.holdouts[t.gate_holdout] & ground.challenger_unseen
    y_rows = ground.y[rows]
    ch_score = score(y_rows, ground.p_challenger[rows]) if _both_classes(y_rows) else float("nan")
    # The majority baseline predicts the training prior for every row.
    base_score = (
        score(y_rows, np.full(len(y_rows), float(np.mean(y_train))))
        if _both_classes(y_rows)
        else float("nan")
    )
    return {
        "challenger_version": challenger.version,
        "challenger_run_id": challenger.run_id,
        "primary_metric": t.primary_metric,
        "holdout": t.gate_holdout,
        "challenger_score": ch_score,
        "baseline_majority_score": base_score,
        "min_margin_over_baseline": t.min_margin_over_baseline,
        "regression_tolerance": t.regression_tolerance,
        "min_compare_rows": t.min_compare_rows,
        "split_md5": ground.meta["split_md5"],
        "test_md5": ground.meta["test_md5"],
        "test_rows": len(ground.y),
        "challenger_membership": None,
        "challenger_unseen_rows": int(rows.sum()),
        "challenger_same_split": challenger.tags.get("split_md5") == ground.meta["split_md5"],
        "forced": force,
    }


def _move_aliases(cfg: Config, verdict: str, version: str, champ_version: str | None) -> None:
    """Apply a verdict to the registry (under the promotion lock): PROMOTE moves
    ``champion`` and appends to the history; HOLD marks the version ``challenger``."""
    if verdict == "PROMOTE":
        failpoint("promote.before_alias")
        _move_alias(cfg, version, champ_version)
        history = [v for v in read_history(cfg) if v != version]
        if champ_version and (not history or history[-1] != champ_version):
            history.append(champ_version)  # the alias was set outside the gate
        _write_history(cfg, [*history, version])
        if alias_version(cfg, CHALLENGER) == version:
            delete_alias(cfg, CHALLENGER)
    elif verdict == "HOLD" and champ_version != version:
        set_alias(cfg, version, CHALLENGER)


def _move_alias(cfg: Config, version: str, champion: str | None) -> None:
    """Point the champion alias at ``version``; a server gone mid-promotion is named."""
    from imdbops.mlops.tracking import check_tracking

    try:
        set_alias(cfg, version, CHAMPION)
    except Exception as exc:
        try:
            check_tracking(cfg)  # raises TrackingUnavailableError naming the server
        except Exception as down:
            raise type(down)(
                f"{down}; the champion alias was not moved (still version {champion}): run "
                "the promotion again (`imdbops pipeline resume RUN`) once the server answers"
            ) from None
        raise exc


_STALE_KEYS = (
    "champion_score",
    "champion_same_split",
    "champion_membership",
    "compared_rows",
    "excluded_seen_by_champion",
    "holdouts",
    "bootstrap",
    "note",
)


def _decide_on(
    cfg, decision, champ_version, passes_baseline, force, X_test, ground, unknown
) -> tuple[str, str]:
    """The verdict against the champion ``champ_version`` (None: there is none)."""
    t, metric = cfg.training, cfg.training.primary_metric
    version = decision["challenger_version"]
    for stale in _STALE_KEYS:
        decision.pop(stale, None)  # from a decision against a champion that has since moved
    decision["champion_version"] = champ_version
    if unknown and not force:
        verdict, reason = "HOLD", f"{unknown}; retrain it through the pipeline or use --force"
    elif not passes_baseline and not force:
        verdict = "REJECT"
        reason = (
            f"{metric} {decision['challenger_score']:.4f} does not beat the majority baseline "
            f"{decision['baseline_majority_score']:.4f} by the required margin "
            f"{t.min_margin_over_baseline} (on {decision['challenger_unseen_rows']} unseen "
            f"{decision['holdout']}-holdout test rows)"
        )
    elif champ_version is None:
        verdict, reason = "PROMOTE", f"first champion ({metric} {decision['challenger_score']:.4f})"
    elif champ_version == version:
        verdict, reason = "HOLD", f"version {champ_version} is already the champion"
    else:
        verdict, reason = _versus_champion(cfg, decision, champ_version, X_test, ground)
    if force and verdict != "PROMOTE" and champ_version != version:
        reason = f"forced promotion (the gate said {verdict}: {reason})"
        verdict = "PROMOTE"
    return verdict, reason


def _versus_champion(cfg, decision, champ_version, X_test, ground: _Ground) -> tuple[str, str]:
    """Both versions scored on the test rows neither trained or tuned on (common unseen
    ground), on the gate's holdout; the other holdout's numbers are reported beside."""
    t = cfg.training
    metric = t.primary_metric
    score = metric_fn(metric)
    champion = load_version(cfg, champ_version, alias=CHAMPION)
    seen, seen_from = seen_by(cfg, champion.tags, champion.run_id, ground.meta, ground.splits_dir)
    decision["champion_same_split"] = champion.tags.get("split_md5") == decision["split_md5"]
    # A champion whose membership is unknown (registered by hand, outside the pipeline) is
    # scored on every row the challenger did not see: rows it may have trained on can only
    # inflate its score, so a PROMOTE is still sound, and a regression only HOLDs (below).
    decision["champion_membership"] = seen_from if seen is not None else None
    p_cp = champion.model.predict_proba(X_test)[:, 1]
    common = ground.challenger_unseen & (
        _unseen(ground.ids, seen) if seen is not None else np.ones(len(ground.ids), bool)
    )
    decision["holdouts"] = {
        name: _holdout_scores(score, ground, p_cp, mask & common)
        for name, mask in ground.holdouts.items()
        if mask.any()
    }
    gate_rows = ground.holdouts[t.gate_holdout] & common
    decision["compared_rows"] = int(gate_rows.sum())
    decision["excluded_seen_by_champion"] = int(
        (ground.holdouts[t.gate_holdout] & ground.challenger_unseen & ~common).sum()
    )
    y = ground.y[gate_rows]
    if len(y) < t.min_compare_rows or not _both_classes(y):
        return "HOLD", (
            f"only {len(y)} {t.gate_holdout}-holdout test rows are unseen by both the "
            f"challenger and champion {champ_version} (need {t.min_compare_rows} with both "
            "classes): too few for a fair comparison"
        )
    p_ch = ground.p_challenger[gate_rows]
    ch_score, cp_score = score(y, p_ch), score(y, p_cp[gate_rows])
    boot = paired_bootstrap(
        y,
        p_ch,
        p_cp[gate_rows],
        metric=metric,
        samples=t.bootstrap_samples,
        alpha=t.bootstrap_alpha,
        seed=t.seed,
    )
    note = _comparison_note(champ_version, seen is not None, seen_from, decision)
    decision.update(challenger_score=ch_score, champion_score=cp_score, bootstrap=boot, note=note)
    return compare_verdict(
        metric, ch_score, cp_score, boot, t, membership_known=seen is not None, rows=len(y)
    )


def compare_verdict(
    metric: str,
    ch_score: float,
    cp_score: float,
    boot: dict[str, float],
    t: Any,
    *,
    membership_known: bool,
    rows: int,
) -> tuple[str, str]:
    """Rules 4-5 on common unseen ground, symmetric in their evidence: PROMOTE needs the CI
    of (challenger - champion) above 0, REJECT needs a regression beyond the tolerance whose
    CI lies below 0. Anything between is HOLD, which makes the version the challenger, so a
    near tie is settled by live traffic (shadow scoring) rather than by bootstrap noise."""
    on = f"on {rows} common unseen test rows"
    ci = f"{1 - t.bootstrap_alpha:.0%} CI of the difference [{boot['ci_low']:+.4f}, {boot['ci_high']:+.4f}]"
    diff = ch_score - cp_score
    if diff < -t.regression_tolerance and not membership_known:
        return "HOLD", (
            f"{metric} {ch_score:.4f} is below the champion's {cp_score:.4f} {on}, but the "
            f"champion's membership is unknown and its score may be inflated; not promoted"
        )
    if diff < -t.regression_tolerance and boot["ci_high"] < 0:
        return "REJECT", (
            f"{metric} {ch_score:.4f} regresses the champion's {cp_score:.4f} by {-diff:.4f} "
            f"(> tolerance {t.regression_tolerance}) {on}; {ci} lies below 0"
        )
    if diff < -t.regression_tolerance:
        return "HOLD", (
            f"{metric} {ch_score:.4f} is {-diff:.4f} below the champion's {cp_score:.4f} {on}, "
            f"but the {ci} includes 0 — within noise; held as the challenger"
        )
    if boot["ci_low"] > 0:
        return "PROMOTE", (
            f"{metric} {ch_score:.4f} beats the champion's {cp_score:.4f} {on}; {ci} excludes 0"
        )
    return "HOLD", (
        f"{metric} {ch_score:.4f} vs champion {cp_score:.4f} {on}: {ci} does not lie "
        "above 0 — not a significant improvement"
    )


def _comparison_note(
    champ_version: str, known: bool, seen_from: str, decision: dict[str, Any]
) -> str | None:
    """What a reader of the decision must know about the champion's side of it."""
    if not known:
        return (
            f"champion version {champ_version}'s training membership is unknown ({seen_from}): "
            "scored on every test row the challenger did not see, so its score may be "
            "inflated by rows it trained on; a regression holds instead of rejecting"
        )
    if not decision["champion_same_split"]:
        return (
            "champion was trained on a different split; both were scored on the current "
            "test rows that neither trained on"
        )
    return None


def _holdout_scores(score, ground: _Ground, p_cp: np.ndarray, rows: np.ndarray) -> dict:
    y = ground.y[rows]
    if not _both_classes(y):
        return {"rows": int(rows.sum()), "challenger": None, "champion": None}
    return {
        "rows": int(rows.sum()),
        "challenger": float(score(y, ground.p_challenger[rows])),
        "champion": float(score(y, p_cp[rows])),
    }


def promote(
    cfg: Config, registered_json: Path, splits_dir: Location, out_path: Path | None = None
) -> dict[str, Any]:
    """Task function: gate the version in ``registered.json``; writes ``decision.json``."""
    registered_json = Path(registered_json)
    if not registered_json.exists():
        raise FileNotFoundError(f"{registered_json} does not exist; run the register step first")
    version = json.loads(registered_json.read_text())["version"]
    target = Path(out_path) if out_path else registered_json.with_name(file_name("decision"))
    return promote_version(cfg, version, splits_dir, out_path=target)


def rollback(cfg: Config) -> dict[str, Any]:
    """Move ``champion`` back to the previous champion in the promotion history."""
    with promotion_lock(cfg):
        current = alias_version(cfg, CHAMPION)
        history = read_history(cfg)
        while history and history[-1] == current:
            history.pop()
        if not history:
            raise PromotionError(
                f"no previous champion to roll back to (champion: {current or 'none'}); "
                "promote a version with `imdbops model promote VERSION` instead"
            )
        target = history[-1]
        load_version(cfg, target)  # refuse to roll back onto a tampered artifact
        set_alias(cfg, target, CHAMPION)
        _write_history(cfg, history)
        if alias_version(cfg, CHALLENGER) == target:
            delete_alias(cfg, CHALLENGER)
        at = clock.now().isoformat(timespec="seconds")
        if current:
            client = get_client(cfg)
            client.set_model_version_tag(cfg.tracking.model_name, current, "rolled_back_at", at)
    result = {"decision": "ROLLBACK", "from_version": current, "to_version": target, "at": at}
    log.info("rolled back champion %s -> %s", current, target)
    return result
