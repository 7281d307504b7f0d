"""The API server's user-mark listener: how it names the execution from the trigger row, its
terminator (against the emulator over gRPC), which marks it acts on, and that only building the API
server's app installs it.

The whole path (a real API server, a task marked while no triggerer runs) is
tests/e2e/test_scenarios.py::test_9 (worker path), tests/e2e/test_zero_worker.py (mapped zero-worker)
and the HA mark scenario (zero-worker, PostgreSQL).
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from flyte_async_provider.emulator import Advance, Outcome
from flyte_async_provider.execution_ref import ExecutionRef, task_label
from flyte_async_provider.user_marks import listener as listener_module
from flyte_async_provider.user_marks import lookup
from flyte_async_provider.user_marks.terminator import Terminator
from support.admin_rpc import launch
from support.flyte import DOMAIN, PROJECT, phase_name, set_flyte_connection


@pytest.fixture
def conn_id(monkeypatch: pytest.MonkeyPatch, flyte_admin_emulator: Any) -> str:
    conn = f"flyte_{uuid.uuid4().hex[:8]}"
    set_flyte_connection(monkeypatch, conn, flyte_admin_emulator.grpc_endpoint)
    return conn


def _ref(conn_id: str, name: str, terminate: bool = True) -> ExecutionRef:
    return ExecutionRef(conn_id, PROJECT, DOMAIN, name, terminate)


# ------------------------------------------------------------------ naming the execution
def _trigger(classname: str, **kwargs: Any) -> Any:
    return SimpleNamespace(classpath=f"flyte_async_provider.triggers.x.{classname}", kwargs=kwargs)


def test_a_watch_trigger_names_everything_itself() -> None:
    trigger = _trigger("FlyteExecutionTrigger", conn_id="c", project="p", domain="d", execution_name="n")
    assert lookup.execution_ref(_ti(trigger=trigger)) == ExecutionRef("c", "p", "d", "n", True)
    sensor = _trigger("FlyteExecutionTrigger", conn_id="c", execution_name="n", terminate_on_kill=False)
    assert lookup.execution_ref(_ti(trigger=sensor)) == ExecutionRef("c", "", "", "n", False)


def test_a_launch_trigger_s_execution_is_the_name_it_pushed(monkeypatch: pytest.MonkeyPatch) -> None:
    trigger = _trigger("FlyteLaunchTrigger", flyte_conn_id="c", project="p", domain="d", execution_name="")
    monkeypatch.setattr(lookup, "_pushed_name", lambda ti: "zero-ok-abc-1")
    assert lookup.execution_ref(_ti(trigger=trigger)) == ExecutionRef("c", "p", "d", "zero-ok-abc-1", True)
    monkeypatch.setattr(lookup, "_pushed_name", lambda ti: None)  # not submitted yet
    assert lookup.execution_ref(_ti(trigger=trigger)) is None


def test_a_mapped_launch_trigger_reads_the_serialized_task_s_partial_kwargs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lookup, "_pushed_name", lambda ti: "zero-mapped-abc-1")
    monkeypatch.setattr(lookup, "_partial_kwargs", lambda ti: {"project": "p", "domain": "d"})
    ref = lookup.execution_ref(_ti(trigger=_trigger("FlyteMappedLaunchTrigger")))
    assert ref == ExecutionRef("flyte_default", "p", "d", "zero-mapped-abc-1", True)  # operator defaults


def test_a_templated_connection_cannot_be_named_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lookup, "_pushed_name", lambda ti: "n")
    trigger = _trigger("FlyteLaunchTrigger", flyte_conn_id="c", project="{{ var.value.project }}")
    with pytest.raises(lookup.Unresolvable, match="project is a template"):
        lookup.execution_ref(_ti(trigger=trigger))


def test_other_triggers_and_no_trigger_are_not_ours() -> None:
    other = SimpleNamespace(
        classpath="airflow.providers.standard.triggers.temporal.DateTimeTrigger", kwargs={}
    )
    assert lookup.execution_ref(_ti(trigger=other)) is None
    assert lookup.execution_ref(_ti()) is None


def test_task_label_names_dag_task_map_index_and_run() -> None:
    assert task_label("ml", "train", "manual__1", 3) == "DAG ml, task train[3], run manual__1"
    assert task_label("ml", "train", "manual__1", -1) == "DAG ml, task train, run manual__1"


# ------------------------------------------------------------------ the terminator
def test_terminator_aborts_a_running_execution_with_the_cause_once(
    flyte_admin_emulator: Any, conn_id: str
) -> None:
    flyte_admin_emulator.script(Outcome.hang(), advance=Advance.after_reads(1), name_pattern="mark-*")
    launch(flyte_admin_emulator.grpc_endpoint, "mark-1")
    terminator = Terminator()

    assert terminator.submit(_ref(conn_id, "mark-1"), "marked by a test").result(timeout=30) is True
    execution = flyte_admin_emulator.execution(PROJECT, DOMAIN, "mark-1")
    assert phase_name(execution) in {"ABORTING", "ABORTED"}
    assert execution.closure.abort_metadata.cause == "marked by a test"
    # A second request (a live triggerer's on_kill racing the listener) is answered "already ended".
    assert terminator.submit(_ref(conn_id, "mark-1"), "again").result(timeout=30) is False
    assert flyte_admin_emulator.success_counters().get("TerminateExecution", 0) == 1


def test_terminator_treats_an_unknown_execution_as_nothing_to_do(
    flyte_admin_emulator: Any, conn_id: str
) -> None:
    assert Terminator().submit(_ref(conn_id, "never-created"), "x").result(timeout=30) is False


def test_terminator_gives_up_on_an_unreachable_admin_without_raising(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conn = f"flyte_{uuid.uuid4().hex[:8]}"
    set_flyte_connection(monkeypatch, conn, f"127.0.0.1:{port}")
    started = time.monotonic()
    assert Terminator().submit(_ref(conn, "n-1"), "x").result(timeout=120) is None
    assert time.monotonic() - started < 90  # bounded by the client's retries and the overall timeout


# ------------------------------------------------------------------ which marks it acts on
@pytest.fixture
def submitted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[ExecutionRef, str]]:
    """What the listener hands to the terminator (each test says what the lookup finds)."""
    calls: list[tuple[ExecutionRef, str]] = []
    fake = SimpleNamespace(submit=lambda ref, cause: calls.append((ref, cause)))
    monkeypatch.setattr("flyte_async_provider.user_marks.terminator.TERMINATOR", fake)
    return calls


def _ti(**attrs: Any) -> Any:
    base = {"dag_id": "ml", "task_id": "train", "run_id": "manual__1", "map_index": -1, "trigger": None}
    return SimpleNamespace(**{**base, **attrs})


OWNED = ExecutionRef("c", "p", "d", "n", True)


@pytest.mark.parametrize(
    ("ref", "previous_state", "acts"),
    [
        (OWNED, None, True),
        (ExecutionRef("c", "p", "d", "n", False), None, False),  # terminate_on_kill=False (a sensor)
        (None, None, False),  # not one of our triggers, or nothing submitted yet
        (OWNED, "running", False),  # a task's own failure, not a user's mark
    ],
)
def test_the_listener_terminates_only_marked_tasks_whose_trigger_owns_an_execution(
    monkeypatch: pytest.MonkeyPatch,
    submitted: list[tuple[ExecutionRef, str]],
    ref: ExecutionRef | None,
    previous_state: str | None,
    acts: bool,
) -> None:
    monkeypatch.setattr(lookup, "execution_ref", lambda ti: ref)
    listener_module.LISTENER.on_task_instance_failed(previous_state, _ti(), "marked")
    assert [r for r, _ in submitted] == ([ref] if acts else [])
    if acts:
        assert submitted[0][1].startswith("Airflow user marked DAG ml, task train, run manual__1 failed")


def test_a_mark_success_terminates_too(
    monkeypatch: pytest.MonkeyPatch, submitted: list[tuple[ExecutionRef, str]]
) -> None:
    monkeypatch.setattr(lookup, "execution_ref", lambda ti: OWNED)
    listener_module.LISTENER.on_task_instance_success(None, _ti(map_index=2))
    assert [r for r, _ in submitted] == [OWNED]
    assert "task train[2]" in submitted[0][1]
    assert "success" in submitted[0][1]


def test_the_listener_never_raises_into_airflow(
    monkeypatch: pytest.MonkeyPatch,
    submitted: list[tuple[ExecutionRef, str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(ti: Any) -> None:
        raise RuntimeError("database gone")

    def unresolvable(ti: Any) -> None:
        raise lookup.Unresolvable("its project is a template")

    for failing in (broken, unresolvable):
        monkeypatch.setattr(lookup, "execution_ref", failing)
        listener_module.LISTENER.on_task_instance_failed(None, _ti(), "marked")
    assert submitted == []
    assert "its project is a template" in caplog.text


# ------------------------------------------------------------------ where it is installed
def _registered() -> bool:
    from airflow.listeners.listener import get_listener_manager

    return bool(get_listener_manager().pm.is_registered(listener_module.LISTENER))


@pytest.fixture
def listener_manager() -> Iterator[Any]:
    from airflow.listeners.listener import get_listener_manager

    manager = get_listener_manager()
    yield manager
    if manager.pm.is_registered(listener_module.LISTENER):
        manager.pm.unregister(listener_module.LISTENER)


def test_the_plugin_loads_from_its_entry_point_without_registering_a_listener(listener_manager: Any) -> None:
    from airflow import plugins_manager

    from flyte_async_provider.user_marks.plugin import FlyteUserMarkPlugin

    if hasattr(plugins_manager, "get_fastapi_plugins"):  # Airflow >= 3.2
        middlewares = plugins_manager.get_fastapi_plugins()[1]
        loaded = plugins_manager._get_plugins()[0]
    else:  # Airflow 3.1: module globals
        plugins_manager.initialize_fastapi_plugins()
        middlewares, loaded = plugins_manager.fastapi_root_middlewares, plugins_manager.plugins
    assert any(m["name"] == "flyte-user-mark-listener" for m in middlewares), middlewares
    assert any(isinstance(p, FlyteUserMarkPlugin) for p in loaded)
    # A DAG processor, scheduler or triggerer: plugins loaded, no listener (end_from_trigger stays legal).
    assert not _registered()
    assert not listener_manager.has_listeners


def test_building_the_api_server_app_registers_the_listener(listener_manager: Any) -> None:
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    with TestClient(create_app()) as client:
        client.get("/api/v2/monitor/health")
    assert _registered()


def test_the_option_turns_it_off(monkeypatch: pytest.MonkeyPatch, listener_manager: Any) -> None:
    from flyte_async_provider.user_marks.plugin import RegisterUserMarkListener

    monkeypatch.setenv("AIRFLOW__FLYTE__TERMINATE_MARKED_TASKS_FROM_API_SERVER", "False")
    RegisterUserMarkListener(app=None)
    assert not _registered()
    monkeypatch.delenv("AIRFLOW__FLYTE__TERMINATE_MARKED_TASKS_FROM_API_SERVER")
    RegisterUserMarkListener(app=None)
    assert _registered()
