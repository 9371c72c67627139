"""A model's code and requirements are computed from what it holds (imdbops.mlops.model_env).

The end-to-end proof (stock MLflow predicting in a virtualenv without imdbops) is
tests/deploy/test_model_standalone.py; these check the computation on small real objects.
"""

from __future__ import annotations

import subprocess
import sys

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from imdbops.mlops.model_env import model_environment
from imdbops.mlops.models.features import GenreOneHot


def _names(pins: list[str]) -> set[str]:
    assert all("==" in p for p in pins), pins
    return {p.split("==")[0].lower() for p in pins}


def test_requirements_follow_the_model_and_never_name_imdbops(tmp_path):
    plain = Pipeline([("genres", GenreOneHot()), ("clf", LogisticRegression())])
    code, pins = model_environment(plain, "skops", tmp_path / "plain")
    names = _names(pins)
    assert {"scikit-learn", "numpy", "pandas", "scipy", "skops"} <= names
    assert "imdbops" not in names and "lightgbm" not in names, pins

    from lightgbm import LGBMClassifier

    boosted = Pipeline([("genres", GenreOneHot()), ("clf", LGBMClassifier(n_estimators=2))])
    _, pins = model_environment(boosted, "cloudpickle", tmp_path / "boosted")
    assert {"lightgbm", "cloudpickle"} <= _names(pins), pins

    # Only the modules the classes need, with their parents: no CLI, no server.
    staged = {
        p.relative_to(tmp_path / "plain").as_posix() for p in (tmp_path / "plain").rglob("*.py")
    }
    assert code == [str(tmp_path / "plain" / "imdbops")]
    assert {
        "imdbops/__init__.py",
        "imdbops/mlops/models/features.py",
        "imdbops/genres.py",
    } <= staged
    assert not any(p.startswith(("imdbops/cli", "imdbops/serving")) for p in staged), staged


def test_the_staged_code_imports_on_its_own(tmp_path):
    plain = Pipeline([("genres", GenreOneHot()), ("clf", LogisticRegression())])
    model_environment(plain, "skops", tmp_path)
    # -I: isolated mode, so neither the installed imdbops nor the cwd is on the path.
    out = subprocess.run(
        [sys.executable, "-I", "-c",
         "import sys; sys.path.insert(0, sys.argv[1]); import imdbops.mlops.models.features as f;"
         " print(f.__file__)", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(str(tmp_path))
