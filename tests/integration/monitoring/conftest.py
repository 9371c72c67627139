"""Shared, expensive inputs for the monitoring integration tests (built once per worker).

A real small model scores three disjoint slices of the bundled IMDb data: reference rows
(profiled like the training set), held-out rows (no drift) and Documentary/Short-only rows
(drift).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@dataclass
class Streams:
    model: object
    profile_path: Path
    heldout: pd.DataFrame
    heldout_proba: np.ndarray
    drifted: pd.DataFrame
    drifted_proba: np.ndarray


@pytest.fixture(scope="session")
def streams(tmp_path_factory) -> Streams:
    from support.prediction_log import split_bundled
    from support.serving import train_small_model

    from imdbops.mlops.reference_profile import build_reference_profile, save_profile
    from imdbops.mlops.transform import to_model_frame

    reference, heldout, drifted = split_bundled(n_reference=5000, n_current=2000, seed=3)
    model, _ = train_small_model(n=1500, seed=11)

    def proba(frame: pd.DataFrame) -> np.ndarray:
        return model.predict_proba(to_model_frame(frame))[:, 1]

    path = tmp_path_factory.mktemp("reference") / "reference_profile.json"
    save_profile(build_reference_profile(reference, proba(reference)), path)
    return Streams(model, path, heldout, proba(heldout), drifted, proba(drifted))
