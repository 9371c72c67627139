"""CLI start-up benchmark: ``imdbops model list / show / champion`` on the default SQLite store.

Each command runs as a fresh process (what a person typing it waits for), median of
``--repeat`` runs, two ways in the same run: as shipped (read-only ``sqlite3`` reads of the
registry tables, ``imdbops.mlops.registry_read``) and through MLflow's client (the path every
command took before: importing MLflow and opening its SQLAlchemy store, which checks the
schema's migrations). ``imdbops --help`` is the floor: the CLI's own start-up. Both paths
print the same bytes (checked here, and in tests/integration/mlops/test_mlops_registry_read.py).

Target: each command under 1.5 s.

    .venv/bin/python benchmarks/cli.py [--versions 3] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchdoc import md_table, publish

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # support.serving

from support.serving import register_champion, train_small_model  # noqa: E402

from imdbops.config import load_config  # noqa: E402
from imdbops.replay.commands import children_cpu  # noqa: E402

# The same CLI with the fast read switched off: MLflow's client answers.
CLIENT_PATH = (
    "import sys; import imdbops.mlops.registry_read as r; r.FAST = False; "
    "from imdbops.entry import main; sys.argv[0] = 'imdbops'; main()"
)
COMMANDS = (["model", "list"], ["model", "show", "1"], ["model", "champion"])


def timed(argv: list[str], env: dict, cwd: Path) -> tuple[float, float, str]:
    """(wall s, CPU s, stdout) of one run of ``argv``."""
    started, cpu = time.perf_counter(), children_cpu()
    out = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, children_cpu() - cpu, out.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=3, help="versions to register")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="imdbops-cli-bench-"))
    cfg = load_config(paths={"root": root})
    cfg.ensure_dirs()
    print(f"registering {args.versions} versions in {cfg.tracking_uri} ...", flush=True)
    model, _ = train_small_model(n=300)
    for i in range(args.versions):
        register_champion(cfg, model, metrics={"test_roc_auc": 0.7 + i / 100}, tag=str(i))
    env = {**os.environ, "IMDBOPS_PATHS__ROOT": str(root), "COLUMNS": "120"}
    env.pop("IMDBOPS_CONFIG", None)
    shipped = [sys.executable, "-m", "imdbops.entry"]
    client = [sys.executable, "-c", CLIENT_PATH]

    def median(runs: list[tuple], i: int) -> float:
        return statistics.median(r[i] for r in runs)

    rows = []
    helps = [timed([*shipped, "--help"], env, root) for _ in range(args.repeat)]
    for command in COMMANDS:
        fast, slow = [], []
        for _ in range(args.repeat):  # alternate, so both see the same machine load
            fast.append(timed([*shipped, *command], env, root))
            slow.append(timed([*client, *command], env, root))
            if fast[-1][2] != slow[-1][2]:
                raise SystemExit(
                    f"`imdbops {' '.join(command)}` answers differ:\n"
                    f"{fast[-1][2]}\n---\n{slow[-1][2]}"
                )
        f, s = median(fast, 0), median(slow, 0)
        rows.append([f"imdbops {' '.join(command)}", f"{s:.2f}", f"{median(slow, 1):.2f}",
                     f"{f:.2f}", f"{median(fast, 1):.2f}", f"{s / f:.1f}x"])  # fmt: skip
        print(f"  {rows[-1][0]:<24} MLflow client {s:5.2f} s   sqlite3 read {f:5.2f} s", flush=True)
    rows.append(["imdbops --help (CLI start-up)", "", "", f"{median(helps, 0):.2f}",
                 f"{median(helps, 1):.2f}", ""])  # fmt: skip
    table = md_table(
        [f"command (median of {args.repeat}, {args.versions} versions)", "MLflow client s",
         "MLflow client CPU s", "as shipped s", "as shipped CPU s", "speed-up (wall)"],
        rows,
        align="lrrrrr",
    )  # fmt: skip
    print(f"\n{table}")
    publish("cli", __doc__, [table])


if __name__ == "__main__":
    main()
