"""What a task instance of the import costs before its own work starts, before and after issue 11's cuts.

    .venv/bin/python benchmarks/bench_task_start.py [--before b419c19] [--starts 5]

On Linux, Airflow 3 starts a task instance by forking the worker (``airflow/sdk/execution_time/supervisor.py``:
``os.fork()``), and the task process then loads the plugin files (the Task SDK's plugins manager, for the
listeners), parses the DAG file (``BundleDagBag``) and runs the task, whose code imports what it uses. This
script does the same with Airflow's own code: a worker process (a fresh interpreter that imported the Task
SDK's supervisor and task runner, as every worker has) forks ``--starts`` task processes one after another;
each loads the plugins through ``airflow.sdk.listener.get_listener_manager()``, parses
``dags/gmcrm_import_leads.py`` with ``BundleDagBag`` and either stops there (a task doing nothing) or imports
what the load task imports (``gmcrm.airflow_support``, ``gmcrm.gm_mapping``, ``gmcrm.leads.pipeline``) and
reads the mapping. The worker measures each child's CPU time (``os.wait4``) and wall time.

Two kinds of worker: a LocalExecutor worker is forked from the scheduler, which loaded the plugins (and so
FastAPI and the lead log's pages) before it started the executor; a Celery worker did not. Three versions:
``before`` (the tree of ``--before``, by ``git archive``), ``after`` (this checkout), and ``after`` with
:mod:`gmcrm.preload` run in the worker first (what ``plugins/airflow_local_settings.py`` does in the
scheduler and in Celery workers). It also prints what importing the load task's modules costs in a fresh
interpreter (``python -X importtime``), per tree. Every figure is measured in the same run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DAG_FILE = "gmcrm_import_leads.py"
LOAD_TASK_IMPORTS = ("gmcrm.airflow_support", "gmcrm.gm_mapping", "gmcrm.leads.pipeline")
#: Packages whose import time the report names (cumulative, as ``-X importtime`` gives them).
HEAVY = ("pandas", "numpy", "simple_salesforce", "fastapi", "gmcrm.web.app", "psycopg", "msgspec", "yaml")


# ---------------------------------------------------------------------------------------------
# The worker (a subprocess of this script)


def _task_start(tree: Path, load: bool) -> None:
    """What a task process does from its fork to its task's first line, then the load task's imports."""
    from airflow.dag_processing.dagbag import BundleDagBag
    from airflow.sdk.listener import get_listener_manager

    get_listener_manager()  # loads the plugin files (task_runner.startup: on_starting)
    bag = BundleDagBag(
        dag_folder=str(tree / "dags" / DAG_FILE),
        safe_mode=False,
        load_op_links=False,
        bundle_path=tree / "dags",
        bundle_name="dags-folder",
    )
    assert "gmcrm_import_leads" in bag.dags, bag.import_errors
    if load:
        import importlib

        for name in LOAD_TASK_IMPORTS:
            importlib.import_module(name)
        from gmcrm.gm_mapping import load_mapping

        load_mapping()


def _fork_one(tree: Path, load: bool) -> tuple[float, float]:
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the task process
        code = 0
        try:
            _task_start(tree, load)
        except BaseException as exc:  # report, and exit without running the parent's cleanup
            print(f"task start failed: {exc!r}", file=sys.stderr)
            code = 1
        os._exit(code)
    _, status, usage = os.wait4(pid, 0)
    if status != 0:
        raise SystemExit(f"a task process failed (status {status})")
    return usage.ru_utime + usage.ru_stime, time.perf_counter() - started


def worker(tree: Path, kind: str, preload: bool, starts: int) -> dict[str, Any]:
    """Runs in its own interpreter (``--worker``): set up as the worker ``kind`` is, then fork task processes."""
    import resource

    import airflow.sdk.execution_time.supervisor
    import airflow.sdk.execution_time.task_runner  # noqa: F401

    before = resource.getrusage(resource.RUSAGE_SELF)
    if kind == "local":  # the scheduler loaded the plugins before forking its LocalExecutor workers
        from airflow import plugins_manager

        plugins_manager.ensure_plugins_loaded()
    preload_seconds = 0.0
    if preload:
        from gmcrm.preload import preload as do_preload

        failed, preload_seconds = do_preload()
        assert not failed, failed
    after = resource.getrusage(resource.RUSAGE_SELF)
    gc.freeze()  # as the LocalExecutor does before forking (fewer copy-on-write pages)
    result: dict[str, Any] = {
        "setup_cpu": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        "preload_wall": preload_seconds,
        "rss_mb": after.ru_maxrss / 1024,
        "pandas_in_worker": "pandas" in sys.modules,
    }
    for what, load in (("nothing", False), ("load", True)):
        runs = [_fork_one(tree, load) for _ in range(starts)]
        result[what] = {"cpu": [c for c, _ in runs], "wall": [w for _, w in runs]}
    return result


# ---------------------------------------------------------------------------------------------
# The orchestration


def _tree_env(tree: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k != "PYTHONPATH"}
    env.update(
        {
            "PYTHONPATH": str(tree / "plugins"),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(tree / "plugins"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(tree / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "GMCRM_PROJECT_ROOT": str(tree),
        }
    )
    return env


def _run_worker(tree: Path, kind: str, preload: bool, starts: int, home: Path) -> dict[str, Any]:
    args = [sys.executable, __file__, "--worker", str(tree), kind, "1" if preload else "0", str(starts)]
    done = subprocess.run(args, env=_tree_env(tree, home), capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"worker {tree.name}/{kind} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _import_times(tree: Path, home: Path) -> dict[str, float]:
    """Cumulative import seconds of the load task's modules and the heavy packages, fresh interpreter."""
    code = "import " + ", ".join(LOAD_TASK_IMPORTS)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=_tree_env(tree, home),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    cumulative: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if parts[1].isdigit():
            cumulative[parts[2]] = int(parts[1]) / 1e6
    total = sum(cumulative.get(m, 0.0) for m in LOAD_TASK_IMPORTS)
    return {"load task's modules": total, **{m: cumulative[m] for m in HEAVY if m in cumulative}}


