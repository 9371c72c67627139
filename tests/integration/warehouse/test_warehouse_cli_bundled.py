"""The acceptance path on the real bundled movies, through the CLI: ingest, build, extract."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from support.warehouse_kit import model_table
from typer.testing import CliRunner

from imdbops.cli import app
from imdbops.dataops.extract import content_hash


@pytest.fixture
def invoke(cfg, tmp_path):
    config = tmp_path / "imdbops.yaml"
    warehouse = cfg.warehouse.model_dump(mode="json", exclude={"path"})
    config.write_text(yaml.safe_dump({"paths": {"root": str(tmp_path)}, "warehouse": warehouse}))
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, ["-c", str(config), *args])

    return run


def test_bundled_ingest_build_extract(cfg, invoke):
    ingested = invoke("data", "ingest", "--source", "bundled")
    assert ingested.exit_code == 0, ingested.output
    assert "title_basics: 58,788 rows" in ingested.output

    built = invoke("warehouse", "build")
    assert built.exit_code == 0, built.output
    assert "58788 movies" in built.output and "passed" in built.output

    out = cfg.paths.interim_dir / "extract.parquet"
    extracted = invoke("data", "extract", "--out", str(out))
    assert extracted.exit_code == 0, extracted.output
    frame = pd.read_parquet(out)
    meta = json.loads(out.with_name("extract.parquet.meta.json").read_text())
    assert len(frame) == meta["rows"] == 58_788
    no_genre = (frame["genres"] == "").mean()
    assert 0.21 < no_genre < 0.22  # kept with an empty genre list, not dropped
    assert frame["tconst"].is_monotonic_increasing
    assert content_hash(frame) == meta["content_hash"]

    strict = invoke("data", "extract", "--out", str(out), "--strict", "--min-year", "1990")
    assert strict.exit_code == 0, strict.output
    strict_frame = pd.read_parquet(out)
    assert 0 < len(strict_frame) < 58_788 * 0.78
    assert (strict_frame["genres"] != "").all() and strict_frame["startYear"].min() >= 1990

    status = invoke("warehouse", "status", "--json")
    assert status.exit_code == 0, status.output
    info = json.loads(status.output)
    assert info["tables"][model_table(cfg)]["rows"] == 58_788
    assert info["loads"][0]["source"] == "bundled"


def test_bad_input_exits_non_zero_with_one_line(cfg, invoke, tmp_path):
    result = invoke(
        "data", "ingest", "--source", "imdb",
        "--basics", str(tmp_path / "title.basics.tsv.gz"),
        "--ratings", str(tmp_path / "title.ratings.tsv.gz"),
    )  # fmt: skip
    assert result.exit_code == 1
    assert "title.basics.tsv.gz: file not found" in result.output
    assert "Traceback" not in result.output
    assert not cfg.warehouse.path.exists()
    missing = invoke("data", "ingest", "--source", "imdb")
    assert missing.exit_code == 1 and "--basics" in missing.output
    nothing = invoke("warehouse", "build")
    assert nothing.exit_code == 1 and "imdbops data ingest" in nothing.output
    no_model = invoke("data", "extract")
    assert no_model.exit_code == 1 and "imdbops data ingest" in no_model.output
