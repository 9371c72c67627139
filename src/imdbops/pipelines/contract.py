"""The step contract both DAGs are built with: the task spec, the catalog, the edges.

Written once for the training DAG (:mod:`imdbops.pipelines.training`) and the scoring DAG
(:mod:`imdbops.pipelines.scoring`); each of those only lists its specs and step wrappers.
This module imports the standard library, :mod:`imdbops.orchestrator` and the stdlib-only
:mod:`imdbops.artifact_names` at module level only, so the Airflow DAG files can read the
specs in Airflow's own virtualenv.

The rules (docs/step-contract.md):
- :func:`catalog` is the only place that says where an artifact lives: the file names of
  :mod:`imdbops.artifact_names` (``ARTIFACT_FILES``, and ``FOLDER_FILES`` for the files
  inside a folder artifact) under ``paths.*``, and the outputs held by outside systems
  (model version, champion alias, lake objects, DVC remote objects). The runner hands each
  step the locations of its inputs and outputs.
- ``params`` are the config keys a step's result depends on: they are in its cache key.
  ``settings`` are keys it may read that must not key the cache (where local state lives,
  credentials). The step gets a read-only view holding exactly these keys; any other read
  raises at once. ``resolved`` are values that are not config keys but are known when the
  DAG is built (the champion's version): they key the cache too.
- Dependencies come from data (who writes what another reads) plus ``after`` for gates;
  :func:`edges` derives them, for the Orchestrator and for Airflow alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from imdbops.artifact_names import ARTIFACT_FILES, FOLDER_FILES
from imdbops.orchestrator import DAG, Task
from imdbops.orchestrator.catalog import External, Location

if TYPE_CHECKING:
    from imdbops.config import Config

# Third-party packages are not hashed: a library upgrade is an environment change.
CODE_PACKAGES = ("imdbops",)
SOURCES = ("warehouse",)
SOURCE_HINTS = {
    "warehouse": "build it first: `imdbops data ingest --source bundled` then "
    "`imdbops warehouse build`",
}
DECLARE_HINT = (
    "declare it in TaskSpec({task!r}) in {where}: under params if the result depends on it "
    "(it keys the cache), under settings if not"
)

# Which pod size a step gets under Kubernetes (dags/imdbops_pods.py): ``heavy`` for model
# fitting and scoring, whose peak is the whole training job's; ``light`` for the steps that
# move and check tables.
ResourceClass = Literal["light", "heavy"]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    function: str  # the step wrapper's name in the DAG's module
    inputs: dict[str, str] = field(default_factory=dict)  # argument -> artifact
    outputs: dict[str, str] = field(default_factory=dict)  # external outputs included
    after: tuple[str, ...] = ()  # ordering-only edges (validation gates)
    params: tuple[str, ...] = ()  # config keys that key the cache: "section" or "section.key"
    settings: tuple[str, ...] = ()  # config keys readable but never in the cache key
    resolved: tuple[str, ...] = ()  # values given when the DAG is built; they key the cache
    description: str = ""
    retries: int = 0  # for steps that talk to remote storage (transient network errors)
    resource_class: ResourceClass = "light"


@dataclass(frozen=True)
class Pipeline:
    """One DAG's definition: its name, its specs in topological order and where they live."""

    name: str
    specs: tuple[TaskSpec, ...]
    defined_in: str  # the file a "declare it in ..." hint points at

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.specs)

    @property
    def spec_by_name(self) -> dict[str, TaskSpec]:
        return {s.name: s for s in self.specs}

    @property
    def edges(self) -> tuple[tuple[str, str], ...]:
        return edges(self.specs)

    @property
    def artifacts(self) -> tuple[str, ...]:
        names = [a for s in self.specs for a in (*s.inputs.values(), *s.outputs.values())]
        return tuple(dict.fromkeys(names))


def edges(specs: tuple[TaskSpec, ...]) -> tuple[tuple[str, str], ...]:
    """(upstream, downstream) pairs: the producer of each input, then the ``after`` gates."""
    producer = {a: s.name for s in specs for a in s.outputs.values()}
    pairs: list[tuple[str, str]] = []
    for s in specs:
        ups = [producer[a] for a in s.inputs.values() if a in producer] + list(s.after)
        pairs.extend((u, s.name) for u in dict.fromkeys(ups))
    return tuple(pairs)


def folder(artifact: str, path: str | Path) -> Location:
    """A folder artifact at ``path`` with the catalog's file names (for library callers
    outside a DAG, e.g. a notebook or a test that splits into a scratch folder)."""
    return Location(artifact, Path(path), FOLDER_FILES[artifact])


def catalog(cfg: Config, pipeline: Pipeline | None = None) -> dict[str, Location | External]:
    """Where every artifact lives (the only place that says so), or only those ``pipeline``
    reads and writes.

    Files and folders derive from ``paths.*``; outside systems are named by their identity
    (URL without credentials), which keys the producing task's cache.
    """
    from imdbops.dataops.warehouse_backends.base import source_path  # stdlib-only

    p = cfg.paths
    entries: dict[str, Location | External] = {
        "warehouse": Location("warehouse", Path(source_path(cfg))),
    }
    for name, (base, relative) in ARTIFACT_FILES.items():
        entries[name] = Location(
            name, Path(getattr(p, base)) / relative, FOLDER_FILES.get(name, {})
        )
    entries.update(_externals(cfg))
    if pipeline is None:
        return entries
    return {name: entries[name] for name in pipeline.artifacts}


