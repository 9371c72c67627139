"""Kubernetes mode: every task of both DAGs as the pod Airflow would create, rendered without
a cluster in the Airflow virtualenv, validated with ``kubernetes-validate --strict`` and
checked against ``deploy/k8s`` (image, ConfigMap, Secret, security, resources)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap

import pytest
import yaml
from support.airflow_kit import DAGS, airflow_env, make_recorder, run
from support.k8s import K8S, base, container_security_ok, validate, writable_mounts

from imdbops.pipelines import scoring, training
from imdbops.redaction import SECRET_KEY_PATTERN

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

RUN_ID = "scheduled__2026-11-27T03:00:00+00:00"
# Credentials in the Airflow worker's own environment: none may reach a pod spec.
WORKER_SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "worker-secret-5f1d9a7c",
    "IMDBOPS_SERVING__ADMIN_TOKEN": "worker-admin-token-83b2",
}
GROUPS = {training.DAG_NAME: ("pipeline", training), scoring.DAG_NAME: ("score", scoring)}
XCOM_FILE = "/airflow/xcom/return.json"

# Load both DAGs in Kubernetes mode and build each task's pod as KubernetesPodOperator does
# when it runs: the command from the task's callable (given its upstream reports and the run
# id), then build_pod_request_obj (dry_run: no cluster credentials needed).
RENDER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from kubernetes.client import ApiClient

    dags, out, run_id = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    bag = DagBag(dag_folder=dags)
    assert not bag.import_errors, bag.import_errors
    api = ApiClient()
    for dag_id, dag in bag.dags.items():
        for op in dag.tasks:
            upstream = [
                {"task": u, "run_id": run_id,
                 "outputs": {u: {"path": f"s3://bucket/runs/{u}", "sha256": "0" * 64}}}
                for u in sorted(op.upstream_task_ids)
            ]
            op.cmds, op.arguments = op.python_callable(upstream=upstream, run_id=run_id), []
            pod = api.sanitize_for_serialization(op.build_pod_request_obj(dry_run=True))
            (out / dag_id).mkdir(parents=True, exist_ok=True)
            (out / dag_id / f"{op.task_id}.json").write_text(json.dumps({
                "pod": pod,
                "upstream": upstream,
                "is_pod_operator": isinstance(op, KubernetesPodOperator),
                "tags": sorted(dag.tags),
            }))
    """
)


def _dev_namespace() -> str:
    return yaml.safe_load((K8S / "overlays" / "dev" / "kustomization.yaml").read_text())[
        "namespace"
    ]


@pytest.fixture(scope="module")
def rendered(airflow_python, tmp_path_factory) -> dict[tuple[str, str], dict]:
    """(dag id, task id) -> what RENDER wrote, with the dev overlay's namespace set."""
    tmp = tmp_path_factory.mktemp("k8s-pods")
    env = airflow_env(
        tmp / "airflow-home",
        IMDBOPS_AIRFLOW_MODE="kubernetes",
        IMDBOPS_K8S_NAMESPACE=_dev_namespace(),
        **WORKER_SECRETS,
    )
    out = tmp / "pods"
    run([str(airflow_python), "-c", RENDER, str(DAGS), str(out), RUN_ID], env, tmp, timeout=600)
    found = {}
    for path in sorted(out.glob("*/*.json")):
        found[(path.parent.name, path.stem)] = json.loads(path.read_text())
    return found


