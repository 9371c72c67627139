"""The model holder: atomic swaps and failed loads, without a server or a registry."""

from __future__ import annotations

import threading

from imdbops.serving.predictor import ModelHolder
from imdbops.serving.service import batch_predict_fn


class Registry:
    """What the holder asks: the champion's version, and the model for it."""

    def __init__(self, loaded):
        self.loaded = loaded
        self.champion = "1"
        self.broken: set[str] = set()
        self.gate: threading.Event | None = None
        self.loading = threading.Event()
        self.loads = 0

    def load(self, cfg):
        self.loads += 1
        version = self.champion
        if version in self.broken:
            raise OSError(f"artifact of version {version} is unreadable")
        model = self.loaded(version)
        if self.gate is not None:
            self.loading.set()
            assert self.gate.wait(10)
        return model

    def alias(self, cfg):
        return self.champion


def test_a_reload_swaps_the_whole_model_at_once_while_requests_keep_being_answered(cfg, loaded):
    registry = Registry(loaded)
    holder = ModelHolder(cfg, loader=registry.load, alias_lookup=registry.alias)
    assert holder.load().version == "1"
    predict = batch_predict_fn(holder)
    rows = [{"title": "The Matrix", "genres": ["Action"], "year": 1999}]
    expected, _ = predict(rows)

    reloads = holder.reloads
    registry.champion, registry.gate = "2", threading.Event()
    reload = threading.Thread(target=holder.poll)
    reload.start()
    assert registry.loading.wait(10)
    # Mid-load: the old model answers, completely.
    assert holder.version == "1"
    assert predict(rows) == (expected, "1")
    registry.gate.set()
    reload.join(10)
    assert holder.version == "2" and holder.reloads == reloads + 1
    assert predict(rows) == (expected, "2")


def test_concurrent_readers_only_ever_see_a_whole_model(cfg, loaded):
    registry = Registry(loaded)
    holder = ModelHolder(cfg, loader=registry.load, alias_lookup=registry.alias)
    holder.load()
    predict = batch_predict_fn(holder)
    seen: list[str] = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            probs, version = predict([{"title": "Up", "genres": ["Animation"]}])
            assert len(probs) == 1 and 0 <= probs[0] <= 1
            seen.append(version)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for version in ("2", "3", "4"):
        registry.champion = version
        assert holder.poll().changed
    stop.set()
    for t in threads:
        t.join(10)
    assert set(seen) <= {"1", "2", "3", "4"} and seen
    assert holder.version == "4"


def test_a_failed_load_keeps_the_old_model_and_is_not_retried_by_the_poller(cfg, loaded):
    registry = Registry(loaded)
    holder = ModelHolder(cfg, loader=registry.load, alias_lookup=registry.alias)
    holder.load()
    first = holder.current

    registry.champion = "2"
    registry.broken.add("2")
    result = holder.poll()
    assert result.error and "unreadable" in result.error
    assert holder.current is first and holder.version == "1"
    assert holder.reload_failures == 1 and holder.failed_version == "2"
    assert holder.not_ready_reason() is None  # still ready: it serves version 1

    loads = registry.loads
    assert holder.poll() is None and registry.loads == loads  # the poller does not hammer it

    registry.broken.clear()  # fixed; an explicit (admin) load retries
    assert holder.load().version == "2"
    assert holder.last_error is None and holder.failed_version is None


def test_a_failed_first_load_leaves_the_holder_not_ready_with_the_reason(cfg, loaded):
    registry = Registry(loaded)
    registry.broken.add("1")
    holder = ModelHolder(cfg, loader=registry.load, alias_lookup=registry.alias)
    holder.load()
    assert holder.current is None
    assert "could not be loaded" in holder.not_ready_reason()
    assert "unreadable" in holder.not_ready_reason()


class _CannotPredict:
    """A champion that loads but fails its first prediction (a broken artifact)."""

    def predict_proba(self, frame):
        raise ValueError("this model was fitted on other columns")


def test_a_champion_that_fails_its_warm_up_keeps_the_old_model_and_polling_goes_on(cfg, loaded):
    registry = Registry(loaded)

    def load(cfg):
        model = registry.load(cfg)
        if model.version == "2":
            model.model = _CannotPredict()
        return model

    holder = ModelHolder(cfg, loader=load, alias_lookup=registry.alias)
    holder.load()
    first = holder.current

    registry.champion = "2"
    result = holder.poll()  # raised out of the poller before: it died, silently
    assert result.error and "other columns" in result.error
    assert holder.current is first and holder.failed_version == "2"
    assert holder.not_ready_reason() is None

    registry.champion = "3"  # the next promotion is picked up by the same poller
    assert holder.poll().version == "3" and holder.last_error is None


def test_the_registry_unreachable_is_reported_and_the_champion_keeps_serving(cfg, loaded):
    registry = Registry(loaded)
    up = {"ok": True}

    def alias(cfg):
        if not up["ok"]:
            raise ConnectionError("Connection refused")
        return registry.champion

    holder = ModelHolder(cfg, loader=registry.load, alias_lookup=alias)
    holder.load()
    up["ok"] = False
    registry.champion = "2"
    assert holder.poll() is None and holder.version == "1"
    state = holder.registry_state()
    assert not state["reachable"] and "Connection refused" in state["error"]
    assert state["down_since"] is not None and holder.not_ready_reason() is None

    up["ok"] = True  # back: the new champion is swapped in on the next poll
    assert holder.poll().version == "2"
    assert holder.registry_state() == {"reachable": True, "error": None, "down_since": None}