def artifact_paths(cfg: Config, pipeline: Pipeline | None = None) -> dict[str, Path]:
    """The catalog's files and folders as plain paths (external outputs left out)."""
    return {k: v.path for k, v in catalog(cfg, pipeline).items() if isinstance(v, Location)}


def _externals(cfg: Config) -> dict[str, External]:
    registry, tracking_access = _registry_identity(cfg)
    lake, lake_access = _lake_identity(cfg, cfg.lake.url)
    remote, remote_access = _lake_identity(cfg, cfg.lake.url.rstrip("/") + "/dvc")
    return {
        "lake_snapshot": External(
            lake,
            "imdbops.dataops.lake_checks:check_lake_object",
            "the raw snapshot in the lake",
            lake_access,
        ),
        "dvc_remote": External(
            remote,
            "imdbops.dataops.lake_checks:check_remote_objects",
            "the versioned data's objects on the DVC remote",
            remote_access,
        ),
        "model_version": External(
            registry,
            "imdbops.mlops.registry_checks:check_model_version",
            "the registered model version",
            tracking_access,
        ),
        "champion_alias": External(
            {**registry, "alias": "champion"},
            "imdbops.mlops.registry_checks:check_alias",
            "the champion alias",
            tracking_access,
        ),
        "predictions_lake": External(
            lake,
            "imdbops.dataops.lake_checks:check_optional_lake_object",
            "the published scores' copy in the lake",
            lake_access,
        ),
    }


# Identities name a system without credentials, and a folder inside the project as
# ``<root>/...`` so that moving the project folder re-runs nothing. ``access`` (handed to the
# hit check only, never stored) keeps the real URL and options.


def _portable(url: str, cfg: Config) -> str:
    from imdbops.mlops.tracking import public_uri

    return public_uri(url).replace(str(cfg.paths.root), "<root>")


def _registry_identity(cfg: Config) -> tuple[dict[str, str], dict[str, str]]:
    from imdbops.mlops.tracking import public_uri

    uri = cfg.tracking_uri
    identity = {"tracking_uri": _portable(uri, cfg), "model": cfg.tracking.model_name}
    return identity, {"tracking_uri": uri, "display": public_uri(uri)}


def _lake_identity(cfg: Config, url: str) -> tuple[dict[str, str], dict[str, Any]]:
    from imdbops.mlops.tracking import public_uri

    options = dict(cfg.lake.storage_options)
    endpoint = options.get("endpoint_url") or (options.get("client_kwargs") or {}).get(
        "endpoint_url"
    )
    identity = {"url": _portable(url, cfg), "endpoint_url": public_uri(str(endpoint or ""))}
    return identity, {"url": url, "storage_options": options, "display": public_uri(url)}


def task_params(cfg: Config, keys: tuple[str, ...]) -> dict[str, Any]:
    """The declared config keys as a nested dict, secrets redacted (they land in cache files)."""
    data = cfg.redacted()
    params: dict[str, Any] = {}
    for key in keys:
        section, _, name = key.partition(".")
        value = data[section] if not name else data[section][name]
        if name:
            params.setdefault(section, {})[name] = value
        else:
            params[section] = value
    return params


def step_config(cfg: Config, spec: TaskSpec, defined_in: str) -> Any:
    """The read-only view of ``cfg`` a step gets: its params and settings, nothing else."""
    from imdbops.config_view import ConfigView

    return ConfigView(
        cfg,
        (*spec.params, *spec.settings),
        owner=f"task {spec.name!r}",
        hint=DECLARE_HINT.format(task=spec.name, where=defined_in),
    )


def build_dag(
    cfg: Config,
    pipeline: Pipeline,
    wrappers: Mapping[str, Any],
    resolved: Mapping[str, Mapping[str, Any]] | None = None,
) -> DAG:
    """The Orchestrator DAG of ``pipeline``: one Task per spec, with its params (and the
    ``resolved`` values it declares, by task name) in its cache key and its config view as
    a resource. ``wrappers``: name -> step wrapper (the DAG module's ``globals()``)."""
    resolved = resolved or {}
    unknown = sorted(set(resolved) - set(pipeline.task_names))
    if unknown:
        raise ValueError(f"{pipeline.name}: values resolved for unknown task(s) {unknown}")
    tasks = []
    for spec in pipeline.specs:
        values = dict(resolved.get(spec.name, {}))
        if set(values) != set(spec.resolved):
            raise ValueError(
                f"task {spec.name!r} of {pipeline.name} declares resolved values "
                f"{sorted(spec.resolved)} but was given {sorted(values)}; pass exactly those"
            )
        tasks.append(
            Task(
                spec.name,
                wrappers[spec.function],
                inputs=spec.inputs,
                outputs=spec.outputs,
                params={**task_params(cfg, spec.params), **values},
                after=list(spec.after),
                description=spec.description,
                retries=spec.retries,
                resources={"cfg": step_config(cfg, spec, pipeline.defined_in)},
            )
        )
    return DAG(
        pipeline.name,
        tasks,
        catalog(cfg, pipeline),
        sources=[s for s in SOURCES if s in pipeline.artifacts],
        source_hints=SOURCE_HINTS,
    )
