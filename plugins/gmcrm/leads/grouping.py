"""Which dealerships each mapped load task holds, in which order, and how the task is labelled. Pure.

Every Airflow task instance has a fixed cost whatever it does: ~0.7 CPU-s in a load task's own process
before its work (0.67 measured with the real scheduler; 0.08 since :mod:`gmcrm.preload`, see
``benchmarks/bench_task_start.py``), and about 1 s of wall time and 0.25 s of the scheduler's time
around it (issue 11: 258 s of scheduling for 1,002 instances). With one dealership per
instance, 1,000 dealerships cost more than the 5-minute cycle can give (issue 11: 1,002 instances did
not finish in the run's 270 s; 22 instances of 50 dealerships loaded everything in 30 s). So the number
of load instances is bounded by what the deployment runs at once (:func:`max_load_tasks`): few
dealerships still get one instance each (named by the dealer code), many are grouped.

The order matters as much as the number: the scheduler starts the mapped instances of a run in
``map_index`` order (``airflow/jobs/scheduler_job_runner.py``: ``order_by(-priority_weight,
logical_date, map_index)``), so the dealerships whose last load failed or did not happen are put first
(:func:`load_order`); a run cut short by its timeout is then made up first by the next one instead of
starving the same dealerships again.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Collection, Mapping, Sequence
from itertools import accumulate
from typing import Final

#: ``GMCRM_IMPORT_MAX_TASKS``'s default: at most 20 load instances per run. Their fixed cost is then
#: 20 x ~1 s = ~20 CPU-s, about 3 % of what 2 cores give in a 5-minute cycle (600 CPU-s), and measured:
#: 22 instances loaded 1,000 dealerships x 100 leads in 30 s (8 s of it scheduling), where 102 took 57 s
#: and 1,002 did not finish. Airflow's own limits lower it further (see :func:`max_load_tasks`).
DEFAULT_MAX_TASKS: Final = 20

#: What a dealership's load costs beyond its leads, in leads: one database call and its commit, the
#: quarantine bookkeeping; a quiet dealership's load line says ~0.01 s, a lead ~0.1-0.2 ms (README,
#: benchmarks). Groups are balanced on ``staged records + DEALER_WEIGHT`` so that a group of quiet
#: dealerships and a group holding one dealership's first run of 5,000 open leads take about as long.
DEALER_WEIGHT: Final = 50

#: How many of a group's overdue dealerships its label names before "+N".
LABEL_CODES: Final = 3


def max_load_tasks(
    setting: int | None,
    *,
    parallelism: int | None = None,
    max_active_tasks: int | None = None,
    pool_slots: int | None = None,
) -> int:
    """The most load instances a run should map: ``GMCRM_IMPORT_MAX_TASKS`` (``setting``, default
    :data:`DEFAULT_MAX_TASKS`) and no more than Airflow lets run at once: ``[core] parallelism``, the
    DAG's ``max_active_tasks`` (``[core] max_active_tasks_per_dag`` unless the DAG sets it) and the
    slots of the pool the load task uses. More instances than that would only queue, each paying its
    fixed cost. Values that are not positive are ignored (Airflow's 0 means "no limit" in places)."""
    limits = [setting if setting and setting > 0 else DEFAULT_MAX_TASKS]
    limits += [v for v in (parallelism, max_active_tasks, pool_slots) if v is not None and v > 0]
    return min(limits)


def load_order(codes: Sequence[str], overdue: Sequence[str]) -> list[str]:
    """``codes`` with the overdue dealerships first, in the order given in ``overdue`` (the longest
    waiting first), then the others in code order. Codes in ``overdue`` that are not in ``codes`` are
    not loaded in this run and are left out."""
    wanted = set(codes)
    first = [c for c in dict.fromkeys(overdue) if c in wanted]
    seen = set(first)
    return first + sorted(c for c in wanted if c not in seen)


def dealers_per_task(count: int, max_tasks: int, override: int | None = None) -> int:
    """``GMCRM_DEALERS_PER_TASK`` when set, else as many as keep the instances within ``max_tasks``: 1
    while there are no more dealerships than that (each its own instance, named by its code)."""
    if override is not None and override > 0:
        return override
    return max(1, math.ceil(count / max(1, max_tasks)))


def split_groups(
    codes: Sequence[str],
    *,
    max_tasks: int,
    per_task: int | None = None,
    staged: Mapping[str, int] | None = None,
) -> list[list[str]]:
    """Cut ``codes`` (already in load order) into consecutive groups, the order kept.

    With ``per_task`` (``GMCRM_DEALERS_PER_TASK``) every group holds that many (the last one the rest).
    Otherwise there are ``ceil(n / ceil(n / max_tasks))`` groups (never more than ``max_tasks``, one per
    dealership while ``n <= max_tasks``), balanced on each dealership's staged records plus
    :data:`DEALER_WEIGHT`: each cut falls where the running total is nearest its share."""
    n = len(codes)
    if n == 0:
        return []
    if per_task is not None and per_task > 0:
        return [list(codes[i : i + per_task]) for i in range(0, n, per_task)]
    k = math.ceil(n / dealers_per_task(n, max_tasks))
    weights = [DEALER_WEIGHT + max(0, (staged or {}).get(code, 0)) for code in codes]
    bounds = _balanced_cuts(weights, k)
    return [list(codes[a:b]) for a, b in zip([0, *bounds], [*bounds, n], strict=True)]


def _balanced_cuts(weights: Sequence[int], k: int) -> list[int]:
    """The k-1 cut indexes of a split of ``weights`` into k non-empty consecutive parts, each cut at the
    index whose prefix sum is nearest ``j/k`` of the total (each part stays within one item's weight of
    its share)."""
    prefix = [0, *accumulate(weights)]  # prefix[i]: the weight of items[:i]
    total, n = prefix[-1], len(weights)
    cuts: list[int] = []
    previous = 0
    for j in range(1, k):
        share = total * j / k
        i = bisect_left(prefix, share)  # first prefix >= share; i - 1 is the last below it
        if i > 0 and share - prefix[i - 1] <= prefix[i] - share:
            i -= 1
        # Leave at least one item for this part and for each part still to come.
        i = min(max(i, previous + 1), n - (k - j))
        cuts.append(i)
        previous = i
    return cuts


def group_label(codes: Sequence[str], overdue: Collection[str] = ()) -> str:
    """What the UI shows for a load instance (its ``map_index_template``): ``BR0001`` for one dealership,
    ``BR0001..BR0050 (50)`` for a group, and the overdue ones named first, as they load first:
    ``BR0457, BR0003, then BR0001..BR0048 (50)``."""
    if len(codes) == 1:
        return codes[0]
    first = [c for c in codes if c in overdue]
    rest = [c for c in codes if c not in overdue]
    parts: list[str] = []
    if first:
        parts.append(_codes_text(first))
    if rest:
        parts.append(rest[0] if len(rest) == 1 else f"{rest[0]}..{rest[-1]}")  # in code order
    return f"{', then '.join(parts)} ({len(codes)})"


def _codes_text(codes: list[str]) -> str:
    """A few codes by name; many as a range when they are in code order (a first run of many
    dealerships), else the first ones and how many more."""
    if len(codes) <= LABEL_CODES:
        return ", ".join(codes)
    if codes == sorted(codes):
        return f"{codes[0]}..{codes[-1]}"
    return f"{', '.join(codes[:LABEL_CODES])} +{len(codes) - LABEL_CODES}"
