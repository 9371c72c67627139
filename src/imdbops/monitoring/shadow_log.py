"""Where shadow versions' predictions are logged: a second prediction log beside the first.

Shadow records (``serving/shadow.py``) have the champion log's schema and the same write-ahead
guarantees, because they are written by the same ``PredictionLog`` class, pointed at
``monitoring.shadow_log_dir`` (and, when the log is shipped, at ``<prediction_log_url>/_shadow``,
a prefix the champion log's readers never list). Keeping them apart is what leaves the
champion's log, and every drift and performance reader of it, exactly as without shadows.
Each shadow record copies its champion record's ``request_id``, ``ts`` and inputs, so the
verdict (``monitoring/shadow_verdict.py``) pairs the two by request and title.
"""

from __future__ import annotations

from imdbops.config import Config

SHADOW_URL_SUFFIX = "/_shadow"


def shadow_log_config(cfg: Config) -> Config:
    """``cfg`` with the prediction log's location replaced by the shadow log's."""
    mon = cfg.monitoring
    url = mon.prediction_log_url.rstrip("/")
    update = {
        "prediction_log_dir": mon.shadow_log_dir,
        "prediction_log_url": url + SHADOW_URL_SUFFIX if url else "",
    }
    return cfg.model_copy(update={"monitoring": mon.model_copy(update=update)})
