"""Where a FlyteOperator submit run's worker time goes: old (flytekit) vs new (flytekit-free) launch path.

Issue: "measure where a submit run's worker time goes". On Airflow 3's LocalExecutor a worker process
(Airflow already imported, forked from the scheduler) forks one task process per task try. For a
deferred FlyteOperator that process parses the DAG file (importing the provider's operator module),
then ``execute()`` looks up the connection, fetches the entity, converts the inputs, calls
CreateExecution, reads the status once, pushes XComs and defers. ``FlyteHook.launch`` and
``FlyteHook.get_execution_state`` used to do the Flyte part through flytekit's FlyteRemote; now they
first try the async admin client on a private loop (``hooks/sync_admin.py`` running
``admin/launch.py`` ``submit(convert_with_flytekit=False)``) and fall back to FlyteRemote only for
inputs that are not plain values.

Each step runs in a fresh ``python -c`` child, ``--repeat`` times (default 5) in round-robin order so
that drift in machine load spreads over all steps; median and min shown:

1. interpreter start (``pass``): the child's CPU (user+sys, ``getrusage(RUSAGE_CHILDREN)``) and wall.
2. ``import airflow.sdk``: already paid by the LocalExecutor parent, shown for scale only.
3. ``import flyte_async_provider.operators.flyte`` on top of airflow.sdk: what a DAG parse adds.
4. ``import flytekit`` on top of airflow.sdk (what the old path paid); 4b: in a bare interpreter.
5. one submit (``FlyteHook().launch(...)`` + ``get_execution_state(...)``) through the new path, after
   airflow.sdk + the operator module are imported; 5a/5b split it into one-time cost (imports, first
   use) and a warm second submit in the same process (a new hook on a second connection).
6. the same submit through the old flytekit path (forced in the child by monkeypatching
   ``FlyteHook._launch_without_flytekit`` to decline and ``get_execution_state`` to the flytekit read).
7. Flyte Admin RPCs per submit, old vs new, from the emulator's per-RPC counters.

Steps 2-6 are measured inside the child (``time.process_time`` / ``perf_counter`` around the import or
the submit, so the run-to-run noise of the ~2-4 s airflow.sdk import does not enter); "child total
minus baseline child total", as the parent's rusage sees it, is printed as a cross-check (noisy).
Children end like an Airflow task process (atexit functions, then ``os._exit``: no interpreter
teardown). The Flyte Admin emulators (one per connection, 127.0.0.1, port 0) run in threads of this
process, so their CPU is not in the children's figures. Not measured: the XCom pushes and the defer
(Airflow's cost, the same for both paths).

Bytecode: by default the children write and read .pyc files under a private temporary
``PYTHONPYCACHEPREFIX``, as a deployed venv (pip compiles on install) does. ``--bytecode as-is`` keeps
this environment's settings; with ``PYTHONDONTWRITEBYTECODE=1`` and no .pyc files in the venv every
process compiles everything it imports from source, which roughly doubles the import rows.

    .venv/bin/python benchmarks/submit_cost.py [--repeat 5] [--json PATH] [--bytecode as-is]

About 1 minute (cached bytecode) or 2.5-3 minutes (``--bytecode as-is``) on a 2-core machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any

from flyte_async_provider.emulator.server import FlyteAdminEmulator

LAUNCH_PLAN = "ml_training.pima_diabetes.diabetes.diabetes_xgboost_model"
INPUTS: dict[str, Any] = {"test_split_ratio": 0.5, "seed": 1}
PROJECT, DOMAIN = "flytesnacks", "development"
FIRST_CONN, WARM_CONN = "flyte_default", "flyte_bench_warm"
MARK = "@@submit-cost "
CHILD_TIMEOUT = 180.0
OPERATOR_MODULE = "flyte_async_provider.operators.flyte"

# Child prelude: in-child clocks and JSON result lines on stdout (the hook also logs to stdout).
_PRELUDE = """\
import json as _json, sys as _sys, time as _time
def _now():
    return _time.process_time(), _time.perf_counter()
def _mark(**kw):
    print({mark!r} + _json.dumps(kw), flush=True)
"""

# Child epilogue: end like an Airflow task process (supervisor._fork_main): atexit functions, then
# os._exit, so no interpreter teardown (freeing every module costs ~0.5 s with Airflow loaded).
_EPILOGUE = """
def _exit():
    import atexit, os
    _c, _w = _now()
    atexit._run_exitfuncs()
    _c2, _w2 = _now()
    _mark(exit_cpu=_c2 - _c, exit_wall=_w2 - _w)
    _sys.stdout.flush()
    _sys.stderr.flush()
    os._exit(0)
