"""The resilience suite (``benchmarks/resilience.py``, ``make resilience``): both DAGs' code through every
fault class, against the GM CRM sandbox and a PostgreSQL the suite crashes, counted from ground truth.

Modules: ``env`` (the crashable PostgreSQL, the sandbox, the DAGs under ``dag.test()``), ``world`` (leads
of known people, DMS activity), ``case`` (one class: baseline, fault, cycles until quiet), ``faults``
(the classes), ``measure`` (the counts).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .case import Outcome, run_case
from .env import Environment, environment
from .faults import CORPUS_CLASS, FAULT_CLASSES, FaultClass, corpus_available

COLUMNS = (
    "fault class",
    "faults injected",
    "leads lost",
    "leads duplicated (customers or contacts)",
    "events lost",
    "events duplicated at GM",
    "per-lead order violations",
    "runs reported green while something failed",
)
CORPUS_MISSING = "corpus: not available"


def all_classes() -> list[FaultClass]:
    return [*FAULT_CLASSES, CORPUS_CLASS]


def run_suite(
    env: Environment, classes: Sequence[FaultClass], progress: Callable[[str], None] = print
) -> list[Outcome]:
    """Every class in turn, each on a fresh database and a reset sandbox."""
    outcomes: list[Outcome] = []
    for i, (name, inject) in enumerate(classes, start=1):
        progress(f"[{i}/{len(classes)}] {name} ...")
        if (name, inject) == CORPUS_CLASS and not corpus_available():
            outcomes.append(Outcome(name, 0, None, 0.0, [], CORPUS_MISSING))
            progress(f"      {CORPUS_MISSING}")
            continue
        outcome = run_case(env, name, inject, seed=i)
        outcomes.append(outcome)
        if outcome.counts is not None:
            figures = "leads lost/duplicated, events lost/duplicated, order, green while failed: " + " ".join(
                str(v) for v in outcome.counts.values()
            )
        else:
            figures = f"could not run: {outcome.error}"
        progress(f"      {outcome.seconds:.1f}s, {outcome.injected} faults injected; {figures}")
        for note in outcome.notes:
            progress(f"      note: {note}")
    return outcomes


def failed(outcomes: Sequence[Outcome]) -> bool:
    """Any count but "faults injected" non-zero, a class that could not run, or a fault never injected."""
    for outcome in outcomes:
        if outcome.error == CORPUS_MISSING:
            continue
        if outcome.error or outcome.counts is None or any(outcome.counts.values()) or outcome.injected <= 0:
            return True
    return False


def table(outcomes: Sequence[Outcome]) -> str:
    """One Markdown table, as the README shows it."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for o in outcomes:
        if o.counts is None:
            cells = [o.name, str(o.injected), *([o.error or "?"] + ["—"] * 5)]
        else:
            cells = [o.name, str(o.injected), *(str(v) for v in o.counts.values())]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


__all__ = [
    "COLUMNS",
    "Environment",
    "Outcome",
    "all_classes",
    "environment",
    "failed",
    "run_suite",
    "table",
]
