"""Shadow models for the shadow process in tests (``create_app(shadow_factory=...)``).

The shadow process imports this module and calls a factory with its config. ``slow`` is the
registered version 2 holding every call until the gate file exists (``open_gate``);
``broken`` raises on every call. Both answer the warm-up call normally. ``no_models_after_gate``
keeps the child from reading anything until the gate opens, then scores with no model.
"""

from __future__ import annotations

import time
from pathlib import Path

from imdbops.config import Config
from imdbops.serving.shadow_models import ModelSet

GATED = "integration.serving.shadow_support:gated_models"
NONE_UNTIL_GATE = "integration.serving.shadow_support:no_models_after_gate"
GATE_WAIT_S = 120.0


def gate_file(cfg: Config) -> Path:
    return Path(cfg.monitoring.shadow_log_dir).with_suffix(".gate")


def open_gate(cfg: Config) -> None:
    gate_file(cfg).touch()


class _Gated:
    def __init__(self, model, gate: Path | None):
        self.model, self.gate = model, gate

    def predict_proba(self, frame):
        if list(frame["title"]) != ["warm up"]:
            if self.gate is None:
                raise RuntimeError("this shadow model is broken")
            _wait(self.gate)
        return self.model.predict_proba(frame)


class _Loaded:
    def __init__(self, version: str, model):
        self.version, self.model = version, model


def gated_models(cfg: Config) -> ModelSet:
    """``slow`` (version "2", gated) and ``broken`` (version "3"), as ``cfg.serving.shadow``
    names them."""
    from imdbops.mlops.registry import load_version

    real = load_version(cfg, "2").model
    gate = gate_file(cfg)
    models = {"slow": _Loaded("2", _Gated(real, gate)), "broken": _Loaded("3", _Gated(real, None))}
    return ModelSet(
        cfg,
        list(cfg.serving.shadow),
        loader=lambda c, v: models[{"2": "slow", "3": "broken"}[v]],
        resolve=lambda c, target: {"slow": "2", "broken": "3"}[target],
    )


def no_models_after_gate(cfg: Config) -> ModelSet:
    _wait(gate_file(cfg))
    return ModelSet(cfg, [])


def _wait(gate: Path) -> None:
    deadline = time.monotonic() + GATE_WAIT_S
    while not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