_exit()
"""

_IMPORT_CHILD = """\
{setup}
_c0, _w0 = _now()
{measured}
_c1, _w1 = _now()
_mark(cpu=_c1 - _c0, wall=_w1 - _w0, flytekit="flytekit" in _sys.modules)
"""

_SUBMIT_CHILD = """\
import airflow.sdk
import {operator_module}  # the DAG parse
from flyte_async_provider.hooks.flyte import FlyteHook

if _sys.argv[1] == "old":  # force the flytekit (FlyteRemote) path, in this child only
    FlyteHook._launch_without_flytekit = lambda self, *a, **k: False
    FlyteHook.get_execution_state = FlyteHook._get_execution_state_flytekit

def _submit(conn_id, name):
    hook = FlyteHook(flyte_conn_id=conn_id)
    hook.launch(name, launchplan_name={launch_plan!r}, inputs={inputs!r})
    return hook.get_execution_state(name).phase.name

_c0, _w0 = _now()
_phase = _submit({first_conn!r}, _sys.argv[2])
_c1, _w1 = _now()
_flytekit = "flytekit" in _sys.modules
_submit({warm_conn!r}, _sys.argv[3])
_c2, _w2 = _now()
_mark(cpu=_c1 - _c0, wall=_w1 - _w0, warm_cpu=_c2 - _c1, warm_wall=_w2 - _w1, phase=_phase,
      flytekit=_flytekit)
"""

# Diagnostic child (only run if the new path imported flytekit): the stack at the first flytekit import.
_TRACE_HOOK = """\
import traceback as _tb
class _FlytekitTrap:
    stack = None
    def find_spec(self, name, path=None, target=None):
        if _FlytekitTrap.stack is None and (name == "flytekit" or name.startswith("flytekit.")):
            _FlytekitTrap.stack = [f"{f.filename}:{f.lineno} in {f.name}: {f.line}"
                                   for f in _tb.extract_stack()[:-1] if "importlib" not in f.filename]
        return None
_sys.meta_path.insert(0, _FlytekitTrap())
import atexit as _atexit
_atexit.register(lambda: _mark(stack=_FlytekitTrap.stack))
"""


@dataclass
class Run:
    """One child: parent-side totals plus what it reported about itself."""

    total_cpu: float
    total_wall: float
    reported: dict[str, Any] = field(default_factory=dict)


@dataclass
class Row:
    step: str
    label: str
    cpu: list[float]
    wall: list[float]
    note: str = ""

    def stats(self) -> dict[str, float]:
        return {
            "cpu_median": statistics.median(self.cpu),
            "cpu_min": min(self.cpu),
            "wall_median": statistics.median(self.wall),
            "wall_min": min(self.wall),
        }


def child_command(code: str, args: Sequence[str] = (), flags: Sequence[str] = ()) -> list[str]:
    return [sys.executable, *flags, "-c", _PRELUDE.format(mark=MARK) + code + _EPILOGUE, *args]


def run_child(code: str, args: Sequence[str] = (), env: dict[str, str] | None = None) -> Run:
    """Run ``python -c code args``; CPU from RUSAGE_CHILDREN (one child at a time), wall around it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        child_command(code, args),
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"child failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    reported: dict[str, Any] = {}
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            reported.update(json.loads(line[len(MARK) :]))
    return Run(cpu, wall, reported)


def import_child(setup: Sequence[str], measured: Sequence[str]) -> str:
    """Child code timing ``measured`` imports after ``setup`` imports."""
    return _IMPORT_CHILD.format(
        setup="\n".join(f"import {m}" for m in setup) or "pass",
        measured="\n".join(f"import {m}" for m in measured) or "pass",
    )


def submit_child() -> str:
    return _SUBMIT_CHILD.format(
        operator_module=OPERATOR_MODULE,
        launch_plan=LAUNCH_PLAN,
        inputs=INPUTS,
        first_conn=FIRST_CONN,
        warm_conn=WARM_CONN,
    )


def connection_env(first: FlyteAdminEmulator, warm: FlyteAdminEmulator) -> dict[str, str]:
    """The environment with both ``flyte`` connections as AIRFLOW_CONN_* JSON."""
    env = dict(os.environ)
    for conn_id, emu in ((FIRST_CONN, first), (WARM_CONN, warm)):
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(
            {
                "conn_type": "flyte",
                "host": "127.0.0.1",
                "port": emu.grpc_port,
                "extra": {"insecure": True, "project": PROJECT, "domain": DOMAIN},
            }
        )
    return env