def _extract(ref: str, into: Path) -> Path:
    """The ``plugins`` and ``dags`` of ``ref`` (``git archive``), for the "before" figures."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "plugins", "dags", "include", "sandbox"],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def _median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="b419c19", help="the commit before the cuts (default: b419c19)")
    parser.add_argument("--starts", type=int, default=5, help="task processes forked per figure (median)")
    parser.add_argument("--quick", action="store_true", help="without the real scheduler (about 4 minutes less)")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        tree, kind, preload, starts = args.worker
        print(json.dumps(worker(Path(tree), kind, preload == "1", int(starts))))
        return 0

    with tempfile.TemporaryDirectory(prefix="gmcrm-bench-start-") as tmp:
        before = _extract(args.before, Path(tmp) / "before")
        home = Path(tmp) / "airflow"
        home.mkdir()
        print(f"Task start of gmcrm_import_leads, median of {args.starts} forked task processes per figure")
        print(f"before: {args.before}; after: this checkout ({ROOT}); cores: {os.cpu_count()}\n")
        print("| worker | version | task doing nothing: CPU-s / wall s | load task start: CPU-s / wall s |")
        print("| --- | --- | --- | --- |")
        figures: dict[tuple[str, str], dict[str, Any]] = {}
        for kind, kind_name in (
            ("celery", "Celery (plugins not loaded)"),
            ("local", "LocalExecutor (forked from the scheduler)"),
        ):
            for version, tree, preload in (
                ("before", before, False),
                ("after", ROOT, False),
                ("after + preload", ROOT, True),
            ):
                found = _run_worker(tree, kind, preload, args.starts, home)
                figures[(kind, version)] = found
                nothing, load = found["nothing"], found["load"]
                print(
                    f"| {kind_name} | {version} | {_median(nothing['cpu']):.3f} / {_median(nothing['wall']):.3f} "
                    f"| {_median(load['cpu']):.3f} / {_median(load['wall']):.3f} |",
                    flush=True,
                )
        print()
        for kind in ("celery", "local"):
            b = _median(figures[(kind, "before")]["load"]["cpu"])
            a = _median(figures[(kind, "after")]["load"]["cpu"])
            p = _median(figures[(kind, "after + preload")]["load"]["cpu"])
            print(
                f"{kind}: load task start {b:.3f} -> {a:.3f} CPU-s ({b / a:.1f}x less) -> {p:.3f} with the preload "
                f"({b / p:.1f}x less than before)"
            )
            pre = figures[(kind, "after + preload")]
            print(
                f"  the preload itself, once per worker: {pre['preload_wall']:.2f} s; "
                f"worker RSS {pre['rss_mb']:.0f} MB "
                f"(without: {figures[(kind, 'after')]['rss_mb']:.0f} MB)"
            )
        print("\nImport time in a fresh interpreter (python -X importtime), cumulative seconds:")
        print("| module | before | after |")
        print("| --- | --- | --- |")
        times = {"before": _import_times(before, home), "after": _import_times(ROOT, home)}
        for name in dict.fromkeys([*times["before"], *times["after"]]):
            cells = [f"{times[v][name]:.3f}" if name in times[v] else "not imported" for v in ("before", "after")]
            print(f"| {name} | {cells[0]} | {cells[1]} |")
        if not args.quick:
            _real(before, args.starts)
    return 0


def _real(before: Path, starts: int) -> None:
    """The same figures from inside task processes that Airflow's scheduler started (task_start_real.py)."""
    sys.path[:0] = [str(ROOT / "plugins"), str(Path(__file__).parent)]
    import task_start_real as real

    print(f"\nThe real scheduler (LocalExecutor, PostgreSQL metadata), {starts} mapped task instances per version,")
    print("measured inside each task process (median):")
    print(
        "| version | CPU-s before the task's code | wall s before it | pandas already imported | "
        "CPU-s importing the load task's modules | CPU-s to the task's work |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    versions = (
        ("before", {"AIRFLOW__CORE__PLUGINS_FOLDER": str(before / "plugins"), "GMCRM_PROJECT_ROOT": str(before)}),
        ("after, GMCRM_TASK_PRELOAD=0", {"GMCRM_TASK_PRELOAD": "0"}),
        ("after (preload)", {}),
    )
    totals: dict[str, float] = {}
    with real.airflow_up(ROOT / "plugins", starts) as (airflow, tmp):
        for i, (name, env) in enumerate(versions):
            probes = real.probe(airflow, tmp, f"bench_{i}", env)
            cpu, imports = real.median(probes, "cpu"), real.median(probes, "imports")
            totals[name] = cpu + imports
            preloaded = sum(bool(p["pandas"]) for p in probes)
            print(
                f"| {name} | {cpu:.3f} | {real.median(probes, 'wall'):.3f} | {preloaded} of {len(probes)} "
                f"| {imports:.3f} | {cpu + imports:.3f} |",
                flush=True,
            )
    b, a = totals["before"], totals["after (preload)"]
    print(f"\nper load task instance: {b:.3f} -> {a:.3f} CPU-s before its work starts ({b / a:.1f}x less)")


if __name__ == "__main__":
    raise SystemExit(main())
