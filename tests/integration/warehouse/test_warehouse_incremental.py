"""dbt build of filtered_movies_incremental: contents, upserts, no-op rebuilds, tests."""

from __future__ import annotations

import pytest
import yaml
from support.warehouse_kit import model_table, rows

from imdbops.dataops.warehouse import ingest_imdb
from imdbops.dataops.warehouse_backends import WarehouseError
from imdbops.dataops.warehouse_build import WarehouseBuildError, build_warehouse, warehouse_status

MOVIES_WITH_RATINGS = ["tt0000002", "tt0000003", "tt0000005", "tt0000008"]


def model(cfg) -> dict[str, tuple]:
    found = rows(
        cfg,
        "select tconst, primaryTitle, genres, startYear, runtimeMinutes, averageRating, "
        f"numVotes, last_modified from {model_table(cfg)}",
    )
    return {r[0]: r for r in found}


def test_incremental_model_upserts_exactly_the_changed_rows(cfg, dumps):
    ingest_imdb(cfg, *dumps.write())
    first = build_warehouse(cfg)
    assert first.success and first.target == cfg.warehouse.backend
    assert (first.model_rows, first.inserted, first.updated) == (4, 4, 0)
    tests = {t.name: t.status for t in first.tests}
    assert tests["unique_filtered_movies_incremental_tconst"] == "pass"
    assert any(n.startswith("value_between_") for n in tests)
    assert set(tests.values()) == {"pass"}
    built = model(cfg)
    # Only movies with a title and a rating; nullable genres and runtime are kept.
    assert sorted(built) == MOVIES_WITH_RATINGS
    assert built["tt0000005"][2] is None and built["tt0000005"][3] is None
    assert built["tt0000002"][4] is None
    assert built["tt0000003"][1:7] == (
        'The "Great" Train',
        "Action,Crime,Western",
        1903,
        12,
        7.3,
        1500,
    )

    # Re-running with no new data changes nothing (not even last_modified).
    again = build_warehouse(cfg)
    assert (again.model_rows, again.inserted, again.updated) == (4, 0, 0)
    assert model(cfg) == built

    # Re-ingest with 2 changed ratings and 1 new movie: exactly those rows change.
    dumps.set_rating("tt0000002", "2.0")
    dumps.set_rating("tt0000008", "9.1")
    dumps.basics.append(
        ["tt0000009", "movie", "Brand New", "Brand New", "0", "2024", r"\N", "99", "Horror"]
    )
    dumps.ratings.append(["tt0000009", "6.8", "77"])
    ingest_imdb(cfg, *dumps.write())
    third = build_warehouse(cfg)
    assert (third.model_rows, third.inserted, third.updated) == (5, 1, 2)
    after = model(cfg)
    changed = {t for t in after if after[t] != built.get(t)}
    assert changed == {"tt0000002", "tt0000008", "tt0000009"}
    assert after["tt0000002"][5] == 2.0 and after["tt0000008"][5] == 9.1
    assert after["tt0000002"][7] > built["tt0000002"][7]
    assert after["tt0000003"] == built["tt0000003"]


def test_failing_dbt_test_fails_the_build(cfg, dumps):
    dumps.set_rating("tt0000003", "11.5")  # IMDb ratings are 1..10
    ingest_imdb(cfg, *dumps.write())
    with pytest.raises(WarehouseBuildError, match="value_between") as err:
        build_warehouse(cfg)
    assert "fail" in str(err.value)


def test_full_refresh_rebuilds_the_same_rows_and_the_package_dir_stays_clean(cfg, dumps):
    ingest_imdb(cfg, *dumps.write())
    build_warehouse(cfg)
    refreshed = build_warehouse(cfg, full_refresh=True)
    assert sorted(model(cfg)) == MOVIES_WITH_RATINGS
    assert refreshed.model_rows == 4
    written = {p.name for p in cfg.dbt_project_dir.iterdir()}
    assert not written & {"target", "logs", ".user.yml", "dbt_packages"}
    assert (cfg.paths.state_dir / "dbt" / "target" / "run_results.json").exists()
    status = warehouse_status(cfg)
    assert status["tables"][model_table(cfg)]["rows"] == 4
    assert status["tables"]["raw.title_basics"]["rows"] == 8


def test_build_before_any_ingest_says_what_to_do(cfg):
    with pytest.raises(WarehouseError, match="imdbops data ingest"):
        build_warehouse(cfg)


def test_bundled_profiles_read_credentials_from_the_environment_only(cfg):
    profiles = yaml.safe_load((cfg.dbt_project_dir / "profiles.yml").read_text())["imdbops"]
    assert profiles["target"] == "duckdb"
    assert set(profiles["outputs"]) == {"duckdb", "postgres"}
    assert "env_var('DBT_DUCKDB_PATH'" in profiles["outputs"]["duckdb"]["path"]
    out = profiles["outputs"]["postgres"]
    secrets = {k: v for k, v in out.items() if k in ("password", "user")}
    assert secrets and all("env_var(" in str(v) for v in secrets.values())
