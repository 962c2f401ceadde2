"""How the import groups dealerships into load tasks: the number, the order, the balance, the labels."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gmcrm.leads.grouping import (
    DEALER_WEIGHT,
    DEFAULT_MAX_TASKS,
    dealers_per_task,
    group_label,
    load_order,
    max_load_tasks,
    split_groups,
)

CODES = st.lists(st.from_regex(r"BR[0-9]{4}", fullmatch=True), unique=True, max_size=400)


@given(
    codes=CODES,
    max_tasks=st.integers(1, 64),
    staged=st.dictionaries(st.from_regex(r"BR[0-9]{4}", fullmatch=True), st.integers(0, 20_000)),
)
def test_every_dealership_in_exactly_one_group_in_order_and_no_more_groups_than_the_target(
    codes: list[str], max_tasks: int, staged: dict[str, int]
) -> None:
    groups = split_groups(codes, max_tasks=max_tasks, staged=staged)
    assert [c for g in groups for c in g] == codes  # each once, the order kept
    assert all(groups)
    assert len(groups) <= max_tasks
    if len(codes) <= max_tasks:
        assert len(groups) == len(codes)  # few dealerships: one per instance, as the spec's default
    elif codes:
        # Grouped: as many groups as ceil(n / per_task) gives, so none is wasted on a handful.
        per = dealers_per_task(len(codes), max_tasks)
        assert len(groups) == -(-len(codes) // per)


@given(
    weights=st.lists(st.integers(0, 5_000), min_size=1, max_size=300),
    max_tasks=st.integers(1, 40),
)
def test_groups_are_balanced_on_staged_records_within_one_dealership_of_their_share(
    weights: list[int], max_tasks: int
) -> None:
    codes = [f"BR{i:04d}" for i in range(len(weights))]
    staged = dict(zip(codes, weights, strict=True))
    groups = split_groups(codes, max_tasks=max_tasks, staged=staged)
    cost = [sum(staged[c] + DEALER_WEIGHT for c in g) for g in groups]
    heaviest = max(w + DEALER_WEIGHT for w in weights)
    assert max(cost) <= sum(cost) / len(groups) + heaviest


def test_a_dealership_with_a_big_first_run_gets_a_group_of_its_own() -> None:
    codes = [f"BR{i:04d}" for i in range(1, 101)]
    groups = split_groups(codes, max_tasks=10, staged={c: 10 for c in codes} | {"BR0050": 20_000})
    assert ["BR0050"] in groups
    assert len(groups) == 10


def test_the_setting_fixes_the_dealerships_per_task() -> None:
    codes = [f"BR{i:04d}" for i in range(1, 8)]
    assert split_groups(codes, max_tasks=20, per_task=3) == [codes[0:3], codes[3:6], codes[6:7]]
    assert dealers_per_task(1000, 20, override=7) == 7
    assert dealers_per_task(1000, 20) == 50 and dealers_per_task(12, 20) == 1


def test_the_target_is_the_smallest_of_the_setting_and_what_airflow_runs_at_once() -> None:
    assert max_load_tasks(None) == DEFAULT_MAX_TASKS
    assert max_load_tasks(None, parallelism=32, max_active_tasks=16, pool_slots=128) == 16
    assert max_load_tasks(50, parallelism=32, max_active_tasks=64, pool_slots=128) == 32
    assert max_load_tasks(8, parallelism=32, max_active_tasks=16, pool_slots=4) == 4
    assert max_load_tasks(0, parallelism=0, max_active_tasks=None) == DEFAULT_MAX_TASKS  # 0: no limit


def test_1000_dealerships_give_about_20_groups_of_50_and_3_give_one_each() -> None:
    codes = [f"BR{i:04d}" for i in range(1, 1001)]
    groups = split_groups(codes, max_tasks=DEFAULT_MAX_TASKS)
    assert len(groups) == 20 and {len(g) for g in groups} == {50}
    assert split_groups(codes[:3], max_tasks=DEFAULT_MAX_TASKS) == [["BR0001"], ["BR0002"], ["BR0003"]]


def test_overdue_dealerships_come_first_longest_waiting_first_then_the_rest_by_code() -> None:
    order = load_order(["BR0003", "BR0001", "BR0004", "BR0002"], overdue=["BR0004", "BR0002", "BR0099"])
    assert order == ["BR0004", "BR0002", "BR0001", "BR0003"]


@given(codes=CODES, data=st.data())
def test_load_order_is_a_permutation_with_the_overdue_first(codes: list[str], data: st.DataObject) -> None:
    overdue = data.draw(st.lists(st.sampled_from(codes), unique=True) if codes else st.just([]))
    order = load_order(codes, overdue)
    assert sorted(order) == sorted(codes)
    assert order[: len(overdue)] == overdue
    assert order[len(overdue) :] == sorted(set(codes) - set(overdue))


def test_labels_name_the_codes_a_group_holds_the_overdue_ones_first() -> None:
    assert group_label(["BR0001"]) == "BR0001"
    assert group_label([f"BR{i:04d}" for i in range(1, 51)]) == "BR0001..BR0050 (50)"
    group = ["BR0457", "BR0003", *(f"BR{i:04d}" for i in range(10, 58))]
    assert group_label(group, overdue={"BR0457", "BR0003"}) == "BR0457, BR0003, then BR0010..BR0057 (50)"
    many = ["BR0905", "BR0901", "BR0903", "BR0902", "BR0904"]
    assert group_label(many, overdue=set(many)) == "BR0905, BR0901, BR0903 +2 (5)"
    never_loaded = [f"BR{i:04d}" for i in range(1, 51)]  # a first run: every dealership is overdue
    assert group_label(never_loaded, overdue=set(never_loaded)) == "BR0001..BR0050 (50)"