def bytecode_state() -> str:
    """How this environment loads modules: from .pyc files, or compiling sources in every process."""
    spec = importlib.util.find_spec("airflow")
    origin = spec.origin if spec and spec.origin else ""
    pyc = os.path.join(os.path.dirname(origin), "__pycache__", f"__init__.{sys.implementation.cache_tag}.pyc")
    no_write = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
    return (
        f"PYTHONDONTWRITEBYTECODE={'1' if no_write else 'unset'}, "
        f"airflow .pyc in the venv: {'yes' if os.path.exists(pyc) else 'no'}"
    )


def round_robin(n: int, steps: dict[str, Callable[[int], Run]]) -> dict[str, list[Run]]:
    """``n`` rounds of every step in turn, so slow drift in machine load spreads over all steps."""
    runs: dict[str, list[Run]] = {step: [] for step in steps}
    for i in range(n):
        for step, once in steps.items():
            runs[step].append(once(i))
        print(f"  round {i + 1}/{n} done", file=sys.stderr, flush=True)
    return runs


def reported(runs: Sequence[Run], key: str) -> list[float]:
    return [float(r.reported[key]) for r in runs]


def median_total(runs: Sequence[Run]) -> float:
    return statistics.median(r.total_cpu for r in runs)


def rpc_summary(per_run: Sequence[dict[str, int]]) -> dict[str, Any]:
    """Counts per submit; ``consistent`` False if the repetitions disagreed (then ``runs`` has all)."""
    first = per_run[0]
    return {
        "per_rpc": dict(sorted(first.items())),
        "total": sum(first.values()),
        "consistent": all(c == first for c in per_run),
        "runs": list(per_run),
    }


