"""Onboarding a dealership from the command line: the README's sequence, run verbatim as `gmcrm`
subprocesses against a seeded DMS (the demo world: BR0042 exists in the DMS, not in gmcrm) and the GM
sandbox, ending with an import that loads BR0042's leads with nothing quarantined."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from gmcrm.cli import app
from gmcrm_devtools.demo_seed import seed_demo_world
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.imports import create_leads, fast_client, lead, one_client, run_import, scalar

ROOT = Path(__file__).resolve().parents[3]
LEAD_TYPES = ("NEW_VEHICLE", "USED_VEHICLE", "SERVICE", "PARTS", "AFTER_SALES")


def _readme_block(marker: str) -> str:
    """The first fenced block after ``marker`` in README.md: the test runs what a person reads."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    after = text[text.index(marker) :]
    opening = after.index("```\n") + 4
    return after[opening : after.index("```", opening)]


#: The README's "add a dealership", word for word.
README_SEQUENCE = _readme_block("**Adding a dealership**")


def commands(text: str) -> list[str]:
    """The README block's commands, as a shell reads them (continuations joined, comments dropped)."""
    return [line for line in text.replace("\\\n", " ").strip().splitlines() if line.strip()]


def _gmcrm(line: str, dms_url: str) -> subprocess.CompletedProcess[str]:
    """One README line as a person types it: the installed `gmcrm` (this checkout's code)."""
    args = shlex.split(line, comments=True)
    assert args[0] == "gmcrm"
    script = Path(sys.executable).parent / "gmcrm"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "gmcrm.cli"]
    env = {
        **os.environ,
        "GMCRM_DMS_URL": dms_url,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT / "sandbox"), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run([*command, *args[1:]], env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def demo_world(dms_url: str) -> str:
    """What `make demo` and `make run` seed (`gmcrm db seed-demo`)."""
    with psycopg.connect(dms_url) as conn:
        seed_demo_world(conn)
    return dms_url


def test_the_readme_sequence_onboards_br0042_and_its_leads_load(demo_world: str, gm_sandbox: SandboxProcess) -> None:
    dms_url = demo_world
    create_leads(gm_sandbox, *(lead("BR0042", lead_type) for lead_type in LEAD_TYPES for _ in range(2)))
    lines = commands(README_SEQUENCE)
    assert len(lines) == 11
    results = [_gmcrm(line, dms_url) for line in lines]
    for line, result in zip(lines, results, strict=True):
        assert "Traceback" not in result.stdout + result.stderr, (line, result.stderr)
    codes = [r.returncode for r in results]
    details = [(line, r.stdout, r.stderr) for line, r in zip(lines, results, strict=True)]
    assert codes == [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0], details

    users, _, first_check, settings, *_, last_check, enabled = results
    assert "vendedor.vn" in users.stdout and "consultor.as" in users.stdout
    # The first check names each lead type without settings, with the command that fixes it.
    for lead_type in LEAD_TYPES:
        assert f"{lead_type} leads: no contact type and subtype" in first_check.stdout
        assert f"gmcrm contact-settings set BR0042 --lead-type {lead_type}" in first_check.stdout
    assert "every lead would be quarantined" in first_check.stdout
    assert "VENDA: VEICULO_NOVO, VEICULO_USADO" in settings.stdout  # what to choose from
    assert "PROBLEM" not in last_check.stdout and "BR0042: ready" in last_check.stdout
    assert "dealership BR0042 saved, enabled" in enabled.stdout

    _, loaded, failed = run_import(dms_url, one_client(fast_client()), dealer_codes=["BR0042"])
    assert not failed, failed
    (result,) = loaded
    assert (result.leads_read, result.contacts_created, result.quarantined) == (10, 10, 0)
    assert scalar(dms_url, "SELECT count(*) FROM gmcrm.lead_quarantine WHERE dealer_code = 'BR0042'") == 0
    assert (
        scalar(
            dms_url,
            "SELECT count(*) FROM dms.contact c JOIN dms.department d ON d.id = c.department_id "
            "WHERE c.dealer_code = 'BR0042' AND c.traffic_origin = 'INTERNET-GM' AND d.dealer_code = 'BR0042' "
            "AND c.contact_type IS NOT NULL",
        )
        == 10
    )


runner = CliRunner()


def _run(*args: str) -> Any:
    return runner.invoke(app, list(args))


def test_enabling_is_refused_when_every_lead_would_quarantine_unless_forced(
    demo_world: str, gm_sandbox: SandboxProcess
) -> None:
    dms_url = demo_world
    refused = _run("dealership", "set", "BR0042", "--name", "Chevrolet Nova", "--enabled", "--dms-url", dms_url)
    assert refused.exit_code == 2, refused.output
    assert "not enabled" in refused.output and "--force" in refused.output
    assert "gmcrm dealership set BR0042 --vehicles-user LOGIN" in refused.output
    assert "Traceback" not in refused.output
    assert scalar(dms_url, "SELECT count(*) FROM gmcrm.dealership WHERE dealer_code = 'BR0042'") == 0  # nothing saved

    forced = _run(
        "dealership", "set", "BR0042", "--name", "Chevrolet Nova", "--enabled", "--force", "--dms-url", dms_url
    )
    assert forced.exit_code == 0, forced.output
    assert "PROBLEM" in forced.output  # saved, and says what is still wrong
    assert scalar(dms_url, "SELECT integration_enabled FROM gmcrm.dealership WHERE dealer_code = 'BR0042'") is True

    # Some lead types fixed, others not: enabling is allowed, and the rest is listed.
    _run("dealership", "set", "BR0042", "--disabled", "--dms-url", dms_url)
    ok = _run("dealership", "set", "BR0042", "--vehicles-user", "vendedor.vn", "--dms-url", dms_url)
    assert ok.exit_code == 0, ok.output
    _run(
        "contact-settings", "set", "BR0042", "--lead-type", "new_vehicle", "--contact-type", "VENDA",
        "--contact-subtype", "VEICULO_NOVO", "--dms-url", dms_url,
    )  # fmt: skip
    partly = _run("dealership", "set", "BR0042", "--enabled", "--dms-url", dms_url)
    assert partly.exit_code == 0, partly.output
    assert "USED_VEHICLE, SERVICE, PARTS, AFTER_SALES leads would be quarantined" in partly.output


def test_distribution_needs_a_list_owner_and_an_inactive_user_is_named(
    demo_world: str, gm_sandbox: SandboxProcess
) -> None:
    dms_url = demo_world
    assert _run("dealership", "set", "BR0002", "--routing", "DISTRIBUTION", "--dms-url", dms_url).exit_code == 0
    with psycopg.connect(dms_url) as conn:
        conn.execute("UPDATE gmcrm.dealership SET service_user_id = NULL WHERE dealer_code = 'BR0002'")
        conn.execute("UPDATE dms.app_user SET active = false WHERE dealer_code = 'BR0002' AND login = 'gestor.leads'")
    check = _run("dealership", "check", "BR0002", "--dms-url", dms_url)
    assert check.exit_code == 1
    assert "SERVICE leads: no list owner (routing DISTRIBUTION" in check.output
    assert "gmcrm dealership set BR0002 --service-user LOGIN" in check.output
    assert "'gestor.leads', who is inactive in the DMS" in check.output
    assert _run("dealership", "check", "BR0001", "--dms-url", dms_url).exit_code == 0


def test_an_unknown_gm_connection_is_a_problem_unless_the_import_uses_it(
    demo_world: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dms_url = demo_world
    monkeypatch.delenv("AIRFLOW_CONN_GM_CRM", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_GM_CRM_NOWHERE", raising=False)
    with psycopg.connect(dms_url) as conn:
        conn.execute("UPDATE gmcrm.dealership SET gm_conn_id = 'gm_crm_nowhere' WHERE dealer_code = 'BR0003'")
    check = _run("dealership", "check", "BR0003", "--dms-url", dms_url)
    assert check.exit_code == 1
    assert "unknown GM connection" in check.output and "--gm-conn-id" in check.output
    assert "every lead would be quarantined or not imported" in check.output

    # Not visible from this shell (make demo's sandbox connection lives in its own process), but
    # another dealership imported through it: the scheduler has it.
    with psycopg.connect(dms_url) as conn:
        conn.execute("UPDATE gmcrm.dealership SET last_integration_at = now() WHERE dealer_code = 'BR0001'")
    check = _run("dealership", "check", "BR0002", "--dms-url", dms_url)
    assert check.exit_code == 0, check.output
    assert (
        "Airflow here does not know it, but the import does" in check.output
        and "BR0001 imported through it" in check.output
    )


def test_bad_values_are_one_line_naming_the_allowed_ones(demo_world: str) -> None:
    dms_url = demo_world
    cases = [
        (["contact-settings", "set", "BR0001", "--lead-type", "NEW_VEHICLE", "--contact-type", "VENDAS",
          "--contact-subtype", "X"], "contact type 'VENDAS' is not one of BR0001's: AFTER_SALES, POS_VENDA, VENDA"),
        (["contact-settings", "set", "BR0001", "--lead-type", "NEW_VEHICLE", "--contact-subtype", "OFICINA"],
         "VENDA subtype 'OFICINA' is not one of BR0001's: VEICULO_NOVO, VEICULO_USADO"),
        (["contact-settings", "set", "BR0001", "--lead-type", "BOATS", "--contact-type", "VENDA"],
         "lead type 'BOATS' is not one of NEW_VEHICLE, USED_VEHICLE"),
        (["contact-settings", "set", "BR0001", "--lead-type", "USED_VEHICLE", "--department", "XX"],
         "department 'XX' is not one of BR0001's: AS, OFI, PEC, VN, VU"),
        (["contact-settings", "set", "BR0001", "--lead-type", "SERVICE", "--department", "OFI"],
         "--department is for USED_VEHICLE leads only"),
        (["contact-settings", "set", "BR0001", "--traffic-origin", "RADIO"],
         "traffic origin 'RADIO' is not one of BR0001's: CRM-GM, INTERNET-GM, SHOWROOM"),
        (["dealership", "set", "BR0001", "--traffic-origin", "RADIO"], "traffic origin 'RADIO'"),
        (["dealership", "set", "BR0001", "--parts-user", "nobody"],
         "no user 'nobody' at dealership BR0001: its users are balcao.pecas"),
        (["contact-settings", "set", "BR0077", "--traffic-origin", "CRM-GM"], "gmcrm dealership set BR0077"),
        (["contact-settings", "set", "BR0001", "--contact-type", "VENDA"], "--lead-type is needed"),
    ]  # fmt: skip
    with psycopg.connect(dms_url) as conn:
        before = conn.execute("SELECT * FROM gmcrm.contact_setting ORDER BY 1, 2").fetchall()
    for args, expected in cases:
        result = _run(*args, "--dms-url", dms_url)
        assert result.exit_code == 2, (args, result.output)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and expected in lines[0], (args, result.output)
    with psycopg.connect(dms_url) as conn:
        assert conn.execute("SELECT * FROM gmcrm.contact_setting ORDER BY 1, 2").fetchall() == before
        assert conn.execute("SELECT traffic_origin FROM gmcrm.dealership WHERE dealer_code = 'BR0001'").fetchone() == (
            "INTERNET-GM",
        )
    # A change of one part keeps the rest.
    changed = _run("contact-settings", "set", "BR0001", "--lead-type", "USED_VEHICLE", "--department", "VN",
                   "--dms-url", dms_url)  # fmt: skip
    assert changed.exit_code == 0, changed.output
    assert "USED_VEHICLE VENDA/VEICULO_USADO department VN saved" in changed.output


def test_users_and_departments_lists(demo_world: str) -> None:
    users = _run("users", "list", "BR0042", "--dms-url", demo_world)
    assert users.exit_code == 0
    assert any(line.split()[:3] == ["vendedor.vu", "VU", "yes"] for line in users.output.splitlines())
    departments = _run("departments", "list", "BR0042", "--dms-url", demo_world)
    assert departments.exit_code == 0 and "Veículos Usados" in departments.output
    assert _run("users", "list", "BR9999", "--dms-url", demo_world).exit_code == 1
