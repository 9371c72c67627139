"""Shared helpers of the reliability suite: small configs, the CLI, a real server process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from support import SYS_PATH_PREAMBLE

IMDBOPS = str(Path(sys.executable).parent / "imdbops")
REPO = Path(__file__).resolve().parents[2]
# Where each scenario records its row; scripts/reliability_doc.py turns them into the page.
ROWS_DIR = REPO / "reports" / "reliability" / "rows"


def write_config(root: Path, extra: str = "") -> Path:
    """A small, fast config for whole-pipeline runs in a fresh project root."""
    path = root / "imdbops.yaml"
    path.write_text(
        f"paths:\n  root: {root}\n"
        "training:\n  model: logreg\n  n_trials: 2\n  timeout_s: 30\n  bootstrap_samples: 200\n"
        "serving:\n  reload_poll_s: 3600\n"
        "monitoring:\n  flush_interval_s: 0.2\n" + extra
    )
    return path


def cli(args: list[str], config: Path, env: dict | None = None, timeout: float = 600):
    full_env = {**os.environ, "IMDBOPS_CONFIG": str(config), **(env or {})}
    full_env.pop("IMDBOPS_FAILPOINTS", None) if "IMDBOPS_FAILPOINTS" not in (env or {}) else None
    return subprocess.run(
        [IMDBOPS, *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=config.parent,
    )


class ServerProcess:
    """``imdbops serve`` as a real separate process on 127.0.0.1."""

    def __init__(self, config: Path, port: int, env: dict | None = None):
        self.config, self.port = config, port
        self.env = {**os.environ, "IMDBOPS_CONFIG": str(config), **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.log = config.parent / f"serve-{port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> ServerProcess:
        import httpx

        out = open(self.log, "w")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [IMDBOPS, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=self.config.parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(self.url + "/api/v1/", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server did not start:\n{self.log.read_text()}")

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)  # a clean stop: the log must flush
        return self.proc.wait(timeout=60)


def count_logged_predictions(log_dir: Path) -> int:
    import duckdb

    files = list(log_dir.rglob("*.parquet"))
    if not files:
        return 0
    con = duckdb.connect()
    return con.execute(
        f"select count(*) from read_parquet('{log_dir}/**/*.parquet', hive_partitioning=true)"
    ).fetchone()[0]


def write_small_dumps(out_dir: Path, n: int = 3000, extra_basics=None, extra_ratings=None):
    """IMDb-format dumps of ``n`` real bundled movies (+ optional hand-made rows)."""
    import pandas as pd

    from imdbops.dataops.bundled import read_bundled_movies, to_imdb_tables, write_imdb_tsv

    movies = read_bundled_movies().sample(n=n, random_state=0)
    basics, ratings = to_imdb_tables(movies)
    if extra_basics is not None:
        basics = pd.concat([basics, pd.DataFrame(extra_basics)], ignore_index=True)
    if extra_ratings is not None:
        ratings = pd.concat([ratings, pd.DataFrame(extra_ratings)], ignore_index=True)
    return (
        write_imdb_tsv(basics, out_dir / "title.basics.tsv.gz"),
        write_imdb_tsv(ratings, out_dir / "title.ratings.tsv.gz"),
    )


def ingest_and_build(config: Path, basics: Path, ratings: Path) -> None:
    for args in (
        ["data", "ingest", "--source", "imdb", "--basics", str(basics), "--ratings", str(ratings)],
        ["warehouse", "build"],
    ):
        proc = cli(args, config)
        if proc.returncode != 0:
            raise RuntimeError(f"imdbops {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")


def lake_files(lake_dir: Path) -> list[Path]:
    return [p for p in Path(lake_dir).rglob("*") if p.is_file()] if Path(lake_dir).exists() else []


def partial_lake_objects(lake_dir: Path) -> list[str]:
    """Temp leftovers, and content-addressed objects whose bytes don't match their name."""
    import hashlib

    bad = []
    for path in lake_files(lake_dir):
        rel = path.relative_to(lake_dir).as_posix()
        if ".tmp" in path.name:
            bad.append(f"temp leftover {rel}")
            continue
        parts = rel.split("/")
        if "md5" in parts and not path.name.endswith(".dir"):
            i = parts.index("md5")
            expected = "".join(parts[i + 1 : i + 3])
            digest = hashlib.md5(path.read_bytes()).hexdigest()
            if len(expected) == 32 and digest != expected:
                bad.append(f"corrupt object {rel}")
    return bad


def half_registered_versions(cfg) -> list[str]:
    """Registered versions missing a lineage tag or their artifact hash."""
    from imdbops.mlops.registry import get_client

    required = ("data_md5", "git_commit", "trained_at", "artifact_sha256")
    client = get_client(cfg)
    bad = []
    for mv in client.search_model_versions(f"name='{cfg.tracking.model_name}'"):
        missing = [t for t in required if not (mv.tags or {}).get(t)]
        if missing:
            bad.append(f"v{mv.version} lacks {missing}")
    return bad


def project_from_template(root: Path, template_warehouse: Path, extra: str = ""):
    """A fresh project root whose warehouse is a copy of the session's template."""
    import shutil

    from imdbops.config import load_config

    config = write_config(root, extra)
    cfg = load_config(config)
    cfg.warehouse.path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(template_warehouse, cfg.warehouse.path)
    return config, cfg


REGISTER_SCRIPT = SYS_PATH_PREAMBLE + (
    "from imdbops.config import load_config; "
    "from support.serving import register_champion; "
    "print(register_champion(load_config(sys.argv[1]), tag=sys.argv[2]))"
)


def register_champion_cmd(config: Path, tag: str) -> list[str]:
    """A command that registers a fresh small model and points ``champion`` at it."""
    return [sys.executable, "-c", REGISTER_SCRIPT, str(config), tag]


def register_weak_champion(cfg) -> str:
    """A majority-class champion: any real challenger beats it, so promote really moves the alias."""
    from imdbops.mlops.models import get_spec
    from imdbops.mlops.registry import log_model_version, set_alias
    from imdbops.mlops.transform import to_model_frame
    from support.serving import bundled_items

    items, labels = bundled_items(500, seed=9)
    frame = to_model_frame(items)
    model = get_spec("majority").build({}, 0).fit(frame, labels)
    info = log_model_version(
        cfg,
        model,
        metrics={"roc_auc": 0.5},
        params={"model": "majority"},
        tags={
            "data_md5": "f" * 32,
            "git_commit": "weak",
            "trained_at": "2026-01-01T00:00:00Z",
            "model_kind": "majority",
            "split_md5": "none",
        },
        input_example=frame.head(3),
    )
    set_alias(cfg, info.version, "champion")
    return info.version


def load_small_warehouse(root: Path, env: dict[str, str], n: int = 2500) -> None:
    """``n`` real movies as IMDb dumps under ``root``, ingested and built with ``imdbops``
    (into whatever warehouse ``env`` configures), as a user on their own machine would."""
    write_small_dumps(root / "dumps", n=n)
    for args in (
        ["data", "ingest", "--source", "imdb", "--basics", "dumps/title.basics.tsv.gz",
         "--ratings", "dumps/title.ratings.tsv.gz"],
        ["warehouse", "build"],
    ):  # fmt: skip
        done = subprocess.run(
            [IMDBOPS, *args], cwd=root, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