def _train_job() -> dict:
    return base("CronJob", "imdbops-train")["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def _base_container(pod: dict) -> dict:
    (main,) = [c for c in pod["spec"]["containers"] if c["name"] == "base"]
    return main


def test_every_task_of_both_dags_has_a_pod(rendered):
    expected = {(d, t) for d, (_, m) in GROUPS.items() for t in m.TASK_NAMES}
    assert set(rendered) == expected
    for found in rendered.values():
        assert found["is_pod_operator"]
        assert "mode:kubernetes" in found["tags"]


def test_every_pod_spec_validates_strictly(rendered):
    for (_, task_id), found in rendered.items():
        pod = found["pod"]
        assert pod["kind"] == "Pod" and pod["apiVersion"] == "v1"
        validate(pod)
        # A pod name is a DNS-1123 subdomain (the schema does not check it).
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", pod["metadata"]["name"]), task_id
        assert len(pod["metadata"]["name"]) <= 63


def test_pods_run_the_step_from_the_project_image(rendered):
    image = _train_job()["containers"][0]["image"]
    for (dag_id, task_id), found in rendered.items():
        group, definition = GROUPS[dag_id]
        pod = found["pod"]
        main = _base_container(pod)
        assert main["image"] == image
        assert pod["metadata"]["namespace"] == _dev_namespace()
        assert pod["spec"]["restartPolicy"] == "Never"
        command = main["command"]
        assert command[:2] == ["/bin/sh", "-c"] and XCOM_FILE in command[2]
        step = command[4:]
        assert step[:6] == ["imdbops", group, "task", task_id, "--run-id", RUN_ID]
        passed = [json.loads(step[i + 1]) for i, a in enumerate(step) if a == "--upstream"]
        assert passed == found["upstream"]
        assert {r["task"] for r in passed} == {u for u, d in definition.EDGES if d == task_id}


def test_pods_take_config_and_credentials_from_deploy_k8s_by_reference(rendered):
    config_map = base("ConfigMap")["metadata"]["name"]
    secret = base("Secret")["metadata"]["name"]
    job_env_from = _train_job()["containers"][0]["envFrom"]
    expected = [{"configMapRef": {"name": config_map}}, {"secretRef": {"name": secret}}]
    assert job_env_from == expected
    secret_keys = set(base("Secret")["stringData"])
    for found in rendered.values():
        main = _base_container(found["pod"])
        assert main["envFrom"] == expected
        for var in main.get("env") or []:
            assert var["name"] not in secret_keys, var
            assert not re.search(SECRET_KEY_PATTERN, var["name"]), var
        text = json.dumps(found["pod"])
        for value in WORKER_SECRETS.values():
            assert value not in text, "a worker credential leaked into a pod spec"


def test_pods_are_hardened_like_the_training_job(rendered):
    job = _train_job()
    for found in rendered.values():
        spec = found["pod"]["spec"]
        assert spec["securityContext"] == job["securityContext"]
        assert spec["automountServiceAccountToken"] is False
        # The namespace enforces the restricted standard: the XCom sidecar too.
        assert len(spec["containers"]) == 2
        for container in spec["containers"]:
            container_security_ok(container["securityContext"])
        assert (
            _base_container(found["pod"])["securityContext"]
            == (job["containers"][0]["securityContext"])
        )


def test_pods_write_only_to_their_own_scratch_volumes(rendered):
    root = base("ConfigMap")["data"]["IMDBOPS_PATHS__ROOT"]
    for found in rendered.values():
        pod = found["pod"]["spec"]
        main = _base_container(found["pod"])
        # Nothing shared between tasks: no claim, only the pod's own emptyDirs.
        assert all("emptyDir" in v for v in pod["volumes"]), pod["volumes"]
        writable = writable_mounts(pod, main)
        assert {root, "/tmp", "/airflow/xcom"} <= writable
        home = {v["name"]: v["value"] for v in main["env"]}["HOME"]
        assert any(home == m or home.startswith(m + "/") for m in writable)


def _quantity(text: str) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def test_model_fitting_tasks_get_the_training_jobs_resources(rendered):
    job = _train_job()["containers"][0]["resources"]
    heavy = set()
    for (_, task_id), found in rendered.items():
        resources = _base_container(found["pod"])["resources"]
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources[kind]), (task_id, kind)
            for key in ("cpu", "memory"):
                assert _quantity(resources[kind][key]) <= _quantity(job[kind][key])
                assert _quantity(resources["requests"][key]) <= _quantity(resources["limits"][key])
        if resources == job:
            heavy.add(task_id)
    # The pod size comes from each spec's resource class, not from a list in the DAG file.
    declared = {
        name
        for _, definition in GROUPS.values()
        for name, spec in definition.SPEC_BY_NAME.items()
        if spec.resource_class == "heavy"
    }
    assert heavy == declared == {"tune", "train", "evaluate", "score"}


def test_a_rendered_pod_command_leaves_the_report_for_the_xcom_sidecar(rendered, tmp_path):
    """The train pod's very command under /bin/sh, with ``imdbops`` a recorder on PATH and
    the XCom file moved under tmp_path."""
    command = list(_base_container(rendered[(training.DAG_NAME, "train")]["pod"])["command"])
    xcom = tmp_path / "xcom" / "return.json"
    xcom.parent.mkdir()
    command[2] = command[2].replace(XCOM_FILE, str(xcom))
    bin_dir = make_recorder(tmp_path / "bin").parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMDBOPS_")}
    env.update(PATH=f"{bin_dir}:{env['PATH']}", TMPDIR=str(tmp_path))
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(xcom.read_text())
    assert report["argv"] == command[5:]
    assert proc.stdout.strip().splitlines()[-1] == xcom.read_text().strip()
