"""Kubernetes mode: each imdbops task a ``KubernetesPodOperator`` pod from the project image.

The pod is wired like ``deploy/k8s``'s training CronJob: configuration from the ConfigMap
``imdbops-config`` and credentials from the Secret ``imdbops-secrets`` (``envFrom``, so no
value ever appears in the pod spec or in Airflow), the restricted security context (uid
10001, read-only root filesystem, no privilege escalation, no capabilities), and scratch
``emptyDir`` volumes at ``/data`` (``paths.root`` in the ConfigMap) and ``/tmp``. Nothing
else is shared between pods: inputs and outputs travel through ``paths.artifacts_url``,
which the ConfigMap must set to an object store (``IMDBOPS_PATHS__ARTIFACTS_URL``).

The image and namespace are settings (``imdbops_settings.py``); a task's pod size is its
spec's ``resource_class`` (``imdbops.pipelines.contract``). The cluster is Airflow's connection ``kubernetes_default`` (in-cluster or a kube config).
"""

from __future__ import annotations

import sys
from pathlib import Path

from airflow.sdk import task
from kubernetes.client import models as k8s

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when loaded on its own

import imdbops_settings as settings  # noqa: E402
from imdbops_commands import pod_command  # noqa: E402

# The same names as deploy/k8s (tests/integration/airflow checks they still are).
CONFIG_MAP = "imdbops-config"
SECRET = "imdbops-secrets"
UID = 10001

# By a step's resource class: ``heavy`` steps (model fitting, the bootstrap of evaluate,
# batch scoring) get what deploy/k8s gives the whole training job, whose peak they are;
# ``light`` steps move and check tables and get what one API pod gets.
RESOURCES = {
    "heavy": k8s.V1ResourceRequirements(
        requests={"cpu": "1", "memory": "2Gi"}, limits={"cpu": "2", "memory": "4Gi"}
    ),
    "light": k8s.V1ResourceRequirements(
        requests={"cpu": "250m", "memory": "512Mi"}, limits={"cpu": "1", "memory": "2Gi"}
    ),
}
# As deploy/k8s's training job: a backstop, not a budget (the tuner has its own timeout).
DEADLINE_S = 3 * 3600


def _container_security() -> k8s.V1SecurityContext:
    return k8s.V1SecurityContext(
        run_as_non_root=True,
        run_as_user=UID,
        run_as_group=UID,
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        capabilities=k8s.V1Capabilities(drop=["ALL"]),
        seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
    )


def pod_options(group: str, name: str, resource_class: str) -> dict:
    """KubernetesPodOperator arguments for one step (everything but its command)."""
    return {
        "image": settings.image(),
        "image_pull_policy": "IfNotPresent",
        "namespace": settings.namespace(),
        "name": f"imdbops-{group}-{name}".replace("_", "-"),
        "labels": {
            "app.kubernetes.io/name": "imdbops",
            "app.kubernetes.io/component": f"{group}-task",
            "app.kubernetes.io/part-of": "imdbops",
            "imdbops/task": name,
        },
        "env_from": [
            k8s.V1EnvFromSource(config_map_ref=k8s.V1ConfigMapEnvSource(name=CONFIG_MAP)),
            k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=SECRET)),
        ],
        # HOME under the read-only root is not writable; the task's own scratch folder is.
        "env_vars": [k8s.V1EnvVar(name="HOME", value="/data")],
        "container_resources": RESOURCES[resource_class],
        "volumes": [
            k8s.V1Volume(name="data", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit="4Gi")),
            k8s.V1Volume(name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit="2Gi")),
        ],
        "volume_mounts": [
            k8s.V1VolumeMount(name="data", mount_path="/data"),
            k8s.V1VolumeMount(name="tmp", mount_path="/tmp"),
        ],
        "security_context": k8s.V1PodSecurityContext(
            run_as_non_root=True,
            run_as_user=UID,
            run_as_group=UID,
            fs_group=UID,
            seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
        ),
        "container_security_context": _container_security(),
        # The namespace enforces the restricted Pod Security Standard on every container.
        "xcom_sidecar_container_security_context": _container_security(),
        "automount_service_account_token": False,
        "active_deadline_seconds": DEADLINE_S,
        # A cold node pulls the image first.
        "startup_timeout_seconds": 600,
        "do_xcom_push": True,
        "get_logs": True,
        "on_finish_action": "delete_pod",
    }


def pod_step_factory(definition, group: str):
    """``make_step(name)`` for ``imdbops_steps.steps_dag``: a ``@task.kubernetes_cmd`` whose
    command is built when the task starts, from its upstream reports and the run id."""

    def make_step(name: str):
        spec = definition.SPEC_BY_NAME[name]

        @task.kubernetes_cmd(
            task_id=name,
            doc_md=spec.description or None,
            **pod_options(group, name, spec.resource_class),
        )
        def step(upstream: list, **context) -> list[str]:
            return pod_command(group, name, list(upstream or []), context["run_id"])

        return step

    return make_step
