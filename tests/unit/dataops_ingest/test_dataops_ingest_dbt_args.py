"""How `warehouse build` calls dbt: packaged project, profiles and state paths from config."""

from __future__ import annotations

from imdbops.dataops.warehouse_build import dbt_args


def _opt(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_dbt_runs_the_packaged_project_and_writes_only_under_state_dir(cfg):
    args = dbt_args(cfg, "build")
    assert args[0] == "build"
    assert _opt(args, "--project-dir") == str(cfg.dbt_project_dir)
    assert (cfg.dbt_project_dir / "dbt_project.yml").exists()
    assert _opt(args, "--profiles-dir") == str(cfg.dbt_project_dir)  # bundled profiles.yml
    assert _opt(args, "--target") == cfg.warehouse.backend  # duckdb | postgres
    for flag in ("--target-path", "--log-path"):
        assert _opt(args, flag).startswith(str(cfg.paths.state_dir))
    assert "--full-refresh" not in args


def test_config_chooses_profiles_dir_target_and_full_refresh(cfg, tmp_path):
    cfg.warehouse.dbt_profiles_dir = tmp_path / "my-profiles"
    cfg.warehouse.dbt_target = "postgres"
    args = dbt_args(cfg, "build", full_refresh=True)
    assert _opt(args, "--profiles-dir") == str(tmp_path / "my-profiles")
    assert _opt(args, "--target") == "postgres"
    assert "--full-refresh" in args
