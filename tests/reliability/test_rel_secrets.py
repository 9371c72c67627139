"""A fake credential set in the environment and the config appears nowhere we write or answer."""

from __future__ import annotations

import httpx
from support.ports import free_port
from support.relkit import ServerProcess, cli, project_from_template

ENV_SECRET = "FAKEawsSecret-7x9Q2mZk4Lp0Wv3N"
CONFIG_TOKEN = "FAKEadminToken-Hq5Rt8Yz1Bn6"
PASSWORD = "FAKEpassw0rd-Jm2Xc7Vb4"
SECRETS = (ENV_SECRET, CONFIG_TOKEN, PASSWORD)


def _files_containing(root, needles: tuple[str, ...]) -> list[str]:
    hits = []
    encoded = [n.encode() for n in needles]
    for path in root.rglob("*"):
        if path.is_file() and path.stat().st_size < 200_000_000:
            data = path.read_bytes()
            hits += [f"{path.relative_to(root)}: {n.decode()}" for n in encoded if n in data]
    return hits


def test_secrets_never_leak(tmp_path, template_warehouse, record):
    config, cfg = project_from_template(
        tmp_path, template_warehouse, f"serving:\n  admin_token: {CONFIG_TOKEN}\n"
    )
    env = {
        "AWS_SECRET_ACCESS_KEY": ENV_SECRET,
        "AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKEFAKE",
        "IMDBOPS_TEST_DB_PASSWORD": PASSWORD,
        "MLFLOW_TRACKING_PASSWORD": PASSWORD,
    }
    outputs = []
    for args in (["pipeline", "run", "--run-id", "s1"], ["config", "show"], ["model", "list"]):
        proc = cli(args, config, env=env)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        outputs.append(proc.stdout + proc.stderr)

    server = ServerProcess(config, free_port(), env=env).start()
    answers = []
    try:
        for path in ("/api/v1/", "/api/v1/ready", "/api/v1/model", "/api/v1/args",
                     "/api/v1/performance", "/metrics", "/", "/api/v1/openapi.json"):  # fmt: skip
            answers.append(httpx.get(server.url + path, timeout=30).text)
        answers.append(
            httpx.post(
                server.url + "/api/v1/predict",
                json={"items": [{"title": "Heat", "genres": ["Crime"]}]},
                timeout=30,
            ).text
        )
        for token in (CONFIG_TOKEN, "wrong-token"):
            answers.append(
                httpx.post(
                    server.url + "/api/v1/admin/reload",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=60,
                ).text
            )
    finally:
        server.stop()
    answers.append(server.log.read_text())

    # the config file itself holds the token by design; nothing else may
    leaked_files = [
        h for h in _files_containing(tmp_path, SECRETS) if not h.startswith("imdbops.yaml")
    ]
    leaked_output = [s for s in SECRETS for text in outputs + answers if s in text]
    scanned = sum(1 for p in tmp_path.rglob("*") if p.is_file())
    record(
        "secrets",
        "fake credentials in env + config",
        "AWS secret, MLflow password, a *_PASSWORD variable in the environment and the admin "
        "token in the config file; full pipeline, config show, model list, the app's API "
        "(incl. an admin reload); then every file under the project (logs, run manifests, "
        "MLflow store + artifacts, reports, lake) and every response searched",
        "found nowhere" if not (leaked_files or leaked_output) else "LEAKED",
        files_scanned=scanned,
        responses_scanned=len(answers) + len(outputs),
        leaks=len(leaked_files) + len(leaked_output),
    )
    assert leaked_files == []
    assert leaked_output == []
