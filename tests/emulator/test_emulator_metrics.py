"""GetExecutionMetrics: flyteadmin's span tree over the derived node and task executions."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
from flyteidl.admin import execution_pb2
from flyteidl.core import metrics_pb2
from flyteidl.service import admin_pb2_grpc

from flyte_async_provider.emulator import Advance, FlyteAdminEmulator, Outcome
from support.admin_rpc import create, ident
from support.flyte import DOMAIN, PROJECT


def metrics(admin: admin_pb2_grpc.AdminServiceStub, name: str, depth: int) -> metrics_pb2.Span:
    request = execution_pb2.WorkflowExecutionGetMetricsRequest(id=ident(name), depth=depth)
    return admin.GetExecutionMetrics(request).span


def shape(span: metrics_pb2.Span) -> object:
    """Each span as its id (operation name, node id or task name) with its children."""
    which = span.WhichOneof("id")
    label = {
        "operation_id": span.operation_id,
        "node_id": f"node:{span.node_id.node_id}",
        "task_id": f"task:{span.task_id.node_execution_id.node_id}",
        "workflow_id": f"workflow:{span.workflow_id.name}",
    }[which or "operation_id"]
    return (label, [shape(child) for child in span.spans]) if span.spans else label


class Clock:
    """The emulator's time, moved by the test (so spans have lengths without waiting)."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_finished_execution_breaks_down_into_setup_nodes_tasks_and_teardown(
    flyte_admin_emulator_factory: Callable[..., FlyteAdminEmulator],
) -> None:
    clock = Clock()
    emu = flyte_admin_emulator_factory(clock=clock, default_advance=Advance.after_seconds(10))
    with grpc.insecure_channel(emu.grpc_endpoint) as channel:
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        create(admin, "measured")
        clock.now += 60  # one phase every 10 s: RUNNING at +20, SUCCEEDED at +40
        span = metrics(admin, "measured", depth=5)
    task = ["TASK_SETUP", "TASK_RUNTIME", "TASK_TEARDOWN"]
    assert shape(span) == (
        "workflow:measured",
        [
            "WORKFLOW_SETUP",
            ("node:n0", ["NODE_TRANSITION", "NODE_SETUP", ("task:n0", task), "NODE_TEARDOWN"]),
            ("node:n1", ["NODE_TRANSITION", "NODE_SETUP", ("task:n1", task), "NODE_TEARDOWN"]),
            "WORKFLOW_TEARDOWN",
        ],
    )
    setup, n0, n1, teardown = span.spans
    assert setup.end_time.ToSeconds() - setup.start_time.ToSeconds() == 20  # created -> RUNNING
    assert n0.end_time.ToSeconds() - n0.start_time.ToSeconds() == 10  # 20 s from RUNNING, 2 levels
    assert n1.start_time == n0.end_time
    assert teardown.start_time == n1.end_time
    execution = emu.execution(PROJECT, DOMAIN, "measured")
    assert span.start_time == execution.closure.created_at
    assert span.end_time == execution.closure.updated_at
    for child in span.spans:  # every span lies within its parent
        assert span.start_time.ToNanoseconds() <= child.start_time.ToNanoseconds()
        assert child.end_time.ToNanoseconds() <= span.end_time.ToNanoseconds()


def test_depth_limits_the_breakdown_and_a_queued_execution_is_all_setup(
    flyte_admin_emulator: FlyteAdminEmulator, admin: admin_pb2_grpc.AdminServiceStub
) -> None:
    flyte_admin_emulator.set_default(Outcome.succeed(), Advance.after_seconds(0))
    create(admin, "shallow")
    assert shape(metrics(admin, "shallow", depth=0)) == "workflow:shallow"  # depth 0: no children
    assert shape(metrics(admin, "shallow", depth=1)) == (
        "workflow:shallow",
        [
            "WORKFLOW_SETUP",
            ("node:n0", ["NODE_TRANSITION"]),
            ("node:n1", ["NODE_TRANSITION"]),
            "WORKFLOW_TEARDOWN",
        ],
    )
    flyte_admin_emulator.set_default(Outcome.succeed(), Advance.manual())
    create(admin, "waiting")
    assert shape(metrics(admin, "waiting", depth=5)) == ("workflow:waiting", ["WORKFLOW_SETUP"])


def test_metrics_of_an_unknown_execution_are_not_found(admin: admin_pb2_grpc.AdminServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as err:
        metrics(admin, "ghost", depth=1)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        admin.GetExecutionMetrics(execution_pb2.WorkflowExecutionGetMetricsRequest())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
