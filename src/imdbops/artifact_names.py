"""The file name of every artifact, written once: the catalog's table.

:func:`imdbops.pipelines.contract.catalog` turns these names into locations under
``paths.*`` and hands each step the ones it reads and writes. Code outside a DAG reads the
same names here: a step's default output beside its input (``registered.json``,
``decision.json``), a command's default path (the extract), and the files a training run
logged to MLflow (its split's id lists, its config, its reference profile).

Why here and not in ``pipelines``: the layers point one way, and ``mlops``/``dataops`` sit
below ``pipelines`` (which wires them), yet they must name the split files they download
from a run. So the names live in the domain core, which every layer may read; the
``pipelines`` contract builds the catalog from them and adds nothing. No imports at all, so
the Airflow DAG files read it in Airflow's own virtualenv.
"""

from __future__ import annotations

# Beside a Parquet extract: its metadata (row count, content hash, query).
EXTRACT_META_SUFFIX = ".meta.json"
_EXTRACT = "extract.parquet"

# Where each file or folder artifact lives: (the ``paths`` folder, the path inside it).
ARTIFACT_FILES: dict[str, tuple[str, str]] = {
    # training
    "extract": ("interim_dir", _EXTRACT),
    "extract_meta": ("interim_dir", _EXTRACT + EXTRACT_META_SUFFIX),
    "raw_report": ("reports_dir", "validation/raw.json"),
    "raw_csv": ("raw_dir", "movies.csv"),
    "raw_dvc": ("raw_dir", "movies.csv.dvc"),
    "processed": ("processed_dir", "movies.parquet"),
    "processed_report": ("reports_dir", "validation/processed.json"),
    "splits": ("processed_dir", "splits"),
    "best_params": ("processed_dir", "best_params.json"),
    "model": ("processed_dir", "model"),
    "evaluation": ("processed_dir", "evaluation"),
    "registered": ("processed_dir", "registered.json"),
    "decision": ("processed_dir", "decision.json"),
    # scoring
    "unrated": ("interim_dir", "scoring/unrated.parquet"),
    "scores": ("processed_dir", "scoring/scores.parquet"),
    "published": ("processed_dir", "scoring/published.json"),
}

# Files inside folder artifacts that other steps (or the CLI) read, by role: the steps ask
# their Location for ``loc.file(role)`` and never spell a file name themselves.
FOLDER_FILES: dict[str, dict[str, str]] = {
    "splits": {
        "train": "train.parquet",
        "val": "val.parquet",
        "test": "test.parquet",
        "train_ids": "train_tconst.txt",
        "val_ids": "val_tconst.txt",
        "test_ids": "test_tconst.txt",
        "meta": "split.json",
    },
    "model": {"model": "model.pkl", "info": "train.json", "profile": "reference_profile.json"},
    "evaluation": {
        "metrics": "metrics.json",
        "report": "report.json",
        "predictions": "test_predictions.parquet",
    },
}

# Inside a training run in the tracking store (MLflow artifact paths, not ``paths.*``).
RUN_SPLIT_DIR = "split"  # the split folder's meta and id lists, under their catalog names
RUN_CONFIG = "config.json"  # the redacted Config the run trained with
RUN_PROFILE = FOLDER_FILES["model"]["profile"]  # logged with the registered model
RUN_EVALUATION_DIR = "evaluation"  # the evaluation's metrics, report and plots
RUN_DECISIONS_DIR = "promotion"  # every promotion decision, as decision-<time>.json


def file_name(artifact: str) -> str:
    """The last part of a file artifact's path: ``file_name("raw_csv")`` is ``movies.csv``."""
    return ARTIFACT_FILES[artifact][1].rsplit("/", 1)[-1]


def run_split_file(role: str) -> str:
    """Where a training run logged one file of its split folder (``split/train_tconst.txt``
    for ``train_ids``)."""
    return f"{RUN_SPLIT_DIR}/{FOLDER_FILES['splits'][role]}"
