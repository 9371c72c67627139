from __future__ import annotations

import pytest

from imdbops.config import ConfigError, load_config
from imdbops.genres import UnknownGenreError, normalize_genres
from imdbops.log import redact, redact_mapping
from imdbops.mlops.transform import clean_title, to_model_frame
from imdbops.movies import label_from_rating


def test_paths_resolve_under_root(tmp_path):
    cfg = load_config(paths={"root": tmp_path})
    assert cfg.paths.raw_dir == tmp_path / "data" / "raw"
    assert cfg.warehouse.path == tmp_path / "data" / "warehouse.duckdb"
    assert cfg.lake.url == str(tmp_path / "data" / "lake")
    assert cfg.tracking_uri == f"sqlite:///{tmp_path / '.imdbops' / 'mlflow.db'}"


def test_yaml_then_env_precedence(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  n_trials: 3\n  seed: 7\nlake:\n  url: s3://bucket/prefix\n")
    monkeypatch.setenv("IMDBOPS_TRAINING__SEED", "11")
    cfg = load_config(path, paths={"root": tmp_path})
    assert cfg.training.n_trials == 3
    assert cfg.training.seed == 11
    assert cfg.lake.url == "s3://bucket/prefix"


def test_bad_config_names_the_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  val_size: 3\n")
    with pytest.raises(ConfigError, match="training.val_size"):
        load_config(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_secrets_are_redacted(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sup3rs3cretvalue")
    cfg = load_config(paths={"root": tmp_path}, serving={"admin_token": "tok-123456"})
    shown = str(cfg.redacted())
    assert "tok-123456" not in shown
    assert redact("uri=postgresql://bob:hunter2pw@db/x") == "uri=postgresql://bob:***@db/x"
    assert "sup3rs3cretvalue" not in redact("key is sup3rs3cretvalue")
    assert redact_mapping({"password": "x1", "ok": 1}) == {"password": "***", "ok": 1}


def test_clean_title_keeps_words_apart():
    assert clean_title("The Matrix Reloaded") == "the matrix reloaded"
    assert clean_title("Schindler's List") == "schindler's list"
    assert clean_title("Tom & Jerry:\tThe Movie") == "tom and jerry the movie"


def test_label_threshold():
    assert [label_from_rating(r) for r in (5.4, 5.5, 6.0, 1.0, 10.0)] == [0, 1, 1, 0, 1]


def test_genres_case_insensitive_and_unknown_listed():
    assert normalize_genres(["drama", "ACTION", "Drama"]) == ["Action", "Drama"]
    assert normalize_genres("Comedy,Short") == ["Comedy", "Short"]
    assert normalize_genres("\\N") == []
    with pytest.raises(UnknownGenreError, match="allowed: Action"):
        normalize_genres(["Drama", "Space Opera"])


def test_model_frame_types():
    frame = to_model_frame([{"title": "Up", "genres": ["animation"]}, {"title": "X", "year": 1999}])
    assert list(frame.columns) == ["title", "genres", "year", "runtime_minutes"]
    assert frame.loc[0, "genres"] == "Animation"
    assert frame["year"].isna().tolist() == [True, False]


def test_symbol_only_titles_keep_text():
    assert clean_title("$") == "$"
    assert clean_title(" ... ") == "..."


def test_working_directory_is_not_a_secret(monkeypatch, tmp_path):
    monkeypatch.setenv("PWD", str(tmp_path))
    assert redact(f"wrote {tmp_path}/x.csv") == f"wrote {tmp_path}/x.csv"


def test_env_typo_fails_naming_the_variable_and_the_valid_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("IMDBOPS_TRAINING__MODLE", "default")
    with pytest.raises(ConfigError, match=r"IMDBOPS_TRAINING__MODLE.*n_trials"):
        load_config(paths={"root": tmp_path})
    monkeypatch.delenv("IMDBOPS_TRAINING__MODLE")
    monkeypatch.setenv("IMDBOPS_TRAINNG__MODEL", "default")
    with pytest.raises(ConfigError, match=r"IMDBOPS_TRAINNG__MODEL.*training"):
        load_config(paths={"root": tmp_path})


def test_env_structured_values_and_unrelated_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("IMDBOPS_FAILPOINTS", "")  # another feature's variable: not config
    monkeypatch.setenv("IMDBOPS_TRAINING__PARAMS", '{"C": 0.5}')
    monkeypatch.setenv("IMDBOPS_LAKE__STORAGE_OPTIONS__ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("imdbops_serving__port", "9001")
    monkeypatch.setenv("IMDBOPS_MONITORING", '{"window_predictions": 77}')
    path = tmp_path / "c.yaml"
    path.write_text("lake:\n  storage_options:\n    anon: false\nserving:\n  workers: 3\n")
    cfg = load_config(path, paths={"root": tmp_path}, serving={"host": "0.0.0.0"})
    assert cfg.training.params == {"C": 0.5}
    assert cfg.lake.storage_options == {"anon": False, "endpoint_url": "http://127.0.0.1:9"}
    assert (cfg.serving.port, cfg.serving.workers, cfg.serving.host) == (9001, 3, "0.0.0.0")
    assert cfg.monitoring.window_predictions == 77
    monkeypatch.setenv("IMDBOPS_TRAINING__PARAMS", "{C: 0.5")
    with pytest.raises(ConfigError, match="IMDBOPS_TRAINING__PARAMS must hold JSON"):
        load_config(paths={"root": tmp_path})


def test_yaml_typo_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  n_trails: 3\n")
    with pytest.raises(ConfigError, match="training.n_trails"):
        load_config(path, paths={"root": tmp_path})