def trace_flytekit_import(env: dict[str, str]) -> dict[str, Any]:
    """Where the new path imports flytekit: the call stack and the ``-X importtime`` module chain."""
    proc = subprocess.run(
        child_command(
            _TRACE_HOOK + submit_child(), ["new", "trace-first", "trace-warm"], ["-X", "importtime"]
        ),
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    stack: list[str] | None = None
    for line in proc.stdout.splitlines():
        if line.startswith(MARK) and "stack" in line:
            stack = json.loads(line[len(MARK) :])["stack"]
    # importtime lines come in completion order: an import's parents follow it, less indented.
    entries = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.split("|")[2]
            entries.append((len(name) - len(name.lstrip()), name.strip()))

    def is_flytekit(name: str) -> bool:
        return name == "flytekit" or name.startswith("flytekit.")

    # Outermost first, cut after the first flytekit module (what lies inside it is flytekit's own).
    chain: list[str] = []
    for i, (depth, name) in enumerate(entries):
        if is_flytekit(name):
            chain = [name]
            for later_depth, later in entries[i + 1 :]:
                if later_depth < depth:
                    chain.insert(0, later)
                    depth = later_depth
            first = next(j for j, n in enumerate(chain) if is_flytekit(n))
            chain = chain[: first + 1]
            break
    return {"stack": stack, "importtime_chain": chain}


def measure(n: int, bytecode: str, pycache: str) -> dict[str, Any]:
    first_emu = FlyteAdminEmulator(port=0).start_in_thread()
    warm_emu = FlyteAdminEmulator(port=0).start_in_thread()
    try:
        env = connection_env(first_emu, warm_emu)
        if bytecode == "cache":  # as a deployed venv: .pyc written once (here: to a private prefix)
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = pycache
        # Untimed warm-up, one submit per path: page cache (and .pyc files) for all the steps import.
        for mode in ("new", "old"):
            run_child(submit_child(), [mode, f"warmup-{mode}", f"warmup-{mode}-warm"], env=env)

        rpcs: dict[str, list[dict[str, int]]] = {"new": [], "old": []}

        def submit_once(mode: str, i: int) -> Run:
            first_emu.reset_counters()
            warm_emu.reset_counters()
            run = run_child(submit_child(), [mode, f"bench-{mode}-{i}", f"bench-{mode}-{i}-warm"], env=env)
            rpcs[mode].append(first_emu.counters())
            return run

        def importing(setup: list[str], measured: list[str]) -> Callable[[int], Run]:
            return lambda i: run_child(import_child(setup, measured), env=env)

        runs = round_robin(
            n,
            {
                "1": lambda i: run_child("pass", env=env),
                "2": importing([], ["airflow.sdk"]),
                "3": importing(["airflow.sdk"], [OPERATOR_MODULE]),
                "4": importing(["airflow.sdk"], ["flytekit"]),
                "4b": importing([], ["flytekit"]),
                "5": lambda i: submit_once("new", i),
                "6": lambda i: submit_once("old", i),
            },
        )
        bare, sdk, op, fk, fk_bare, new, old = (runs[k] for k in ("1", "2", "3", "4", "4b", "5", "6"))
        new_imports_flytekit = any(r.reported["flytekit"] for r in new)
        trace = trace_flytekit_import(env) if new_imports_flytekit else None
    finally:
        warm_emu.stop_in_thread()
        first_emu.stop_in_thread()

    def one_time(runs: Sequence[Run], key: str) -> list[float]:
        return [float(r.reported[key]) - float(r.reported[f"warm_{key}"]) for r in runs]

    rows = [
        Row(
            "1",
            "interpreter start (python -c pass)",
            [r.total_cpu for r in bare],
            [r.total_wall for r in bare],
            "whole child",
        ),
        Row(
            "2",
            "import airflow.sdk",
            reported(sdk, "cpu"),
            reported(sdk, "wall"),
            "already paid by the LocalExecutor parent (forked); not part of a run",
        ),
        Row(
            "3",
            f"import {OPERATOR_MODULE}",
            reported(op, "cpu"),
            reported(op, "wall"),
            "on top of airflow.sdk: what the DAG parse adds",
        ),
        Row(
            "4",
            "import flytekit",
            reported(fk, "cpu"),
            reported(fk, "wall"),
            "on top of airflow.sdk: paid by the old path inside its submit",
        ),
        Row(
            "4b",
            "import flytekit, bare interpreter",
            reported(fk_bare, "cpu"),
            reported(fk_bare, "wall"),
            "no airflow: shared deps make row 4 cheaper",
        ),
        Row(
            "5",
            "submit, NEW path (launch + 1 status read)",
            reported(new, "cpu"),
            reported(new, "wall"),
            f"first in process; flytekit imported: {new_imports_flytekit}",
        ),
        Row(
            "5a",
            "  of which one-time (imports, first use)",
            one_time(new, "cpu"),
            one_time(new, "wall"),
            "5 minus 5b",
        ),
        Row(
            "5b",
            "  warm submit, same process",
            reported(new, "warm_cpu"),
            reported(new, "warm_wall"),
            "new hook, second connection",
        ),
        Row(
            "6",
            "submit, OLD flytekit path",
            reported(old, "cpu"),
            reported(old, "wall"),
            "first in process; imports flytekit.remote",
        ),
        Row(
            "6a",
            "  of which one-time (imports, first use)",
            one_time(old, "cpu"),
            one_time(old, "wall"),
            "6 minus 6b",
        ),
        Row(
            "6b",
            "  warm submit, same process",
            reported(old, "warm_cpu"),
            reported(old, "warm_wall"),
            "new hook, second connection",
        ),
    ]
    by_step = {row.step: row.stats() for row in rows}
    # The same increments the way the parent sees them: median child total minus median baseline
    # child total (the submit children also ran the warm submit: its in-child CPU is taken off).
    warm_new = [r.total_cpu - float(r.reported["warm_cpu"]) for r in new]
    warm_old = [r.total_cpu - float(r.reported["warm_cpu"]) for r in old]
    cross_check = {
        "2 airflow.sdk (child - python -c pass)": median_total(sdk) - median_total(bare),
        "3 operator module (child - airflow.sdk child)": median_total(op) - median_total(sdk),
        "4 flytekit (child - airflow.sdk child)": median_total(fk) - median_total(sdk),
        "4b flytekit bare (child - python -c pass)": median_total(fk_bare) - median_total(bare),
        "5 new submit (child - operator child)": statistics.median(warm_new) - median_total(op),
        "6 old submit (child - operator child)": statistics.median(warm_old) - median_total(op),
    }
    parse = by_step["3"]
    old_run = {k: parse[k] + by_step["6"][k] for k in ("cpu_median", "wall_median")}
    new_run = {k: parse[k] + by_step["5"][k] for k in ("cpu_median", "wall_median")}
    return {
        "environment": {
            "python": platform.python_version(),
            "apache-airflow": metadata.version("apache-airflow"),
            "flytekit": metadata.version("flytekit"),
            "grpcio": metadata.version("grpcio"),
            "cpus": os.cpu_count(),
            "repeat": n,
            "bytecode": bytecode,
            "bytecode_as_is": bytecode_state(),
        },
        "rows": [{**asdict(row), **row.stats()} for row in rows],
        "children": {step: [asdict(r) for r in step_runs] for step, step_runs in runs.items()},
        "cross_check_cpu_median": cross_check,
        "baseline_child_total_cpu_spread": max(r.total_cpu for r in op) - min(r.total_cpu for r in op),
        "rpcs_per_submit": {mode: rpc_summary(counts) for mode, counts in rpcs.items()},
        "new_path_imports_flytekit": new_imports_flytekit,
        "flytekit_import_trace": trace,
        "phase_after_submit": {"new": new[0].reported["phase"], "old": old[0].reported["phase"]},
        "submit_run": {
            "old": old_run,
            "new": new_run,
            "saved": {k: old_run[k] - new_run[k] for k in old_run},
        },
    }


def print_report(result: dict[str, Any]) -> None:
    env = result["environment"]
    print(
        f"FlyteOperator submit run cost: Python {env['python']}, Airflow {env['apache-airflow']}, "
        f"flytekit {env['flytekit']}, {env['cpus']} CPUs, {env['repeat']} runs per step (median / min)"
    )
    if env["bytecode"] == "cache":
        print(f"bytecode: cached .pyc (private PYTHONPYCACHEPREFIX); as-is here: {env['bytecode_as_is']}")
    else:
        print(f"bytecode: as-is ({env['bytecode_as_is']})")
    print()
    header = (
        f"{'step':<4} {'what':<44} {'CPU s med':>9} {'CPU min':>8} {'wall s med':>10} {'wall min':>8}  note"
    )
    print(header)
    print("-" * len(header))
    for row in result["rows"]:
        print(
            f"{row['step']:<4} {row['label']:<44} {row['cpu_median']:>9.3f} {row['cpu_min']:>8.3f} "
            f"{row['wall_median']:>10.3f} {row['wall_min']:>8.3f}  {row['note']}"
        )
    print()
    spread = result["baseline_child_total_cpu_spread"]
    print(
        "Cross-check, CPU s as the parent's rusage sees it (median child total - median baseline total; "
        f"noisy: the airflow.sdk + operator child totals spread over {spread:.2f} s):"
    )
    for label, value in result["cross_check_cpu_median"].items():
        print(f"  {label:<48} {value:7.3f}")
    print()
    print("7  Flyte Admin RPCs per submit (launch + one status read), from the emulator's counters:")
    for mode in ("old", "new"):
        rpcs = result["rpcs_per_submit"][mode]
        detail = ", ".join(f"{k} {v}" for k, v in rpcs["per_rpc"].items())
        flag = "" if rpcs["consistent"] else "  (repetitions differed, see --json)"
        print(f"  {mode}: {rpcs['total']:>2}  ({detail}){flag}")
    print()
    print(f'"flytekit" in sys.modules after a new-path submit: {result["new_path_imports_flytekit"]}')
    trace = result["flytekit_import_trace"]
    if trace:
        print("  import chain (-X importtime): " + " -> ".join(trace["importtime_chain"]))
        for frame in trace["stack"] or []:
            print(f"    {frame}")
    print()
    run = result["submit_run"]
    old, new, saved = run["old"], run["new"], run["saved"]
    share = 100.0 * saved["cpu_median"] / old["cpu_median"] if old["cpu_median"] else 0.0
    print(
        "submit run (DAG parse + submit; rows 3+6 vs 3+5, CPU / wall), "
        f"old path ≈ {old['cpu_median']:.2f} s / {old['wall_median']:.2f} s; "
        f"new path ≈ {new['cpu_median']:.2f} s / {new['wall_median']:.2f} s; "
        f"saved ≈ {saved['cpu_median']:.2f} s CPU ({share:.0f} %) / {saved['wall_median']:.2f} s wall per run"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per step (default 5)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    parser.add_argument(
        "--bytecode",
        choices=["cache", "as-is"],
        default="cache",
        help="cache (default): children load .pyc files from a private PYTHONPYCACHEPREFIX, as a "
        "deployed venv does; as-is: this environment's settings (PYTHONDONTWRITEBYTECODE=1 and a venv "
        "without .pyc files make every child compile all it imports from source)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    with tempfile.TemporaryDirectory(prefix="submit-cost-pyc-") as pycache:
        result = measure(args.repeat, args.bytecode, pycache)
    print_report(result)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
