"""Load benchmark: the serving app under a steady, mixed load at several offered rates.

Starts `imdbops serve` (one worker) on 127.0.0.1 over a small real champion in a temp
project, offers each rate for a fixed time with `support.loadtest.run_load` (60% single
items, 20% 10-item batches, 20% invalid requests), and prints a table: offered and achieved
rate, status mix, 5xx, transport errors, p50/p99, and prediction-log records lost.

    .venv/bin/python benchmarks/load.py [--rates 50 100 200 400] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from benchdoc import publish, rich_to_md

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.loadtest import run_load  # noqa: E402
from support.ports import free_port
from support.relkit import ServerProcess, count_logged_predictions, write_config  # noqa: E402
from support.serving import bundled_items, register_champion  # noqa: E402

from imdbops.config import load_config  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[50, 100, 200, 400])
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"imdbops serve, 1 worker, {args.seconds:g} s per rate")
    for col in ("offered/s", "achieved/s", "requests", "2xx", "4xx", "5xx", "transport err",
                "p50 ms", "p99 ms", "predictions", "log lost"):  # fmt: skip
        table.add_column(col, justify="right")
    items, _ = bundled_items(500, seed=5)
    for rate in args.rates:
        with tempfile.TemporaryDirectory(prefix="imdbops-load-") as tmp:
            config = write_config(Path(tmp))
            cfg = load_config(config)
            register_champion(cfg, tag="load")
            server = ServerProcess(config, free_port()).start()
            try:
                result = asyncio.run(
                    run_load(server.url, items, rate=rate, duration_s=args.seconds)
                )
            finally:
                server.stop()
            logged = count_logged_predictions(cfg.monitoring.prediction_log_dir)
            s = result.summary()
            codes = s["status_counts"]
            table.add_row(
                f"{rate:g}",
                f"{s['rate_rps']:.0f}",
                str(s["sent"]),
                str(sum(n for c, n in codes.items() if 200 <= c < 300)),
                str(sum(n for c, n in codes.items() if 400 <= c < 500)),
                str(s["server_errors"]),
                str(s["transport_errors"]),
                f"{s['p50_ms']:.1f}",
                f"{s['p99_ms']:.1f}",
                str(s["predictions_answered"]),
                str(s["predictions_answered"] - logged),
            )
    Console().print(table)
    publish("load", __doc__, [rich_to_md(table)])


if __name__ == "__main__":
    main()
