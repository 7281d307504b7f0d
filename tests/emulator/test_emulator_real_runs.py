"""Real runs: unmodified pyflyte registers (fast) and runs a workflow file on the emulator, which runs it.

``pyflyte`` is the venv's own command, in a subprocess, configured for the emulator on 127.0.0.1
(insecure). The emulator runs the code with flytekit's local execution in its worker processes: the
outputs are computed, a raising task fails the execution with flytekit's error, Terminate and the
time limit stop the process, and stopping the emulator leaves no process behind.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from flyteidl.admin import execution_pb2
from flyteidl.service import admin_pb2_grpc

from flyte_async_provider.emulator import Advance, FlyteAdminEmulator, Outcome
from flyte_async_provider.phases import ExecutionPhase
from support.admin_rpc import create_request, ident, lp_id
from support.flyte import DOMAIN, PROJECT
from support.waits import wait_for

PYFLYTE = str(Path(sys.executable).with_name("pyflyte"))
WORKFLOWS = textwrap.dedent(
    """
    import time

    from flytekit import task, workflow
    from flytekit.types.file import FlyteFile


    @task
    def double(x: int) -> int:
        return x * 2


    @task
    def check(x: int) -> int:
        if x > 10:
            raise ValueError(f"x={x} is too large")
        return x


    @task
    def nap(seconds: float) -> float:
        time.sleep(seconds)
        return seconds


    @workflow
    def doubled_twice(x: int = 1) -> int:
        return double(x=double(x=x))


    @workflow
    def checked(x: int) -> int:
        return check(x=double(x=x))


    @workflow
    def napping(seconds: float) -> float:
        return nap(seconds=seconds)


    @task
    def count_words(f: FlyteFile) -> int:
        with open(f) as fh:
            return len(fh.read().split())


    @workflow
    def words(f: FlyteFile) -> int:
        return count_words(f=f)
    """
)
TERMINAL = {ExecutionPhase.SUCCEEDED, ExecutionPhase.FAILED, ExecutionPhase.ABORTED, ExecutionPhase.TIMED_OUT}


@pytest.fixture
def emu(flyte_admin_emulator_factory: Callable[..., FlyteAdminEmulator]) -> FlyteAdminEmulator:
    """Real runs on by default; phases step quickly until the run decides."""
    return flyte_admin_emulator_factory(
        register_example=False, run_code=True, default_advance=Advance.after_seconds(0.05)
    )


@pytest.fixture
def project(tmp_path: Path, emu: FlyteAdminEmulator) -> Iterator[Path]:
    """A directory with the workflow file and a flytekit config pointing at the emulator."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "flows.py").write_text(WORKFLOWS)
    (tmp_path / "config.yaml").write_text(
        f"admin:\n  endpoint: dns:///{emu.grpc_endpoint}\n  insecure: true\n"
    )
    return root


