"""Several triggerers on PostgreSQL at N=1,000: the HA scenarios of issue 13 with figures per triggerer.

One throwaway Airflow (scheduler, dag-processor, api-server, ``--triggerers`` triggerers; LocalExecutor
with 4 worker slots) on a PostgreSQL server the stack harness starts itself, plus the Flyte Admin
emulator. The tasks are zero-worker FlyteOperator tasks (``start_from_trigger``: submitted, watched and
ended on the triggerers; the ``ha_zero_worker`` DAG of tests/e2e/dags, 10 tasks per DAG run), so 1,000
of them cost no worker time. The scenarios run one after another in that stack, each on its own batch
of N (the same code as tests/e2e/test_ha_triggerers.py, :mod:`flyte_async_provider.demo.ha`):

- ``fanout``  N tasks watched, a steady window of 3 poll intervals, then all executions succeed
- ``kill``    SIGKILL the triggerer holding the most triggers; the other takes them over; all succeed
- ``mark``    the same kill while users mark ``--marked`` tasks failed (half the survivor's, at once;
              half the victim's, once reassigned) and ``--in-transit`` more of the victim's before
              the takeover (ended by the API server's user-mark listener): exactly those executions
              must end ABORTED
- ``outage``  Flyte Admin unavailable for 30 s while N are watched (the executions end meanwhile)

Per scenario it prints the totals (task states, Flyte phases, CreateExecution / TerminateExecution
calls, timings) and a table per triggerer: triggers held, Admin calls/s and CPU (% of one core) in the
watch window (the whole scenario where there is none), CPU seconds over the scenario, Airflow's "async
thread was blocked" warnings and asyncio slow-callback warnings naming our code / other code (the
triggerers run with ``PYTHONASYNCIODEBUG=1`` unless ``--no-asyncio-debug``). Admin calls are counted
per triggerer by a relay in front of the emulator (:mod:`flyte_async_provider.demo.rpc_meter`).

    .venv/bin/python benchmarks/ha_triggerers.py                    # N=1,000, all scenarios, ~15 min
    .venv/bin/python benchmarks/ha_triggerers.py --n 200 --scenarios fanout,kill --json /tmp/ha.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from flyte_async_provider.demo.ha import (
    DAG_ID,
    HEALTH_THRESHOLD,
    TASKS_PER_RUN,
    HaScenarios,
    ScenarioResult,
    ha_env,
    summary,
    triggerer_table,
)
from flyte_async_provider.demo.postgres import unavailable_reason
from flyte_async_provider.demo.runs import DagRuns
from flyte_async_provider.demo.stack import AirflowStack, StackSettings

DAG_FILE = Path(__file__).resolve().parent.parent / "tests" / "e2e" / "dags" / "ha_zero_worker.py"
SCENARIOS = ("fanout", "kill", "mark", "outage")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1000, help="tasks per scenario (whole DAG runs of 10)")
    p.add_argument("--triggerers", type=int, default=2)
    p.add_argument("--slots", type=int, default=4, help="LocalExecutor worker slots")
    p.add_argument("--interval", type=float, default=5.0, help="the tasks' poll interval (s)")
    p.add_argument("--marked", type=int, default=20, help="tasks users mark failed in 'mark'")
    p.add_argument(
        "--in-transit",
        type=int,
        default=5,
        help="more of the victim's tasks marked failed before the takeover, in 'mark'",
    )
    p.add_argument("--outage", type=float, default=30.0, help="seconds of Admin outage in 'outage'")
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated of {SCENARIOS}")
    p.add_argument(
        "--health-threshold",
        type=float,
        default=HEALTH_THRESHOLD,
        help="[triggerer] triggerer_health_check_threshold, s (Airflow's default 30)",
    )
    p.add_argument("--no-asyncio-debug", action="store_true", help="triggerers without PYTHONASYNCIODEBUG")
    p.add_argument("--json", dest="json_path", type=Path, help="write the figures as JSON")
    p.add_argument("--keep-home", action="store_true", help="keep the Airflow home (logs) for inspection")
    return p


def print_result(result: ScenarioResult, out: Any = sys.stdout) -> None:
    print(f"\n## {result.name} (N={result.n})", file=out)
    for key, value in summary(result).items():
        print(f"  {key}: {value}", file=out)
    print(
        "\n| triggerer | held (watching) | held (after) | Admin calls/s | CPU % of a core | CPU s (scenario) "
        "| Admin calls (scenario) | 'async thread was blocked' "
        "| slow callbacks: ours >= 0.2 s / ours 0.1-0.2 s / other |",
        file=out,
    )
    print("|---|---|---|---|---|---|---|---|---|", file=out)
    for row in triggerer_table(result):
        after = "" if row["held_after"] is None else str(row["held_after"])
        dead = "" if row["alive"] else " (killed)"
        print(
            f"| {row['triggerer']}{dead} | {row['held_watching']} | {after} | {row['rpc_per_s']:.2f} "
            f"| {row['cpu_percent']:.1f} | {row['cpu_s_total']:.1f} | {row['rpc_total']} | {row['blocked']} "
            f"| {row['slow_ours']} / {row['slow_ours_minor']} / {row['slow_other']} |",
            file=out,
        )
    out.flush()


def run(opts: argparse.Namespace) -> list[ScenarioResult]:
    reason = unavailable_reason()
    if reason:
        raise SystemExit(f"cannot run: {reason}")
    n = TASKS_PER_RUN * math.ceil(opts.n / TASKS_PER_RUN)
    wanted = [s.strip() for s in opts.scenarios.split(",") if s.strip()]
    unknown = set(wanted) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios {sorted(unknown)}; choose from {SCENARIOS}")
    settings = StackSettings(
        extra_dag_files=[DAG_FILE],
        include_example_dags=False,
        wait_for_dags=[DAG_ID],
        database="postgres",
        triggerers=opts.triggerers,
        parallelism=opts.slots,
        meter_triggerer_rpcs=True,
        triggerer_env={} if opts.no_asyncio_debug else {"PYTHONASYNCIODEBUG": "1"},
        extra_env=ha_env(opts.interval, opts.health_threshold),
        keep_home=opts.keep_home,
    )
    results: list[ScenarioResult] = []
    t0 = time.monotonic()
    with AirflowStack(settings) as stack, stack.stop_on_signals():
        stack.wait_triggerers_alive()
        print(f"stack ready in {stack.timings['ready']:.1f}s (home {stack.home})", flush=True)
        ha = HaScenarios(
            stack,
            DagRuns(stack.rest, check=stack.check_alive),
            stack.emulator_control(),
            poll_interval=opts.interval,
            log=lambda msg: print(f"  {msg}", flush=True),
        )
        plan: dict[str, Callable[[], ScenarioResult]] = {
            "fanout": lambda: ha.fanout(n),
            "kill": lambda: ha.kill_one(n),
            "mark": lambda: ha.kill_while_marking_failed(n, opts.marked, in_transit=opts.in_transit),
            "outage": lambda: ha.outage(n, seconds=opts.outage),
        }
        for name in wanted:
            print(f"\nscenario {name}, N={n} ...", flush=True)
            result = plan[name]()
            results.append(result)
            print_result(result)
    print(f"\ntotal {time.monotonic() - t0:.0f}s", flush=True)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    opts = build_parser().parse_args(argv)
    results = run(opts)
    if opts.json_path is not None:
        opts.json_path.write_text(json.dumps(report(results), indent=2))
    return 0


def report(results: Sequence[ScenarioResult]) -> list[dict[str, Any]]:
    """The figures of each scenario as JSON-ready data (what ``--json`` writes)."""
    return [
        {
            "summary": _plain(summary(r)),
            "triggerers": _plain(triggerer_table(r)),
            "notes": _plain(r.notes),
            "result": _plain({f.name: getattr(r, f.name) for f in fields(r)}),
        }
        for r in results
    ]


def _plain(value: Any) -> Any:
    """JSON-ready: mappings (Counters included) as dicts with string keys, dataclasses as dicts.

    ``dataclasses.asdict`` is not used: it rebuilds a ``Counter`` from its ``(key, count)`` pairs, which
    counts the pairs (``{("success", 1000): 1}``), keys ``json`` cannot write.
    """
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


if __name__ == "__main__":
    raise SystemExit(main())
