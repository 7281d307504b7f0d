"""Latency and throughput of the emulator's real runs, and how the gRPC server answers meanwhile.

A two-task workflow (``double(double(x))``), registered in-process, runs for real (``run_code=True``)
on an emulator with ``--workers`` worker processes. Measured, through gRPC (CreateExecution, then
GetExecution polled every 10 ms until the end, bounded by ``--timeout`` s per batch):

- the first run (the pool starts: a worker process imports flytekit),
- a second run (a worker is already waiting),
- ``--batch`` runs at once: total time, GetExecution latency (median, p99, max) while they run, the
  most worker processes alive at once, and the processes started in all;
- the resident memory of an idle worker.

Run: ``.venv/bin/python benchmarks/emulator_real_runs.py [--workers 2] [--batch 8]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import grpc
from flyteidl.admin import execution_pb2
from flyteidl.core import identifier_pb2, literals_pb2
from flyteidl.service import admin_pb2_grpc

from flyte_async_provider.emulator import Advance, FlyteAdminEmulator
from flyte_async_provider.emulator.registration import compile_workflow, register_in_backend

PROJECT, DOMAIN, LAUNCH_PLAN = "flytesnacks", "development", "benchflows.wf"
TERMINAL = {4, 6, 7, 8}
SUCCEEDED = 4
CODE = textwrap.dedent(
    """
    from flytekit import task, workflow

    @task
    def double(x: int) -> int:
        return x * 2

    @workflow
    def wf(x: int = 1) -> int:
        return double(x=double(x=x))
    """
)


def _request(name: str) -> execution_pb2.ExecutionCreateRequest:
    lp = identifier_pb2.Identifier(
        resource_type=identifier_pb2.LAUNCH_PLAN,
        project=PROJECT,
        domain=DOMAIN,
        name=LAUNCH_PLAN,
        version="v1",
    )
    request = execution_pb2.ExecutionCreateRequest(
        project=PROJECT, domain=DOMAIN, name=name, spec=execution_pb2.ExecutionSpec(launch_plan=lp)
    )
    request.inputs.literals["x"].CopyFrom(
        literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(integer=3)))
    )
    return request


def _batch(
    emu: FlyteAdminEmulator, stub: admin_pb2_grpc.AdminServiceStub, names: list[str], timeout: float
) -> tuple[float, list[float], int]:
    """Create the executions, poll them to the end: (seconds, GetExecution latencies, peak workers)."""
    start = time.monotonic()
    for name in names:
        stub.CreateExecution(_request(name))
    pending, latencies, peak = set(names), [], 0
    while pending:
        if time.monotonic() - start > timeout:
            raise SystemExit(f"runs did not end within {timeout} s: {sorted(pending)}")
        for name in sorted(pending):
            ident = identifier_pb2.WorkflowExecutionIdentifier(project=PROJECT, domain=DOMAIN, name=name)
            t = time.monotonic()
            execution = stub.GetExecution(execution_pb2.WorkflowExecutionGetRequest(id=ident))
            latencies.append(time.monotonic() - t)
            if execution.closure.phase in TERMINAL:
                if execution.closure.phase != SUCCEEDED:
                    raise SystemExit(f"{name} did not succeed: {execution.closure.error.message}")
                pending.discard(name)
        peak = max(peak, len(emu.runs.worker_pids()))
        time.sleep(0.01)  # the polling interval of this measurement
    return time.monotonic() - start, latencies, peak


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as code:
        (Path(code) / "benchflows.py").write_text(CODE)
        sys.path.insert(0, code)
        import benchflows  # type: ignore[import-not-found]

        emu = FlyteAdminEmulator(
            register_example=False,
            run_code=True,
            run_workers=args.workers,
            default_advance=Advance.after_seconds(0.01),
        )
        with emu, grpc.insecure_channel(emu.grpc_endpoint) as channel:
            register_in_backend(emu.backend, compile_workflow(benchflows.wf, PROJECT, DOMAIN, "v1"))
            stub = admin_pb2_grpc.AdminServiceStub(channel)
            cold, _, _ = _batch(emu, stub, ["cold-1"], args.timeout)
            print(f"first run (the pool starting): {cold:.2f} s")
            warm, _, _ = _batch(emu, stub, ["warm-1"], args.timeout)
            print(f"second run (a worker waiting): {warm:.2f} s")
            names = [f"batch-{i}" for i in range(args.batch)]
            total, latencies, peak = _batch(emu, stub, names, args.timeout)
            latencies.sort()
            median, p99 = statistics.median(latencies), latencies[int(len(latencies) * 0.99)]
            per_run = total / args.batch
            print(f"{args.batch} runs at once, {args.workers} workers: {total:.2f} s ({per_run:.2f} s/run)")
            print(
                f"GetExecution meanwhile: n={len(latencies)}, median {median * 1e3:.1f} ms, "
                f"p99 {p99 * 1e3:.1f} ms, max {latencies[-1] * 1e3:.1f} ms"
            )
            print(f"at most {peak} worker processes alive, {emu.runs.started_processes} started")
            deadline = time.monotonic() + 30
            while len(emu.runs.worker_pids()) < args.workers and time.monotonic() < deadline:
                time.sleep(0.05)
            rss, before = [], [-1]
            while time.monotonic() < deadline:  # until the fresh workers have finished importing flytekit
                rss = [_rss_kb(pid) for pid in emu.runs.worker_pids()]
                if rss == before:
                    break
                before = rss
                time.sleep(1.0)
            print(f"idle workers' resident memory: {', '.join(f'{kb / 1024:.0f} MB' for kb in rss)}")


if __name__ == "__main__":
    main()