def pyflyte(project: Path, *args: str, timeout: float = 180.0) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLYTE", "PYTHONPATH"))}
    result = subprocess.run(
        [PYFLYTE, "--config", str(project.parent / "config.yaml"), *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"pyflyte {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def finished(emu: FlyteAdminEmulator, name: str, timeout: float = 120.0) -> execution_pb2.Execution:
    def done() -> execution_pb2.Execution | None:
        execution = emu.execution(PROJECT, DOMAIN, name)
        return execution if ExecutionPhase(execution.closure.phase) in TERMINAL else None

    return wait_for(done, timeout=timeout, interval=0.05, what=f"execution {name} to end")


def test_fast_register_run_remote_and_fetch_a_computed_output(emu: FlyteAdminEmulator, project: Path) -> None:
    out = pyflyte(
        project, "register", "--project", PROJECT, "--domain", DOMAIN, "--version", "v1", "flows.py"
    )
    assert "Successfully registered" in out
    assert emu.success_counters()["CreateUploadLocation"] == 1  # the fast-registration archive
    archives = list(emu.state.blobs.root.rglob("fast*.tar.gz"))
    assert len(archives) == 1

    pyflyte(project, "run", "--remote", "--name", "doubled-1", "flows.py", "doubled_twice", "--x", "5")
    execution = finished(emu, "doubled-1")
    assert ExecutionPhase(execution.closure.phase) == ExecutionPhase.SUCCEEDED
    outputs = emu.backend.get_execution_data(execution.id).full_outputs
    assert outputs.literals["o0"].scalar.primitive.integer == 20  # (5 * 2) * 2, computed by the tasks

    url = f"flyte://v1/{PROJECT}/{DOMAIN}/doubled-1/end-node/o/o0"
    fetched = pyflyte(project, "fetch", url)
    assert re.search(r"│ 20 +│", fetched), fetched  # pyflyte prints the literal in a panel
    assert emu.success_counters()["GetData"] == 1


def test_a_raising_task_fails_the_execution_with_flytekits_error(
    emu: FlyteAdminEmulator, project: Path
) -> None:
    pyflyte(project, "run", "--remote", "--name", "checked-1", "flows.py", "checked", "--x", "7")
    execution = finished(emu, "checked-1")
    assert ExecutionPhase(execution.closure.phase) == ExecutionPhase.FAILED
    error = execution.closure.error
    assert error.code == "USER:RuntimeError"  # flytekit's FlyteUserRuntimeException code for a ValueError
    assert error.kind == error.USER
    assert "ValueError" in error.message
    assert "x=14 is too large" in error.message


def _register_in_process(emu: FlyteAdminEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The workflow file registered in-process, code importable from sys.path (as with --register)."""
    from flyte_async_provider.emulator.registration import compile_workflow, register_in_backend

    code = tmp_path / "inproc"
    code.mkdir(exist_ok=True)
    (code / "napflows.py").write_text(WORKFLOWS)
    monkeypatch.syspath_prepend(str(code))
    import napflows

    for workflow in (napflows.napping, napflows.doubled_twice):
        register_in_backend(emu.backend, compile_workflow(workflow, PROJECT, DOMAIN, "v1"))


def _create(emu: FlyteAdminEmulator, name: str, launch_plan: str, **inputs: Any) -> None:
    emu.backend.create_execution(create_request(name, lp_id(launch_plan), **inputs))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_terminate_kills_the_running_process(
    emu: FlyteAdminEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register_in_process(emu, tmp_path, monkeypatch)
    _create(emu, "nap-1", "napflows.napping", seconds=600.0)
    wait_for(
        lambda: emu.execution(PROJECT, DOMAIN, "nap-1").closure.phase == ExecutionPhase.RUNNING,
        timeout=60,
        what="the run to start computing",
    )
    before = set(emu.runs.worker_pids())
    with grpc.insecure_channel(emu.grpc_endpoint) as channel:
        stub = admin_pb2_grpc.AdminServiceStub(channel)
        running = stub.GetExecution(execution_pb2.WorkflowExecutionGetRequest(id=ident("nap-1")), timeout=5)
        assert ExecutionPhase(running.closure.phase) == ExecutionPhase.RUNNING  # the loop is not busy
        stub.TerminateExecution(execution_pb2.ExecutionTerminateRequest(id=ident("nap-1"), cause="enough"))
    execution = finished(emu, "nap-1")
    assert ExecutionPhase(execution.closure.phase) == ExecutionPhase.ABORTED
    assert execution.closure.abort_metadata.cause == "enough"
    assert emu.runs.active() == 0
    wait_for(
        lambda: len(before - set(emu.runs.worker_pids())) == 1, timeout=10, what="the run's process to end"
    )
    (killed,) = before - set(emu.runs.worker_pids())
    wait_for(lambda: not _alive(killed), timeout=10, what=f"process {killed} to be gone")


def test_time_limit_ends_the_run_as_timed_out(
    flyte_admin_emulator_factory: Callable[..., FlyteAdminEmulator],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emu = flyte_admin_emulator_factory(
        register_example=False, run_code=True, run_time_limit=1.0, run_workers=1
    )
    _register_in_process(emu, tmp_path, monkeypatch)
    _create(emu, "nap-2", "napflows.napping", seconds=600.0)
    execution = finished(emu, "nap-2")
    assert ExecutionPhase(execution.closure.phase) == ExecutionPhase.TIMED_OUT
    assert emu.runs.active() == 0


def test_scripted_rules_win_over_real_runs(
    emu: FlyteAdminEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register_in_process(emu, tmp_path, monkeypatch)
    emu.script(
        Outcome.fail("scripted", code="USER:Scripted"), Advance.after_seconds(0), name_pattern="scripted-*"
    )
    _create(emu, "scripted-1", "napflows.doubled_twice", x=3)
    execution = finished(emu, "scripted-1")
    assert execution.closure.error.message == "scripted"
    assert emu.runs.started_processes == 0  # nothing ran


def test_run_per_rule_with_the_example_and_the_control_api(flyte_admin_emulator: FlyteAdminEmulator) -> None:
    """Opt in per launch plan on a default emulator; the bundled example's code really runs."""
    from support.flyte import LAUNCH_PLAN

    flyte_admin_emulator.script(Outcome.run(), launch_plan=LAUNCH_PLAN)
    _create(flyte_admin_emulator, "example-1", LAUNCH_PLAN, seed=5)
    execution = finished(flyte_admin_emulator, "example-1")
    assert ExecutionPhase(execution.closure.phase) == ExecutionPhase.SUCCEEDED
    outputs = flyte_admin_emulator.backend.get_execution_data(execution.id).full_outputs
    import random

    expected = round(0.70 + 0.1 * random.Random(5).random() + int(768 * (1 - 0.33)) / 1e5, 4)
    assert outputs.literals["accuracy"].scalar.primitive.float_value == expected
    assert outputs.literals["n_estimators"].scalar.primitive.integer == 100


def test_a_workflow_whose_code_cannot_run_here_fails_with_a_system_error(emu: FlyteAdminEmulator) -> None:
    """A task type that needs its own backend (here: a raw container task) is not run."""
    from flyteidl.admin import launch_plan_pb2, task_pb2, workflow_pb2
    from flyteidl.core import interface_pb2, tasks_pb2
    from flyteidl.core import workflow_pb2 as core_workflow_pb2

    task_id = lp_id("containers.echo")
    task_id.resource_type = 1
    template = tasks_pb2.TaskTemplate(id=task_id, type="raw-container")
    template.container.image = "alpine"
    emu.backend.entities.create_task(
        task_pb2.TaskCreateRequest(id=task_id, spec=task_pb2.TaskSpec(template=template))
    )
    wf_id = lp_id("containers.wf")
    wf_id.resource_type = 2
    wf = core_workflow_pb2.WorkflowTemplate(id=wf_id, interface=interface_pb2.TypedInterface())
    wf.nodes.add(id="n0").task_node.reference_id.CopyFrom(task_id)
    emu.backend.entities.create_workflow(
        workflow_pb2.WorkflowCreateRequest(id=wf_id, spec=workflow_pb2.WorkflowSpec(template=wf))
    )
    emu.backend.entities.create_launch_plan(
        launch_plan_pb2.LaunchPlanCreateRequest(
            id=lp_id("containers.wf"), spec=launch_plan_pb2.LaunchPlanSpec(workflow_id=wf_id)
        )
    )
    _create(emu, "container-1", "containers.wf")
    execution = finished(emu, "container-1")
    assert ExecutionPhase(execution.closure.phase) == ExecutionPhase.FAILED
    assert execution.closure.error.code == "SYSTEM:NotRunnable"
    assert "raw-container" in execution.closure.error.message
    assert emu.runs.started_processes == 0


def test_stopping_the_emulator_leaves_no_process_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = FlyteAdminEmulator(register_example=False, run_code=True, run_workers=2)
    emu.start_in_thread()
    try:
        _register_in_process(emu, tmp_path, monkeypatch)
        _create(emu, "nap-3", "napflows.napping", seconds=600.0)
        wait_for(lambda: len(emu.runs.worker_pids()) == 2, timeout=60, what="both workers to start")
        pids = emu.runs.worker_pids()
        blobs = emu.state.blobs.root
    finally:
        emu.stop_in_thread()
    assert emu.runs.worker_pids() == []
    for pid in pids:
        wait_for(lambda pid=pid: not _alive(pid), timeout=10, what=f"process {pid} to be gone")  # type: ignore[misc]
    assert not blobs.exists()  # the temporary blob store is removed too


def test_a_single_task_execution_runs_the_task(flyte_admin_emulator: FlyteAdminEmulator) -> None:
    """What ``FlyteOperator(task_name=...)`` launches: the task, loaded as pyflyte-execute loads it."""
    task = "ml_training.pima_diabetes.diabetes.split_traintest_dataset"
    flyte_admin_emulator.script(Outcome.run(), launch_plan=task)
    task_id = lp_id(task)
    task_id.resource_type = 1  # TASK
    flyte_admin_emulator.backend.create_execution(create_request("split-1", task_id, test_split_ratio=0.25))
    execution = finished(flyte_admin_emulator, "split-1")
    assert ExecutionPhase(execution.closure.phase) == ExecutionPhase.SUCCEEDED
    outputs = flyte_admin_emulator.backend.get_execution_data(execution.id).full_outputs
    assert outputs.literals["o0"].scalar.primitive.integer == 576  # int(768 * 0.75)

    flyte_admin_emulator.backend.create_execution(create_request("split-2", task_id, test_split_ratio=1.5))
    failed = finished(flyte_admin_emulator, "split-2")
    assert ExecutionPhase(failed.closure.phase) == ExecutionPhase.FAILED
    assert "test_split_ratio must be within (0, 1)" in failed.closure.error.message


def test_an_unfinished_run_starts_again_after_a_restart(
    flyte_admin_emulator_factory: Callable[..., FlyteAdminEmulator],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = str(tmp_path / "emu.db")
    first = flyte_admin_emulator_factory(
        register_example=False, db_path=db, default_outcome=Outcome.run(), run_workers=1
    )
    _register_in_process(first, tmp_path, monkeypatch)
    _create(first, "busy-1", "napflows.napping", seconds=600.0)  # holds the only worker
    _create(first, "again-1", "napflows.doubled_twice", x=4)  # queued behind it
    assert ExecutionPhase(first.execution(PROJECT, DOMAIN, "again-1").closure.phase) not in TERMINAL
    first.stop_in_thread()  # the emulator stops mid-run: both runs are lost

    second = flyte_admin_emulator_factory(register_example=False, db_path=db, default_outcome=Outcome.run())
    execution = finished(second, "again-1")
    assert ExecutionPhase(execution.closure.phase) == ExecutionPhase.SUCCEEDED
    outputs = second.backend.get_execution_data(execution.id).full_outputs
    assert outputs.literals["o0"].scalar.primitive.integer == 16


def test_run_remote_uploads_a_local_file_input_through_the_data_proxy(
    emu: FlyteAdminEmulator, project: Path
) -> None:
    (project / "text.txt").write_text("one two three four")
    pyflyte(project, "run", "--remote", "--name", "words-1", "flows.py", "words", "--f", "text.txt")
    execution = finished(emu, "words-1")
    assert ExecutionPhase(execution.closure.phase) == ExecutionPhase.SUCCEEDED, (
        execution.closure.error.message
    )
    data = emu.backend.get_execution_data(execution.id)
    uri = data.full_inputs.literals["f"].scalar.blob.uri
    assert uri.startswith(f"{emu.state.blobs.root}/")  # uploaded by flytekit to a signed URL
    assert data.full_outputs.literals["o0"].scalar.primitive.integer == 4


def test_flyteremote_register_script_then_execute_runs_the_uploaded_code(
    emu: FlyteAdminEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``FlyteRemote.register_script`` (what ``pyflyte run --remote`` does) in-process, unmodified."""
    from datetime import timedelta

    from flytekit.configuration import Config, ImageConfig, PlatformConfig
    from flytekit.remote import FlyteRemote

    code = tmp_path / "scripted_pkg"
    code.mkdir()
    (code / "scriptflows.py").write_text(WORKFLOWS)
    monkeypatch.syspath_prepend(str(code))
    import scriptflows

    remote = FlyteRemote(
        Config(platform=PlatformConfig(endpoint=emu.grpc_endpoint, insecure=True)),
        default_project=PROJECT,
        default_domain=DOMAIN,
    )
    registered = remote.register_script(
        scriptflows.doubled_twice,
        image_config=ImageConfig.auto_default_image(),
        version="s1",
        source_path=str(code),
        module_name="scriptflows",
    )
    execution = remote.execute(registered, inputs={"x": 6}, execution_name="script-1")
    done = finished(emu, execution.id.name)
    assert ExecutionPhase(done.closure.phase) == ExecutionPhase.SUCCEEDED
    synced = remote.wait(execution, timeout=timedelta(seconds=30), poll_interval=timedelta(seconds=0.1))
    assert synced.outputs["o0"] == 24
    assert emu.success_counters()["CreateUploadLocation"] == 1


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:  # field 4 of /proc/PID/stat: the parent's pid
            found.add(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc to find the workers")
def test_cli_register_runs_for_real_and_workers_die_with_a_killed_emulator(tmp_path: Path) -> None:
    """``--register module:workflow --default-outcome run``; then SIGKILL: no worker outlives it."""
    import json
    import signal

    code = tmp_path / "clicode"
    code.mkdir()
    (code / "cliflows.py").write_text(WORKFLOWS)
    ready = tmp_path / "ready.json"
    scratch = tmp_path / "tmp"  # a killed emulator cannot remove its workspace: keep it in tmp_path
    scratch.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(code), *sys.path]), "TMPDIR": str(scratch)}
    command = [sys.executable, "-m", "flyte_async_provider.emulator", "--port", "0", "--no-example"]
    command += ["--register", "cliflows:napping", "--default-outcome", "run", "--advance-seconds", "0.05"]
    command += ["--ready-file", str(ready)]
    emulator = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(ready.exists, timeout=60, interval=0.05, what="the emulator's ready file")
        endpoint = json.loads(ready.read_text())["grpc"]
        with grpc.insecure_channel(endpoint) as channel:
            stub = admin_pb2_grpc.AdminServiceStub(channel)
            stub.CreateExecution(create_request("cli-1", lp_id("cliflows.napping"), seconds=600.0))

            def running() -> bool:
                got = stub.GetExecution(execution_pb2.WorkflowExecutionGetRequest(id=ident("cli-1")))
                return ExecutionPhase(got.closure.phase) == ExecutionPhase.RUNNING

            wait_for(running, timeout=60, interval=0.05, what="the registered workflow to run")
        workers = _children(emulator.pid)
        assert workers  # the run's process and the slots' waiting ones
    finally:
        emulator.send_signal(signal.SIGKILL)
        emulator.wait(10)
    for pid in workers:
        wait_for(lambda pid=pid: not _alive(pid), timeout=15, what=f"worker {pid} to end")  # type: ignore[misc]


MAP_AND_DYNAMIC = textwrap.dedent(
    """
    from flytekit import dynamic, map_task, task, workflow


    @task
    def square(x: int) -> int:
        return x * x


    @workflow
    def squares(xs: list[int]) -> list[int]:
        return map_task(square)(x=xs)


    @dynamic
    def fan(n: int) -> list[int]:
        return [square(x=i) for i in range(n)]


    @workflow
    def fanned(n: int) -> list[int]:
        return fan(n=n)
    """
)


def test_map_tasks_and_dynamic_workflows_run(
    emu: FlyteAdminEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flyte_async_provider.emulator.registration import compile_workflow, register_in_backend

    code = tmp_path / "mapcode"
    code.mkdir()
    (code / "mapflows.py").write_text(MAP_AND_DYNAMIC)
    monkeypatch.syspath_prepend(str(code))
    import mapflows

    for workflow in (mapflows.squares, mapflows.fanned):
        register_in_backend(emu.backend, compile_workflow(workflow, PROJECT, DOMAIN, "v1"))
    emu.create_executions(PROJECT, DOMAIN, "mapflows.squares", ["map-1"], inputs={"xs": [1, 2, 3]})
    emu.create_executions(PROJECT, DOMAIN, "mapflows.fanned", ["dyn-1"], inputs={"n": 4})
    for name, expected in (("map-1", [1, 4, 9]), ("dyn-1", [0, 1, 4, 9])):
        execution = finished(emu, name)
        assert ExecutionPhase(execution.closure.phase) == ExecutionPhase.SUCCEEDED, (
            execution.closure.error.message
        )
        out = emu.backend.get_execution_data(execution.id).full_outputs.literals["o0"]
        assert [item.scalar.primitive.integer for item in out.collection.literals] == expected


FILE_OUTPUT = textwrap.dedent(
    """
    from flytekit import task, workflow
    from flytekit.types.file import FlyteFile


    @task
    def write(text: str) -> FlyteFile:
        with open("out.txt", "w") as fh:  # in the run's working directory
            fh.write(text)
        return FlyteFile("out.txt")


    @workflow
    def written(text: str) -> FlyteFile:
        return write(text=text)
    """
)


def test_an_output_file_outlives_its_run_until_the_emulator_stops(
    emu: FlyteAdminEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flyte_async_provider.emulator.registration import compile_workflow, register_in_backend

    code = tmp_path / "filecode"
    code.mkdir()
    (code / "fileflows.py").write_text(FILE_OUTPUT)
    monkeypatch.syspath_prepend(str(code))
    import fileflows

    register_in_backend(emu.backend, compile_workflow(fileflows.written, PROJECT, DOMAIN, "v1"))
    emu.create_executions(PROJECT, DOMAIN, "fileflows.written", ["file-1"], inputs={"text": "hello"})
    execution = finished(emu, "file-1")
    assert ExecutionPhase(execution.closure.phase) == ExecutionPhase.SUCCEEDED, (
        execution.closure.error.message
    )
    uri = emu.backend.get_execution_data(execution.id).full_outputs.literals["o0"].scalar.blob.uri
    assert Path(uri).read_text() == "hello"  # a local path, still there after the run's process ended
