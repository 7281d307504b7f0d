"""RecoverExecution as flyteadmin: a new execution of the old one's spec and inputs, mode RECOVERED."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
import pytest
from flyteidl.admin import execution_pb2, node_execution_pb2
from flyteidl.core import execution_pb2 as core_execution_pb2
from flyteidl.service import admin_pb2_grpc

from flyte_async_provider.emulator import Advance, FlyteAdminEmulator, Outcome
from support.admin_rpc import create_request, get, ident
from support.flyte import LAUNCH_PLAN

if TYPE_CHECKING:
    from flytekit.remote import FlyteRemote

NodePhase = core_execution_pb2.NodeExecution.Phase
Mode = execution_pb2.ExecutionMetadata


def test_recovering_a_failed_execution_recovers_the_nodes_it_completed(
    flyte_admin_emulator: FlyteAdminEmulator, remote: FlyteRemote
) -> None:
    flyte_admin_emulator.script(Outcome.fail("flaky"), Advance.after_seconds(0), name_pattern="first")
    flyte_admin_emulator.set_default(Outcome.succeed(outputs={"accuracy": 0.8}), Advance.after_seconds(0))
    lp = remote.fetch_launch_plan(name=LAUNCH_PLAN)
    failed = remote.wait(remote.execute(lp, inputs={"seed": 9}, execution_name="first"), timeout=30)
    assert failed.error.message == "flaky"

    new_id = remote.client.recover_execution(failed.id, "second")  # what `pyflyte recover` sends
    assert new_id.name == "second"
    recovered = remote.sync(remote.fetch_execution(name="second"), sync_nodes=True)
    assert recovered.spec.metadata.mode == Mode.RECOVERED
    assert recovered.spec.metadata.reference_execution.name == "first"
    assert recovered.inputs["seed"] == 9  # the source's user inputs
    assert recovered.outputs["accuracy"] == pytest.approx(0.8)
    phases = {k: NodePhase.Name(n.closure.phase) for k, n in recovered.node_executions.items()}
    assert phases == {
        "start-node": "SUCCEEDED",
        "n0": "RECOVERED",
        "n1": "SUCCEEDED",
        "end-node": "SUCCEEDED",
    }
    assert recovered.node_executions["n0"].task_executions == []  # recovered, not run again


def test_recover_generates_a_name_and_keeps_the_parent_node_metadata(
    flyte_admin_emulator: FlyteAdminEmulator, admin: admin_pb2_grpc.AdminServiceStub
) -> None:
    flyte_admin_emulator.set_default(Outcome.succeed(), Advance.manual())
    admin.CreateExecution(create_request("source", seed=3))
    parent = execution_pb2.ExecutionMetadata()
    parent.parent_node_execution.node_id = "n7"
    parent.parent_node_execution.execution_id.CopyFrom(ident("outer"))
    answer = admin.RecoverExecution(
        execution_pb2.ExecutionRecoverRequest(id=ident("source"), metadata=parent)
    )
    assert answer.id.name.startswith("a")  # a flyteadmin-like generated name
    assert len(answer.id.name) == 20
    new = get(admin, answer.id.name)
    assert new.spec.metadata.mode == Mode.RECOVERED
    assert new.spec.metadata.parent_node_execution.node_id == "n7"
    assert new.spec.launch_plan == get(admin, "source").spec.launch_plan
    assert (
        list(
            admin.ListNodeExecutions(
                node_execution_pb2.NodeExecutionListRequest(workflow_execution_id=answer.id, limit=10)
            ).node_executions
        )
        == []
    )  # not started yet


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (execution_pb2.ExecutionRecoverRequest(id=ident("ghost")), grpc.StatusCode.NOT_FOUND),
        (
            execution_pb2.ExecutionRecoverRequest(id=ident("source"), name="Bad_Name"),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            execution_pb2.ExecutionRecoverRequest(id=ident("source"), name="source"),
            grpc.StatusCode.ALREADY_EXISTS,
        ),
    ],
)
def test_bad_recover_requests_get_flyteadmins_codes(
    admin: admin_pb2_grpc.AdminServiceStub,
    request_: execution_pb2.ExecutionRecoverRequest,
    code: grpc.StatusCode,
) -> None:
    admin.CreateExecution(create_request("source", seed=3))
    with pytest.raises(grpc.RpcError) as err:
        admin.RecoverExecution(request_)
    assert err.value.code() == code
