"""A registered champion loads and predicts with stock MLflow where imdbops is not installed.

The champion (the default model: a text stack with a LightGBM blender) is registered the way
the pipeline registers it, downloaded as a plain MLflow model folder, and its environment is
built from nothing but its own ``requirements.txt`` in a fresh virtualenv, which is what
``mlflow models predict/serve --env-manager virtualenv|uv`` build. There, with no imdbops
on the path (checked), ``mlflow models predict --env-manager local`` must answer exactly as
the champion does in this process, and ``mlflow.pyfunc`` must give the same probabilities.
The virtualenv is cached under ~/.cache/imdbops/model-env keyed by the requirements' hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.serving import bundled_items

from imdbops.mlops.transform import to_model_frame

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "imdbops" / "model-env"
DEFAULT_PARAMS = {"n_estimators": 40}  # a small blender: the test is about the environment


def _clean_env(home: Path) -> dict[str, str]:
    """No project, no test paths, no IMDBOPS_* settings: a machine that never saw imdbops."""
    keep = ("PATH", "LANG", "LC_ALL", "SSL_CERT_FILE", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("PIP_")}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(sys.prefix)
    )
    env["HOME"] = str(home)
    # Stock MLflow loads no serialized model (skops included) without this opt-in.
    env["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"
    return env


def _model_venv(requirements: Path) -> Path:
    """A virtualenv with exactly the model's requirements, built once per requirement set."""
    key = hashlib.sha256(
        f"{sys.version_info[:2]}\n".encode() + requirements.read_bytes()
    ).hexdigest()[:16]
    venv = CACHE / key
    if (venv / ".complete").exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    base = Path(getattr(sys, "_base_executable", sys.executable))
    subprocess.run([str(base), "-m", "venv", str(venv)], check=True, timeout=300)
    out = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "-r", str(requirements)],
        capture_output=True,
        text=True,
        timeout=1500,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert out.returncode == 0, (
        f"the model's own requirements do not install:\n{out.stderr[-4000:]}"
    )
    (venv / ".complete").write_text(requirements.read_text())
    return venv


def test_champion_predicts_with_stock_mlflow_and_no_imdbops(cfg, tmp_path):
    import mlflow

    from imdbops.mlops.models import get_spec
    from imdbops.mlops.registry import load_champion, log_model_version, set_alias
    from imdbops.mlops.tracking import get_client, mlflow_session

    items, labels = bundled_items(1500, seed=3)
    frame = to_model_frame(items)
    model = get_spec("default").build(DEFAULT_PARAMS, 0).fit(frame, labels)
    info = log_model_version(
        cfg,
        model,
        metrics={"roc_auc": 0.7},
        params={"model": "default"},
        tags={"model_kind": "default"},
        input_example=frame.head(5),
        training_frame=frame,
    )
    set_alias(cfg, info.version, "champion")

    mv = get_client(cfg).get_model_version(cfg.tracking.model_name, info.version)
    with mlflow_session(cfg):
        model_dir = Path(mlflow.artifacts.download_artifacts(mv.source, dst_path=str(tmp_path)))
    requirements = model_dir / "requirements.txt"
    pins = [line for line in requirements.read_text().splitlines() if line.strip()]
    names = {p.split("==")[0].lower() for p in pins}
    assert "imdbops" not in names, pins
    assert {"lightgbm", "scikit-learn", "mlflow", "pandas"} <= names, pins
    assert all("==" in p for p in pins), f"unpinned requirements: {pins}"
    assert (model_dir / "code" / "imdbops" / "mlops" / "models" / "stack.py").exists()

    venv = _model_venv(requirements)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = _clean_env(work)
    py = str(venv / "bin" / "python")
    probe = subprocess.run(
        [py, "-c", "import imdbops"], cwd=work, env=env, capture_output=True, text=True
    )
    assert probe.returncode != 0 and "No module named 'imdbops'" in probe.stderr, probe

    # The model's input is the model frame (what its signature describes), as the API and
    # the batch scorer build it from requests.
    model_frame = to_model_frame(items[:40])
    split = json.loads(model_frame.to_json(orient="split", index=False))
    (work / "input.json").write_text(json.dumps({"dataframe_split": split}))
    out = subprocess.run(
        [
            str(venv / "bin" / "mlflow"), "models", "predict", "-m", str(model_dir),
            "-i", "input.json", "-t", "json", "-o", "out.json", "--env-manager", "local",
        ],
        cwd=work, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    answered = json.loads((work / "out.json").read_text())["predictions"]

    champion = load_champion(cfg)
    assert champion is not None and champion.version == info.version
    expected = champion.model.predict(model_frame)
    assert [int(x) for x in answered] == [int(x) for x in expected]

    # The probabilities too (pyfunc's sklearn flavor only calls predict), through stock
    # mlflow.sklearn in the same environment.
    script = (
        "import json, sys, mlflow.sklearn, pandas as pd;"
        "m = mlflow.sklearn.load_model(sys.argv[1]);"
        "s = json.load(open('input.json'))['dataframe_split'];"
        "X = pd.DataFrame(s['data'], columns=s['columns']);"
        "print(json.dumps(m.predict_proba(X)[:, 1].tolist()))"
    )
    out = subprocess.run(
        [py, "-c", script, str(model_dir)], cwd=work, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-4000:]
    proba = json.loads(out.stdout.strip().splitlines()[-1])
    in_process = champion.model.predict_proba(model_frame)[:, 1]
    assert proba == pytest.approx([float(x) for x in in_process], abs=1e-12)
