"""No manifest, compose file, Dockerfile or workflow holds a literal secret."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
YAML_FILES = sorted(
    p
    for folder in (REPO / "deploy", REPO / ".github")
    for p in folder.rglob("*")
    if p.suffix in (".yaml", ".yml") and p.is_file()
)
TEXT_FILES = sorted(
    p
    for folder in (REPO / "deploy", REPO / ".github")
    for p in folder.rglob("*")
    if p.is_file() and p.suffix in ("", ".yaml", ".yml", ".json", ".toml", ".conf", ".ini", ".env")
)


def _id(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_the_scan_covers_the_deployment_files():
    names = {_id(p) for p in YAML_FILES}
    assert {
        "deploy/compose.yaml",
        "deploy/k8s/base/secret.template.yaml",
        "deploy/k8s/base/deployment.yaml",
    } <= names
    assert "deploy/Dockerfile" in {_id(p) for p in TEXT_FILES}


@pytest.mark.parametrize("path", YAML_FILES, ids=_id)
def test_yaml_has_no_literal_secret(checks, path):
    problems = []
    for doc in yaml.safe_load_all(path.read_text()):
        problems += checks.find_secrets_in_document(doc)
    assert problems == [], f"{_id(path)}: " + "; ".join(problems)


@pytest.mark.parametrize("path", TEXT_FILES, ids=_id)
def test_no_credential_shaped_text(checks, path):
    assert checks.find_secret_shapes(path.read_text()) == []


@pytest.mark.parametrize(
    "doc",
    [
        {"environment": {"POSTGRES_PASSWORD": "hunter2"}},
        {"environment": ["AWS_SECRET_ACCESS_KEY=abc123"]},
        {"env": [{"name": "IMDBOPS_SERVING__ADMIN_TOKEN", "value": "s3cr3t"}]},
        {"kind": "Secret", "stringData": {"anything": "real-value"}},
        {"kind": "Secret", "data": {"key": "cmVhbA=="}},
    ],
)
def test_scanner_flags_literal_secrets(checks, doc):
    assert checks.find_secrets_in_document(doc)


@pytest.mark.parametrize(
    "doc",
    [
        {"environment": {"POSTGRES_PASSWORD": "${POSTGRES_PASSWORD:?set it}"}},
        {"env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
        {"kind": "Secret", "stringData": {"AWS_SECRET_ACCESS_KEY": "REPLACE_ME"}},
        {"with": {"password": "${{ secrets.GITHUB_TOKEN }}"}},
        {"spec": {"automountServiceAccountToken": False}},
    ],
)
def test_scanner_accepts_placeholders_and_references(checks, doc):
    assert checks.find_secrets_in_document(doc) == []


@pytest.mark.parametrize(
    "text",
    [
        "aws_key = AKIAABCDEFGHIJKLMNOP",
        "-----BEGIN RSA PRIVATE KEY-----",
        "MLFLOW_BACKEND_STORE_URI: postgresql://mlflow:hunter2@postgres/mlflow",
    ],
)
def test_shape_scan_flags_credentials(checks, text):
    assert checks.find_secret_shapes(text)


def test_shape_scan_accepts_interpolated_urls(checks):
    assert (
        checks.find_secret_shapes("postgresql://mlflow:${POSTGRES_PASSWORD:?x}@postgres:5432/db")
        == []
    )
