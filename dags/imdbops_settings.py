"""Every setting of the imdbops Airflow DAG files, in one place (the DAG files import this
helper; none imports another DAG file's helper back).

Each is read from the environment variable first, then the Airflow Variable, then the default:
  IMDBOPS_AIRFLOW_MODE         / imdbops_airflow_mode     default fresh if the artifacts URL
                                                          is remote, else shared
  IMDBOPS_PATHS__ARTIFACTS_URL / imdbops_artifacts_url    default paths.artifacts_url of the
                                  YAML in IMDBOPS_CONFIG (or <project root>/imdbops.yaml)
  IMDBOPS_CORE_VENV            / imdbops_core_venv        default <repo>/.venv
  IMDBOPS_PROJECT_ROOT         / imdbops_project_root     default <repo> (shared mode)
  IMDBOPS_IMAGE                / imdbops_image            default ghcr.io/imdbops/imdbops:0.1.0
  IMDBOPS_K8S_NAMESPACE        / imdbops_k8s_namespace    default imdbops
The last two are for kubernetes mode only. The mode and the kubernetes-mode settings are
read when Airflow parses the DAG, the others when a task starts.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from airflow.sdk import Variable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# The helpers sit beside this file and the imdbops sources in <repo>/src: Airflow puts only
# the DAG folder on sys.path, and a DAG file may be loaded on its own.
for _path in (str(HERE), str(REPO / "src")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import imdbops_commands as commands  # noqa: E402

# The same image and namespace as deploy/k8s (tests/integration/airflow checks they still are).
IMAGE = "ghcr.io/imdbops/imdbops:0.1.0"
NAMESPACE = "imdbops"


def setting(env: str, variable: str, default: str | Path | None = None) -> str | None:
    value = os.environ.get(env) or Variable.get(variable, default=None)
    if value:
        return str(value)
    return None if default is None else str(default)


def project_root() -> str:
    return str(setting("IMDBOPS_PROJECT_ROOT", "imdbops_project_root", REPO))


def core_imdbops() -> str:
    """The ``imdbops`` command of the core virtualenv (shared and fresh modes)."""
    venv = Path(str(setting("IMDBOPS_CORE_VENV", "imdbops_core_venv", REPO / ".venv")))
    return str(venv / "bin" / "imdbops")


def image() -> str:
    return str(setting("IMDBOPS_IMAGE", "imdbops_image", IMAGE))


def namespace() -> str:
    return str(setting("IMDBOPS_K8S_NAMESPACE", "imdbops_k8s_namespace", NAMESPACE))


def artifacts_url() -> tuple[str, bool]:
    """The artifacts URL and whether a task must be told it (it came from a Variable, which
    the step's own config loader cannot see)."""
    if os.environ.get(commands.ARTIFACTS_URL_ENV):
        return os.environ[commands.ARTIFACTS_URL_ENV], False
    from_variable = Variable.get("imdbops_artifacts_url", default=None)
    if from_variable:
        return str(from_variable), True
    # As the step's config loader finds it: shared-mode tasks start in the project root.
    config = os.environ.get("IMDBOPS_CONFIG") or "imdbops.yaml"
    return commands.artifacts_url_in_yaml(Path(project_root()) / config), False


def airflow_mode() -> str:
    explicit = setting("IMDBOPS_AIRFLOW_MODE", "imdbops_airflow_mode")
    return commands.choose_mode(explicit, None if explicit else artifacts_url()[0])
