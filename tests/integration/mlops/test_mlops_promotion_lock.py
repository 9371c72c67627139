"""The promotion lock's server mode, against a real MLflow store (SQLite: the same SQL store
and unique constraint the MLflow server uses on PostgreSQL)."""

from __future__ import annotations

import threading
import time

import pytest

from imdbops.mlops import promotion_lock as pl
from imdbops.mlops.tracking import get_client


@pytest.mark.parametrize(
    ("uri", "shared"),
    [
        ("sqlite:////tmp/x/mlflow.db", False),
        ("file:///tmp/mlruns", False),
        ("/tmp/mlruns", False),
        ("http://mlflow:5000", True),
        ("https://mlflow.example.com", True),
        ("postgresql+psycopg://u:p@db:5432/mlflow", True),
        ("databricks", True),
    ],
)
def test_shared_store_decides_the_lock_kind(uri, shared):
    assert pl.shared_store(uri) is shared


def test_server_lock_admits_one_holder_at_a_time(cfg):
    inside, overlaps, order = [0], [], []
    guard = threading.Lock()

    def promote(n: int) -> None:
        with pl.server_lock(cfg, wait_s=60):
            with guard:
                inside[0] += 1
                overlaps.append(inside[0])
            order.append(n)
            time.sleep(0.2)  # hold it long enough for the others to collide
            with guard:
                inside[0] -= 1

    get_client(cfg).search_registered_models()  # create the store before the threads race
    threads = [threading.Thread(target=promote, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert sorted(order) == [0, 1, 2]
    assert max(overlaps) == 1, overlaps
    with pytest.raises(Exception, match="RESOURCE_DOES_NOT_EXIST|not found|does not exist"):
        get_client(cfg).get_registered_model(pl.lock_name(cfg))  # released


def test_a_dead_holders_lease_expires_and_a_live_one_is_waited_for(cfg):
    client = get_client(cfg)
    name = pl.lock_name(cfg)
    # A holder killed with SIGKILL: its lock stays, with a lease that has run out.
    client.create_registered_model(
        name, tags={"holder": "dead-host:1:x", "expires_at": f"{time.time() - 1:.3f}"}
    )
    started = time.monotonic()
    with pl.server_lock(cfg, wait_s=5):
        assert client.get_registered_model(name).tags["holder"] != "dead-host:1:x"
    assert time.monotonic() - started < 5
    # A live holder (lease in the future) is never broken: the waiter times out, clearly.
    client.create_registered_model(
        name, tags={"holder": "busy-host:2:y", "expires_at": f"{time.time() + 600:.3f}"}
    )
    with pytest.raises(pl.PromotionLockTimeout, match="held by busy-host:2:y"):
        with pl.server_lock(cfg, wait_s=0.5):
            pass
    assert client.get_registered_model(name).tags["holder"] == "busy-host:2:y"


def test_the_lease_is_renewed_while_the_holder_works(cfg):
    client = get_client(cfg)
    with pl.server_lock(cfg, lease_s=1.0, renew_s=0.2):
        first = float(client.get_registered_model(pl.lock_name(cfg)).tags["expires_at"])
        time.sleep(0.8)
        later = float(client.get_registered_model(pl.lock_name(cfg)).tags["expires_at"])
    assert later > first


def test_the_gate_decides_again_when_the_champion_moves_under_it(cfg, splits_dir, monkeypatch):
    """Compare-and-set: an alias moved outside the gate mid-decision is never overwritten."""
    from imdbops.mlops import promote as promote_mod
    from imdbops.mlops import registry
    from imdbops.mlops.models import get_spec
    from imdbops.mlops.split import load_split, read_split_meta

    _, X, y = load_split(splits_dir, "train")
    tags = {
        "split_md5": read_split_meta(splits_dir)["split_md5"],
        "model_kind": "logreg",
        "data_md5": "test",
        "git_commit": "unknown",
        "trained_at": "2026-01-01T00:00:00+00:00",
    }

    def register(rows: int | None) -> str:
        Xs, ys = (X.iloc[:rows], y[:rows]) if rows else (X, y)
        model = get_spec("logreg").build({}, 0).fit(Xs, ys)
        return registry.log_model_version(cfg, model, metrics={}, params={}, tags=tags).version

    cfg.training.bootstrap_samples = 200
    weak, moved_in, challenger = register(80), register(None), register(None)
    registry.set_alias(cfg, weak, "champion")
    real = promote_mod._versus_champion
    calls: list[str] = []

    def racing(cfg_, decision, champ_version, *args):
        calls.append(champ_version)
        if len(calls) == 1:  # another machine moves the champion while we compare
            registry.set_alias(cfg_, moved_in, "champion")
        return real(cfg_, decision, champ_version, *args)

    monkeypatch.setattr(promote_mod, "_versus_champion", racing)
    decision = promote_mod.promote_version(cfg, challenger, splits_dir)
    assert calls == [weak, moved_in], "decided again against the champion that moved in"
    assert decision["champion_version"] == moved_in
    # Against an equal model the gate cannot PROMOTE: the moved-in champion stays.
    assert decision["decision"] in ("HOLD", "REJECT"), decision["reason"]
    assert registry.alias_version(cfg) == moved_in
