"""The resilience suite's machinery, on a few of its fault classes (``benchmarks/resilience.py`` runs all).

Runs the same code as the script: its own PostgreSQL (crashed for real), the sandbox in its own process,
the DAGs under ``dag.test()``, the counts from ground truth. One GM fault (the connection dropped after GM
applied the call: the resend must not duplicate anything), one PostgreSQL crash (during a send) and the
session refused again after a new sign-in (the client's fix: nothing failed, nothing lost).
"""

from __future__ import annotations

import pytest

from gmcrm_devtools import resilience
from gmcrm_devtools.resilience.faults import FAULT_CLASSES

pytestmark = pytest.mark.integration

SUBSET = (
    "connection dropped after GM applied it",
    "PostgreSQL crash during a send",
    "session refused again right after signing in again",
)


def test_a_subset_of_fault_classes_runs_and_counts_from_ground_truth() -> None:
    classes = [c for c in FAULT_CLASSES if c[0] in SUBSET]
    assert [c[0] for c in classes] == list(SUBSET)
    lines: list[str] = []
    with resilience.environment() as env:
        outcomes = resilience.run_suite(env, classes, lines.append)

    assert [o.name for o in outcomes] == list(SUBSET)
    assert [line for line in lines if line.startswith("[")] == [
        f"[{i}/3] {name} ..." for i, name in enumerate(SUBSET, 1)
    ]
    for outcome in outcomes:
        assert outcome.error is None, (outcome.name, outcome.error, outcome.notes)
        assert outcome.counts is not None and outcome.injected > 0, outcome
        counts = outcome.counts
        # The world has people with two leads arriving in one cycle: leads duplicated counts the load's matching.
        assert (
            counts.leads_lost,
            counts.leads_duplicated,
            counts.events_lost,
            counts.events_duplicated,
            counts.order_violations,
            counts.green_while_failed,
        ) == (0, 0, 0, 0, 0, 0), (outcome.name, counts, outcome.notes)

    table = resilience.table(outcomes).splitlines()
    assert table[0] == "| " + " | ".join(resilience.COLUMNS) + " |"
    assert [row.split(" | ")[0].lstrip("| ") for row in table[2:]] == list(SUBSET)
