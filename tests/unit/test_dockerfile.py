"""docker/Dockerfile builds the production image only: the official Airflow image, requirements.txt and the
gmcrm package, DAGs, plugin entry points and SQL; never the sandbox, the devtools, the tests or a dev tool.

No image is built here (no registry to pull the base image from: docs/deployment.md); the file is parsed
(dockerfile-parse) and linted (hadolint, from its wheel in requirements-dev.txt).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from docker.utils.build import exclude_paths
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
PARSER = DockerfileParser(path=str(DOCKERFILE))
INSTRUCTIONS = PARSER.structure
DEV_ONLY = ("sandbox", "tests", "benchmarks", "requirements-dev.txt", "gmcrm_devtools", ".env")


def _copied_sources() -> list[str]:
    sources: list[str] = []
    for step in INSTRUCTIONS:
        if step["instruction"] == "COPY":
            args = [a for a in step["value"].split() if not a.startswith("--")]
            sources += args[:-1]
    return sources


def test_the_official_airflow_image_of_our_version() -> None:
    assert PARSER.baseimage == "apache/airflow:3.3.2-python3.11"
    requirements = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    assert "apache-airflow==3.3.2" in requirements.splitlines()


def test_copies_the_production_files_only() -> None:
    sources = _copied_sources()
    assert sorted(sources) == sorted(
        [
            "requirements.txt",
            "constraints.txt",
            "pyproject.toml",
            "plugins/gmcrm",
            "dags",
            "plugins/gmcrm_lead_log_plugin.py",
            "plugins/gmcrm_log_masking_plugin.py",
            "include/sql",
        ]
    )
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not any(part in source for part in DEV_ONLY), source


def test_installs_requirements_txt_and_the_package_without_dependencies() -> None:
    runs = [step["value"] for step in INSTRUCTIONS if step["instruction"] == "RUN"]
    assert runs == [
        "pip install --no-cache-dir -r /opt/gmcrm/requirements.txt -c /opt/gmcrm/constraints.txt",
        "pip install --no-cache-dir --no-deps /opt/gmcrm",
    ]
    assert PARSER.envs["GMCRM_PROJECT_ROOT"] == "/opt/airflow"  # where include/sql is copied


def test_dockerignore_lets_in_exactly_what_the_dockerfile_copies() -> None:
    lines = [
        line for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines() if line and line[0] != "#"
    ]
    assert lines[0] == "*"  # everything out (.env, .venv, .gmcrm, the sandbox, tests) ...
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == set(_copied_sources())  # ... but what the image needs


def test_the_build_context_holds_no_secret_and_no_development_file() -> None:
    # The Docker SDK's own reading of .dockerignore: the files `docker build .` would send.
    patterns = [line for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines() if line[:1] != "#"]
    context = exclude_paths(str(ROOT), [p for p in patterns if p])
    assert "plugins/gmcrm/cli.py" in context and "include/sql/routines/60.gmcrm.load_dealers.sql" in context
    assert "dags/gmcrm_send_triggers.py" in context and "plugins/gmcrm/config/gm_crm.yaml" in context
    leaked = {
        path
        for path in context
        if path.startswith(("sandbox", "tests", "benchmarks", ".venv", ".gmcrm", ".git/", "docs"))
        or path in {".env", "requirements-dev.txt", "Makefile"}
        or path.endswith(".pyc")
    }
    assert leaked == set()


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
