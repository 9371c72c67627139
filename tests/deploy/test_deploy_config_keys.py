"""Every IMDBOPS_<SECTION>__<KEY> the deployment sets names a real Config field.

``load_config`` refuses an unknown name at start-up (a crash-looping pod); this catches the
typo statically, before a deploy does.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
FILES = sorted(
    p
    for p in [*(REPO / "deploy").rglob("*"), *(REPO / ".github").rglob("*")]
    if p.is_file() and (p.suffix in (".yaml", ".yml") or p.name == "Dockerfile")
)
NAME = re.compile(r"\bIMDBOPS_[A-Z0-9]+__[A-Z0-9_]+\b")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_config_names_in_file_exist(checks, path):
    names = sorted(set(NAME.findall(path.read_text())))
    assert checks.unknown_config_keys(names) == []


def test_env_keys_set_directly_are_all_config_fields(checks, compose):
    keys = []
    for svc in compose["services"].values():
        env = svc.get("environment") or {}
        keys += [k for k in env if k.startswith("IMDBOPS_")]
    for path in (REPO / "deploy" / "k8s").rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") in ("ConfigMap", "Secret"):
                section = doc.get("data") or doc.get("stringData") or {}
                keys += [k for k in section if k.startswith("IMDBOPS_")]
    assert keys
    assert checks.unknown_config_keys(keys) == []


def test_the_key_check_can_fail(checks):
    assert checks.unknown_config_keys(["IMDBOPS_TRAINING__N_TRIAL", "IMDBOPS_SERVING_PORT"]) == [
        "IMDBOPS_TRAINING__N_TRIAL",
        "IMDBOPS_SERVING_PORT",
    ]
