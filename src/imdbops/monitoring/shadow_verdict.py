"""The shadow verdict: champion vs each shadow version on the same titles, once rated.

Every shadow record (``monitoring/shadow_log.py``) is paired with the champion record of the
same request and tconst (every replica's parts: both logs are fetched from the object store
as the performance report's are). A pair counts once the title's rating arrived after it
was scored (the rule of ``read_predictions_with_ratings``). Per (shadow version, champion
version), each title's probabilities are averaged over its requests, so a title asked about
a thousand times weighs as much as one asked once; then on those titles:

- ROC-AUC, log loss and Brier score of each, and their calibration (per decile);
- the paired bootstrap interval of (shadow - champion) for ROC-AUC and for log loss (as
  "higher is better": the negated loss), resampling titles;
- the count of labelled titles (what the promotion policy's ``live_min_titles`` counts).

``monitor performance`` adds it to its report (``shadow``) and writes it where the promotion
policy reads it (``mlops/promotion_policy.live_evidence_path``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from imdbops.atomic import atomic_write_json
from imdbops.config import Config
from imdbops.log import get_logger
from imdbops.mlops.promotion_policy import live_evidence_path
from imdbops.monitoring.shadow_log import shadow_log_config

if TYPE_CHECKING:
    import pandas as pd

log = get_logger("monitoring.shadow_verdict")

SCORES = ("roc_auc", "loss", "brier")
DIFFERENCES = ("roc_auc", "loss")


def paired_requests(cfg: Config) -> pd.DataFrame:
    """One row per request, tconst and shadow version, paired with the champion's answer
    (a title sent twice in one request counts once, its probabilities averaged):
    ``shadow_version, champion_version, tconst, p_shadow, p_champion, scored_at``."""
    import duckdb
    import pandas as pd

    from imdbops.monitoring.window import checked_file, connect, list_log_files, log_relation_sql

    columns = [
        "shadow_version",
        "champion_version",
        "tconst",
        "p_shadow",
        "p_champion",
        "scored_at",
    ]
    empty = pd.DataFrame(columns=columns)
    shadow = [checked_file(f) for f in list_log_files(shadow_log_config(cfg))]
    if not shadow:
        return empty
    champion = [checked_file(f) for f in list_log_files(cfg)]
    if not champion:
        return empty
    con = connect()
    try:
        return con.execute(
            f"""
            with s as (select request_id, tconst, model_version, avg(probability) as p,
                              min(ts) as ts
                       from {log_relation_sql(shadow)} where tconst is not null and tconst <> ''
                       group by all),
                 c as (select request_id, tconst, model_version, avg(probability) as p
                       from {log_relation_sql(champion)} where tconst is not null and tconst <> ''
                       group by all)
            select s.model_version as shadow_version, c.model_version as champion_version,
                   s.tconst, s.p as p_shadow, c.p as p_champion,
                   cast(s.ts at time zone 'UTC' as timestamp) as scored_at
            from s join c on s.request_id = c.request_id and s.tconst = c.tconst
            where s.model_version <> c.model_version
            """
        ).df()
    except duckdb.BinderException:  # log files written before the tconst column existed
        return empty
    finally:
        con.close()


def labelled_titles(cfg: Config, pairs: pd.DataFrame) -> pd.DataFrame:
    """Per (shadow version, champion version, tconst) whose rating arrived after scoring:
    mean ``p_shadow``, mean ``p_champion``, ``requests``, ``averageRating``."""
    from imdbops.dataops.predictions_store import read_predictions_with_ratings

    keyed = pairs.reset_index(drop=True)
    # The ratings rule lives in one place; the pair's row number rides as its "version".
    probe = keyed.assign(probability=keyed["p_shadow"], model_version=keyed.index.astype(str))
    rated = read_predictions_with_ratings(cfg, probe)
    rated = rated[rated["source"] == "api"]
    rows = keyed.loc[rated["model_version"].astype(int).to_numpy()].assign(
        averageRating=rated["averageRating"].to_numpy()
    )
    return (
        rows.groupby(["shadow_version", "champion_version", "tconst"], sort=True)
        .agg(
            p_shadow=("p_shadow", "mean"),
            p_champion=("p_champion", "mean"),
            requests=("p_shadow", "size"),
            averageRating=("averageRating", "last"),
        )
        .reset_index()
    )


def _scores(y: Any, proba: Any) -> dict[str, float | None]:
    from imdbops.mlops.metrics import binary_metrics

    values = binary_metrics(y, proba, only=SCORES)
    return {k: (None if math.isnan(v) else round(v, 6)) for k, v in values.items()}


def compare(cfg: Config, titles: pd.DataFrame) -> list[dict[str, Any]]:
    """The verdict body: one comparison per (shadow version, champion version)."""
    import numpy as np

    from imdbops.mlops.bootstrap import paired_bootstrap
    from imdbops.monitoring.calibration import calibration
    from imdbops.movies import label_from_rating

    t = cfg.training
    out = []
    for (shadow_version, champion_version), g in titles.groupby(
        ["shadow_version", "champion_version"], sort=True
    ):
        y = np.asarray([label_from_rating(r) for r in g["averageRating"]], dtype=int)
        p_s, p_c = g["p_shadow"].to_numpy(float), g["p_champion"].to_numpy(float)
        differences: dict[str, Any] = {}
        for metric in DIFFERENCES:
            try:
                differences[metric] = paired_bootstrap(
                    y, p_s, p_c, metric=metric, samples=t.bootstrap_samples,
                    alpha=t.bootstrap_alpha, seed=t.seed,
                )  # fmt: skip
            except ValueError:  # one class only: no interval yet
                differences[metric] = None
        out.append(
            {
                "shadow_version": str(shadow_version),
                "champion_version": str(champion_version),
                "titles": int(len(g)),
                "requests": int(g["requests"].sum()),
                "observed_like_rate": round(float(y.mean()), 6),
                "champion": _scores(y, p_c),
                "shadow": _scores(y, p_s),
                "difference": differences,
                "calibration": {"champion": calibration(y, p_c), "shadow": calibration(y, p_s)},
            }
        )
    return out


def shadow_verdict(cfg: Config, run_id: str, created_at: str) -> dict[str, Any]:
    """Compute the verdict and write it where the promotion policy reads it."""
    pairs = paired_requests(cfg)
    comparisons = compare(cfg, labelled_titles(cfg, pairs)) if len(pairs) else []
    verdict = {
        "run_id": run_id,
        "created_at": created_at,
        "paired_requests": int(len(pairs)),
        "metric": cfg.training.primary_metric,
        "comparisons": comparisons,
    }
    atomic_write_json(live_evidence_path(cfg), verdict)
    log.info(
        "shadow verdict: %d comparison(s) over %d paired predictions",
        len(comparisons),
        len(pairs),
    )
    return verdict
