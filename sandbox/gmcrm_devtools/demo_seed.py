"""The demo's world in the DMS: dealerships (one per routing mode, plus BR0042, in the DMS but not
integrated yet), their departments, users and contact settings, and their catalogues (contact forms,
reasons, vehicle models, contact types, traffic origins), from ``config/demo_*.yaml``.

What ``make demo``, ``make run``, ``make resilience``, ``gmcrm db seed-demo`` and the tests seed. Not
production code: a real DMS has its own data, made by the dealerships' staff.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import yaml

from gmcrm import dealerships
from gmcrm.catalogue.sync import sync_catalogue

CONFIG_DIR = Path(__file__).resolve().parent / "config"
DEALERSHIPS_FILE = CONFIG_DIR / "demo_dealerships.yaml"
CATALOGUES_FILE = CONFIG_DIR / "demo_catalogues.yaml"


@dataclass(frozen=True)
class SeedSummary:
    dealer_codes: tuple[str, ...]
    contact_forms: int
    reasons: int
    vehicle_models: int


def seed_demo_world(conn: psycopg.Connection[Any]) -> list[str]:
    """Everything of the demo, idempotently: dealerships, departments, users and contact settings
    (:func:`seed_demo`), then their contact forms, reasons, vehicle models, contact
    types and traffic origins; and the DMS side of BR0042, a dealership not integrated yet."""
    codes = seed_demo(conn)
    # The DMS-only dealership (BR0042, the README's onboarding example) has its catalogues too.
    seed_demo_catalogues(conn, codes + dms_only_codes())
    return codes


def seed_demo(conn: psycopg.Connection[Any], path: Path = DEALERSHIPS_FILE, enabled: bool = True) -> list[str]:
    """Departments, users, dealerships and contact settings of the demo file, and the DMS side
    (departments and users only) of its ``dms_only`` dealerships. Idempotent; a ``dms_only``
    dealership someone has since added to gmcrm keeps its settings. Returns the integrated ones."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    codes: list[str] = []
    for code in dms_only_codes(path):
        _seed_dms(conn, code, spec)
    for dealer in spec["dealerships"]:
        code = dealer["dealer_code"]
        codes.append(code)
        _seed_dms(conn, code, spec)
        users = dealer["users"]
        dealerships.upsert_dealership(
            conn,
            code,
            name=dealer["name"],
            routing=dealer["routing"],
            traffic_origin=dealer["traffic_origin"],
            integration_enabled=enabled,
            vehicles_user_id=dealerships.user_id(conn, code, users["vehicles"]),
            parts_user_id=dealerships.user_id(conn, code, users["parts"]),
            service_user_id=dealerships.user_id(conn, code, users["service"]),
            after_sales_user_id=dealerships.user_id(conn, code, users["after_sales"]),
        )
        for lead_type, setting in spec["contact_settings"].items():
            dep_code = setting.get("department")
            conn.execute(
                "INSERT INTO gmcrm.contact_setting (dealer_code, lead_type, contact_type, contact_subtype, "
                "department_id) VALUES (%s, %s, %s, %s, "
                "(SELECT id FROM dms.department WHERE dealer_code = %s AND code = %s)) "
                "ON CONFLICT (dealer_code, lead_type) DO UPDATE SET contact_type = EXCLUDED.contact_type, "
                "contact_subtype = EXCLUDED.contact_subtype, department_id = EXCLUDED.department_id",
                (code, lead_type, setting["contact_type"], setting["contact_subtype"], code, dep_code),
            )
    return codes


def dms_only_codes(path: Path = DEALERSHIPS_FILE) -> list[str]:
    """The demo's dealerships that exist in the DMS but not (yet) in gmcrm: BR0042, the README's
    onboarding example."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [d["dealer_code"] for d in spec.get("dms_only", [])]


def _seed_dms(conn: psycopg.Connection[Any], code: str, spec: dict[str, Any]) -> None:
    """One dealership's DMS departments and users (what its staff create in the DMS)."""
    for dep in spec["departments"]:
        conn.execute(
            "INSERT INTO dms.department (dealer_code, code, name) VALUES (%s, %s, %s) "
            "ON CONFLICT (dealer_code, code) DO UPDATE SET name = EXCLUDED.name",
            (code, dep["code"], dep["name"]),
        )
    for user in spec["users"]:
        conn.execute(
            "INSERT INTO dms.app_user (dealer_code, login, name, email, department_id, sales_team, "
            "seller_origin) SELECT %s, %s, %s, %s, d.id, %s, %s FROM dms.department d "
            "WHERE d.dealer_code = %s AND d.code = %s "
            "ON CONFLICT (dealer_code, login) DO UPDATE SET name = EXCLUDED.name, "
            "department_id = EXCLUDED.department_id, sales_team = EXCLUDED.sales_team, "
            "seller_origin = EXCLUDED.seller_origin",
            (
                code,
                user["login"],
                user["name"],
                f"{user['login']}@{code.lower()}.example.com.br",
                user.get("sales_team"),
                user.get("seller_origin"),
                code,
                user["department"],
            ),
        )


