"""docker-compose.yaml: the production shape of operations.md, safe by default.

Checked structurally everywhere, and by ``docker-compose config`` (Debian's docker-compose 1.29, installed
by ``make system-deps``) where the tool is installed: without ``.env`` it refuses to start, with one from
``gmcrm deploy env`` it resolves with no default credential left. No container is started here: this
machine reaches no image registry (docs/deployment.md).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.fernet import Fernet

from gmcrm import deploy

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yaml"
TEXT = COMPOSE.read_text(encoding="utf-8")
SPEC: dict[str, Any] = yaml.safe_load(TEXT)
SERVICES: dict[str, Any] = SPEC["services"]
AIRFLOW_ENV: dict[str, str] = SPEC["x-airflow-common"]["environment"]
#: What compose interpolates: comments dropped, `$${...}` (the containers' own shell) left out.
CODE = "\n".join(line for line in TEXT.splitlines() if not line.lstrip().startswith("#"))
VARIABLE = r"(?<!\$)\$\{"

#: The only variables allowed a default: none of them is a credential.
DEFAULTED = {"GMCRM_IMAGE", "AIRFLOW_UID", "AIRFLOW_CONN_GM_CRM", "AIRFLOW_CONN_GMCRM_ALERTS"}
SECRETS = {v.name for v in deploy.ENV_VARS if v.secret} - deploy.TO_FILL


def test_services_of_the_production_shape() -> None:
    for name in (
        "postgres",
        "redis",
        "dms",
        "keycloak",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-worker",
        "airflow-triggerer",
        "airflow-init",
    ):
        assert name in SERVICES, name
    assert AIRFLOW_ENV["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert AIRFLOW_ENV["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://:${REDIS_PASSWORD:?")
    assert SERVICES["airflow-worker"]["command"] == "celery worker"


def test_a_production_auth_manager() -> None:
    manager = AIRFLOW_ENV["AIRFLOW__CORE__AUTH_MANAGER"]
    assert manager == "airflow.providers.keycloak.auth_manager.keycloak_auth_manager.KeycloakAuthManager"
    assert "simple" not in TEXT.lower().replace("simple-salesforce", "")  # no SimpleAuthManager, no users list


def test_every_secret_is_required_and_nothing_has_a_default_credential() -> None:
    used = set(re.findall(VARIABLE + r"([A-Z0-9_]+)", CODE))
    # Every variable the file reads is one `gmcrm deploy env` writes (and .env.example lists), or GMCRM_IMAGE.
    assert used - {v.name for v in deploy.ENV_VARS} <= {"GMCRM_IMAGE", "AIRFLOW_CONN_GMCRM_ALERTS"}
    for name in SECRETS & used:
        forms = set(re.findall(VARIABLE + name + r"(:\?|:-|-|\?|\})", CODE))
        assert forms == {":?"}, (name, forms)
    defaulted = set(re.findall(VARIABLE + r"([A-Z0-9_]+):?-", CODE))
    assert defaulted <= DEFAULTED, defaulted - DEFAULTED
    for leftover in ("change-me", "changeme", "POSTGRES_HOST_AUTH_METHOD", "SIMPLE_AUTH_MANAGER"):
        assert leftover not in TEXT, leftover
    for name in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API__SECRET_KEY"):
        assert AIRFLOW_ENV[name].startswith("${") and ":?" in AIRFLOW_ENV[name], name


def test_the_dms_is_used_as_the_integration_role_and_migrated_as_its_owner() -> None:
    assert AIRFLOW_ENV["AIRFLOW_CONN_DMS_POSTGRES"].startswith("${AIRFLOW_CONN_DMS_POSTGRES:?")
    assert "GMCRM_DMS_OWNER_URL" not in AIRFLOW_ENV  # only airflow-init gets the owner
    init = SERVICES["airflow-init"]
    script = " ".join(init["command"])
    assert 'gmcrm db upgrade --dms-url "$$GMCRM_DMS_OWNER_URL"' in script
    assert "gmcrm deploy app-user gmcrm_app" in script
    assert init["environment"]["GMCRM_DMS_OWNER_URL"].startswith("${GMCRM_DMS_OWNER_URL:?")
    env = deploy.generate_env()
    assert env["AIRFLOW_CONN_DMS_POSTGRES"].startswith(f"postgresql://{deploy.APP_USER}:")
    assert env["GMCRM_DMS_OWNER_URL"].startswith(f"postgresql://{deploy.OWNER_USER}:")


def test_logs_survive_a_container_and_no_code_is_mounted() -> None:
    assert SPEC["x-airflow-common"]["volumes"] == ["airflow-logs:/opt/airflow/logs"]
    assert "airflow-logs" in SPEC["volumes"]
    assert "AIRFLOW__LOGGING__REMOTE_LOGGING" in TEXT  # documented (commented) remote logging
    assert "AIRFLOW__SECRETS__BACKEND" in TEXT  # documented secrets backend
    mounts = [m for s in SERVICES.values() for m in s.get("volumes", []) if str(m).startswith(".")]
    assert mounts == ["./docker/keycloak:/opt/keycloak/data/import:ro"]  # the realm to import, nothing else


def test_env_example_lists_every_variable_with_its_explanation() -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert example == deploy.render({}, deploy.EXAMPLE_HEADER)
    assert all(line.endswith("=") for line in example.splitlines() if not line.startswith("#"))
    assert ".env" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()


def test_realm_import_reads_its_secrets_from_the_environment() -> None:
    realm = (ROOT / "docker" / "keycloak" / "gmcrm-realm.json").read_text(encoding="utf-8")
    placeholders = set(re.findall(r"\$\{([A-Z0-9_]+)\}", realm))
    assert placeholders == {"KEYCLOAK_CLIENT_SECRET", "AIRFLOW_BASE_URL", "GMCRM_ADMIN_PASSWORD"}
    keycloak_env = SERVICES["keycloak"]["environment"]
    assert placeholders <= set(keycloak_env)
    assert '"temporary": true' in realm  # the first sign-in's password must be changed


def _compose(tool: str, directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool, "-f", str(directory / "docker-compose.yaml"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=directory,
    )


def test_docker_compose_refuses_to_start_without_env_and_resolves_with_one(tmp_path: Path) -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip("docker-compose is not installed here (make system-deps); structure checked above")
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yaml")
    refused = _compose(tool, tmp_path)
    assert refused.returncode != 0
    assert "gmcrm deploy env" in refused.stderr  # its message says what to do

    values = deploy.write_env(tmp_path / ".env")
    resolved = _compose(tool, tmp_path)
    assert resolved.returncode == 0, resolved.stderr
    config = yaml.safe_load(resolved.stdout)
    env = config["services"]["airflow-scheduler"]["environment"]
    Fernet(env["AIRFLOW__CORE__FERNET_KEY"].encode())  # a valid key, not empty
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == values["AIRFLOW_JWT_SECRET"]
    assert values["AIRFLOW_DB_PASSWORD"] in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert "change-me" not in resolved.stdout and ":airflow@" not in resolved.stdout
