"""The Kubernetes manifests of ``deploy/k8s`` and their offline checks, shared by the
deployment tests and the Airflow Kubernetes-mode test (whose pods must be wired the same)."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import yaml
from kubernetes_validate.utils import latest_version

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
BASE = K8S / "base"
# The newest Kubernetes schema kubernetes-validate ships (no download needed).
K8S_VERSION = latest_version()


def docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def validate(obj: dict) -> None:
    """``kubernetes-validate --strict`` on one object: an unknown field fails too."""
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def base(kind: str, name: str | None = None) -> dict:
    """The one object of ``kind`` (and ``name``) in deploy/k8s/base."""
    found = [
        d
        for p in BASE.glob("*.yaml")
        if p.name != "secret.template.yaml" or kind == "Secret"
        for d in docs(p)
        if d.get("kind") == kind and name in (None, d["metadata"]["name"])
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''} in {BASE}, found {len(found)}"
    return found[0]


def container_security_ok(ctx: dict) -> None:
    """The restricted Pod Security Standard plus a read-only root filesystem."""
    assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] > 0
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["capabilities"]["drop"] == ["ALL"]
    assert ctx["seccompProfile"]["type"] == "RuntimeDefault"


def writable_mounts(pod: dict, container: dict) -> set[str]:
    """Where the container may write: its emptyDir and PersistentVolumeClaim mounts."""
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = set()
    for m in container["volumeMounts"]:
        volume = volumes[m["name"]]
        if "emptyDir" in volume or "persistentVolumeClaim" in volume:
            mounts.add(m["mountPath"])
    return mounts