def seed_demo_catalogues(
    conn: psycopg.Connection[Any], dealer_codes: list[str] | None = None, path: Path = CATALOGUES_FILE
) -> SeedSummary:
    """Contact forms, reasons and vehicle models of the demo file for each dealership. Idempotent.

    ``dealer_codes`` None: every dealership in ``gmcrm.dealership``. Loads the trigger catalogue
    first, because reasons point at GM's reason list. A reason someone mapped since the last seed
    keeps its mapping (the demo's deliberately unmapped one included).
    """
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    sync_catalogue(conn)
    if dealer_codes is None:
        dealer_codes = [r[0] for r in conn.execute("SELECT dealer_code FROM gmcrm.dealership ORDER BY 1")]
    with conn.cursor() as cur:
        for code in dealer_codes:
            for form in spec["contact_forms"]:
                cur.execute(
                    "INSERT INTO dms.contact_form (dealer_code, name, type, presence_indicator) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (dealer_code, name) DO UPDATE SET "
                    "type = EXCLUDED.type, presence_indicator = EXCLUDED.presence_indicator",
                    (code, form["name"], form.get("type"), form.get("presence_indicator")),
                )
            for reason in spec["reasons"]:
                cur.execute(
                    "INSERT INTO dms.reason AS r (dealer_code, code, description, reason_type, gm_reason) "
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (dealer_code, code) DO UPDATE SET "
                    "description = EXCLUDED.description, reason_type = EXCLUDED.reason_type, "
                    "gm_reason = coalesce(r.gm_reason, EXCLUDED.gm_reason)",
                    (code, reason["code"], reason["description"], reason["reason_type"], reason.get("gm_reason")),
                )
            for model in spec["vehicle_models"]:
                cur.execute(
                    "INSERT INTO dms.vehicle_model (dealer_code, code, description, version, model_year) "
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (dealer_code, code) DO UPDATE SET "
                    "description = EXCLUDED.description, version = EXCLUDED.version, "
                    "model_year = EXCLUDED.model_year",
                    (code, model["code"], model["description"], model.get("version"), str(model["model_year"])),
                )
            _seed_contact_catalogues(cur, code, spec)
    return SeedSummary(
        dealer_codes=tuple(dealer_codes),
        contact_forms=len(spec["contact_forms"]),
        reasons=len(spec["reasons"]),
        vehicle_models=len(spec["vehicle_models"]),
    )


def _seed_contact_catalogues(cur: psycopg.Cursor[Any], code: str, spec: dict[str, Any]) -> None:
    """Contact types with their subtypes, and traffic origins (what contact settings are chosen from)."""
    for ctype in spec.get("contact_types", []):
        cur.execute(
            "INSERT INTO dms.contact_type (dealer_code, code, name) VALUES (%s, %s, %s) "
            "ON CONFLICT (dealer_code, code) DO UPDATE SET name = EXCLUDED.name",
            (code, ctype["code"], ctype["name"]),
        )
        for sub in ctype.get("subtypes", []):
            cur.execute(
                "INSERT INTO dms.contact_subtype (dealer_code, contact_type, code, name) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (dealer_code, contact_type, code) DO UPDATE SET name = EXCLUDED.name",
                (code, ctype["code"], sub["code"], sub["name"]),
            )
    for origin in spec.get("traffic_origins", []):
        cur.execute(
            "INSERT INTO dms.traffic_origin (dealer_code, code, name) VALUES (%s, %s, %s) "
            "ON CONFLICT (dealer_code, code) DO UPDATE SET name = EXCLUDED.name",
            (code, origin["code"], origin["name"]),
        )
