"""The Trigger DAG forms: nothing that may be left empty is marked "required", and empty values are accepted
(by the API server's validation and by the tasks).

Airflow 3.3's UI reads each param's ``schema`` from the DAG details (the serialized DAG's params, dumped)
and marks a field required, and refuses it empty (a boolean ``false`` included), when the schema has a
``type`` that is not a list containing ``"null"`` (``isRequired`` in the UI's FlexibleForm; in the installed
bundle ``airflow/ui/dist/assets/index-*.js``:
``e=>!!e.schema.type&&(!Array.isArray(e.schema.type)||!e.schema.type.includes("null"))``). It renders the
field by the first type that is not ``"null"``, so ``["array", "null"]`` is still a list field.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.dags import airflow_db, dagbag, state  # noqa: F401 (fixtures)
from tests.integration.helpers.imports import seed

pytestmark = pytest.mark.integration

DAG_IDS = ("gmcrm_import_leads", "gmcrm_send_triggers")
EMPTY = {
    "gmcrm_import_leads": {"dealer_codes": None, "full_resync": None, "since": None},
    "gmcrm_send_triggers": {
        "dealer_codes": None,
        "retry_failed": None,
        "lead_id": None,
        "trigger_codes": None,
        "occurred_from": None,
        "occurred_to": None,
        "dry_run": None,
        "lanes": None,
    },
}


def _served(dag: Any) -> Any:
    """The DAG as the API server holds it (serialized and read back)."""
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))


def _ui_params(dag: Any) -> dict[str, dict[str, Any]]:
    """What the UI receives for the form: the DAG details' ``params`` (each param dumped)."""
    return {name: param.dump() for name, param in _served(dag).params.items()}


def _marked_required(param: dict[str, Any]) -> bool:
    """The UI's rule (see the module's docstring)."""
    kind = param["schema"].get("type")
    return bool(kind) and (not isinstance(kind, list) or "null" not in kind)


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_no_field_that_may_be_left_empty_is_marked_required(dagbag: Any, dag_id: str) -> None:  # noqa: F811
    params = _ui_params(dagbag.dags[dag_id])
    assert set(EMPTY[dag_id]) <= set(params)
    assert [name for name, p in params.items() if _marked_required(p)] == []


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_each_field_keeps_its_widget(dagbag: Any, dag_id: str) -> None:  # noqa: F811
    """The first type that is not null picks the UI's widget: lists stay lists, switches switches."""
    kinds = {name: p["schema"]["type"] for name, p in _ui_params(dagbag.dags[dag_id]).items()}
    widgets = {name: next(t for t in ([k] if isinstance(k, str) else k) if t != "null") for name, k in kinds.items()}
    expected = {
        "gmcrm_import_leads": {"dealer_codes": "array", "full_resync": "boolean", "since": "string"},
        "gmcrm_send_triggers": {
            "dealer_codes": "array",
            "retry_failed": "boolean",
            "lead_id": "string",
            "trigger_codes": "array",
            "occurred_from": "string",
            "occurred_to": "string",
            "dry_run": "boolean",
            "lanes": "integer",
        },
    }[dag_id]
    assert widgets == expected


@pytest.mark.parametrize("dag_id", DAG_IDS)
@pytest.mark.parametrize("empty", [None, "lists empty"])
def test_empty_values_pass_the_triggers_validation(dagbag: Any, dag_id: str, empty: str | None) -> None:  # noqa: F811
    conf = dict(EMPTY[dag_id])
    if empty:
        conf.update({k: [] for k in ("dealer_codes", "trigger_codes") if k in conf})
    validated = _served(dagbag.dags[dag_id]).params.deep_merge(conf).validate()
    assert {k: validated[k] for k in conf} == conf


def test_the_schema_still_refuses_what_it_refused(dagbag: Any) -> None:  # noqa: F811
    from airflow.exceptions import ParamValidationError

    send = _served(dagbag.dags["gmcrm_send_triggers"])
    for bad in ({"lanes": 0}, {"lanes": 9}, {"dry_run": "yes"}, {"trigger_codes": "CRE"}, {"occurred_to": "hoje"}):
        with pytest.raises(ParamValidationError):
            send.params.deep_merge(bad).validate()
    with pytest.raises(ParamValidationError):
        _served(dagbag.dags["gmcrm_import_leads"]).params.deep_merge({"dealer_codes": [1]}).validate()


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_a_run_with_every_field_left_empty_succeeds(
    airflow_db: None,  # noqa: F811
    dagbag: Any,  # noqa: F811
    dms_conn_env: str,
    gm_sandbox: SandboxProcess,
    dag_id: str,
) -> None:
    with psycopg.connect(dms_conn_env) as conn:
        seed(conn)
    run = dagbag.dags[dag_id].test(run_conf=EMPTY[dag_id])
    assert state(run) == "success"
