"""FlyteHook against the Flyte Admin emulator over real gRPC sockets."""

from __future__ import annotations

from typing import Any

import pytest

from flyte_async_provider.emulator import Advance, Outcome
from flyte_async_provider.exceptions import (
    FlyteConfigError,
    FlyteExecutionAbortedError,
    FlyteExecutionFailedError,
    FlyteNotFoundError,
)
from flyte_async_provider.hooks.flyte import FlyteHook
from flyte_async_provider.phases import ExecutionPhase
from flyte_async_provider.spec.options import ExecutionOptions
from support.flyte import DOMAIN, GOOD_INPUTS, LAUNCH_PLAN, PROJECT


def _launch(hook: FlyteHook, name: str, **kwargs: Any) -> str:
    kwargs.setdefault("launchplan_name", LAUNCH_PLAN)
    kwargs.setdefault("inputs", GOOD_INPUTS)
    return hook.launch(name, **kwargs)


def test_launch_sends_every_option_to_flyte_admin(flyte: Any) -> None:
    options = ExecutionOptions(
        raw_output_data_config="s3://bucket/raw",
        kubernetes_service_account="runner",
        oauth2_client={"client_id": "cid", "client_secret": {"group": "oauth", "key": "secret"}},
        labels={"team": "ml"},
        annotations={"owner": "me"},
        secrets=[{"group": "db", "key": "password"}],
        notifications=[
            {
                "phases": ["SUCCEEDED", "FAILED"],
                "email": {"recipients_email": ["a@x.io"]},
                "slack": {"recipients_email": ["#ml"]},
            }
        ],
        max_parallelism=4,
        overwrite_cache=True,
        envs={"MODE": "fast"},
        tags=["nightly"],
        interruptible=True,
        cluster_pool="gpu",
    )
    name = _launch(FlyteHook(), "opts-1", options=options)
    spec = flyte.execution(PROJECT, DOMAIN, name).spec
    assert spec.launch_plan.name == LAUNCH_PLAN
    assert spec.raw_output_data_config.output_location_prefix == "s3://bucket/raw"
    assert spec.security_context.run_as.k8s_service_account == "runner"
    assert spec.security_context.run_as.oauth2_client.client_secret.group == "oauth"
    assert [s.group for s in spec.security_context.secrets] == ["db"]
    assert dict(spec.labels.values) == {"team": "ml"}
    assert dict(spec.annotations.values) == {"owner": "me"}
    assert spec.WhichOneof("notification_overrides") == "notifications"
    channels = [n.WhichOneof("type") for n in spec.notifications.notifications]
    assert channels == ["email", "slack"]
    assert list(spec.notifications.notifications[0].phases) == [4, 6]
    assert spec.max_parallelism == 4
    assert spec.overwrite_cache is True
    assert {kv.key: kv.value for kv in spec.envs.values} == {"MODE": "fast"}
    assert list(spec.tags) == ["nightly"]
    assert spec.interruptible.value is True
    assert spec.cluster_assignment.cluster_pool_name == "gpu"


@pytest.mark.parametrize(("disable", "expected"), [(None, None), (True, "disable_all")])
def test_without_notifications_the_launch_plans_own_apply(
    flyte: Any, disable: bool | None, expected: str | None
) -> None:
    name = _launch(
        FlyteHook(), f"notes-{int(bool(disable))}", options=ExecutionOptions(disable_notifications=disable)
    )
    assert flyte.execution(PROJECT, DOMAIN, name).spec.WhichOneof("notification_overrides") == expected


def test_latest_version_when_none_given_and_unknown_version_fails_fast(flyte: Any) -> None:
    hook = FlyteHook()
    assert hook.resolve_entity(launchplan_name=LAUNCH_PLAN).version == "v1"
    with pytest.raises(FlyteNotFoundError, match="version v9") as err:
        _launch(hook, "v9-run", version="v9")
    assert "Nothing was submitted" in str(err.value)
    with pytest.raises(FlyteNotFoundError, match=r"launch plan flytesnacks/development/no\.such\.plan"):
        _launch(hook, "nope-run", launchplan_name="no.such.plan")
    assert flyte.counters().get("CreateExecution", 0) == 0


def test_tasks_and_workflows_launch_too(flyte: Any) -> None:
    hook = FlyteHook()
    wf = _launch(hook, "wf-run", launchplan_name=None, workflow_name=LAUNCH_PLAN)
    assert flyte.execution(PROJECT, DOMAIN, wf).spec.launch_plan.name == LAUNCH_PLAN
    task = "ml_training.pima_diabetes.diabetes.split_traintest_dataset"
    resolved = hook.resolve_entity(task_name=task)
    assert (resolved.kind, resolved.version, resolved.required) == ("task", "v1", {"test_split_ratio"})
    # A single-task execution, as flyteadmin runs it (through the generated ".flytegen.<task>" launch plan).
    name = _launch(hook, "task-run", launchplan_name=None, task_name=task, inputs={"test_split_ratio": 0.5})
    launched = flyte.execution(PROJECT, DOMAIN, name)
    assert (launched.spec.launch_plan.resource_type, launched.spec.launch_plan.name) == (1, task)  # TASK
    assert launched.closure.workflow_id.name == f".flytegen.{task}"
    with pytest.raises(FlyteConfigError, match="missing required input"):
        _launch(hook, "task-run-2", launchplan_name=None, task_name=task, inputs={})


@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [
        ({"test_split_ratio": 0.5, "seed": "five"}, "input 'seed'='five'"),
        ({"test_split_ratio": 0.5, "sed": 5}, "unknown input(s) ['sed']"),
    ],
)
def test_bad_inputs_submit_nothing(flyte: Any, inputs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(FlyteConfigError) as err:
        _launch(FlyteHook(), "bad-inputs", inputs=inputs)
    assert fragment in str(err.value)
    assert flyte.counters().get("CreateExecution", 0) == 0


def test_same_name_twice_is_one_execution(flyte: Any) -> None:
    hook = FlyteHook()
    assert _launch(hook, "twice") == _launch(hook, "twice") == "twice"
    assert flyte.backend.names(PROJECT, DOMAIN) == ["twice"]


def test_status_outputs_and_failure_details(flyte: Any) -> None:
    flyte.script(
        Outcome.fail("OOMKilled in fit", code="USER:OOM"), advance=Advance.manual(), name_pattern="bad-*"
    )
    hook = FlyteHook()
    good = _launch(hook, "good-1")
    flyte.complete(PROJECT, DOMAIN, good, Outcome.succeed({"accuracy": 0.91, "n_estimators": 100}))
    state = hook.get_execution_state(good)
    assert state.phase is ExecutionPhase.SUCCEEDED
    assert hook.get_outputs(good) == {"accuracy": 0.91, "n_estimators": 100}
    assert hook.execution_status(good) is True

    bad = _launch(hook, "bad-1")
    assert hook.execution_status(bad) is False
    flyte.complete(PROJECT, DOMAIN, bad)
    state = hook.get_execution_state(bad)
    assert state.error_message == "OOMKilled in fit"
    assert state.error_code == "USER:OOM"
    with pytest.raises(FlyteExecutionFailedError, match="OOMKilled in fit") as err:
        hook.execution_status(bad)
    assert err.value.console_url.endswith("/executions/bad-1")


def test_terminate_and_abort_details(flyte: Any) -> None:
    flyte.set_default(Outcome.hang(), Advance.manual())
    hook = FlyteHook()
    name = _launch(hook, "stop-me")
    assert hook.terminate(name, "no longer needed") is True
    assert hook.get_execution_state(name).phase is ExecutionPhase.ABORTING
    flyte.advance(PROJECT, DOMAIN, name)
    state = hook.get_execution_state(name)
    assert state.phase is ExecutionPhase.ABORTED
    assert state.abort_cause == "no longer needed"
    assert hook.terminate(name, "again") is False
    with pytest.raises(FlyteExecutionAbortedError, match="no longer needed"):
        hook.execution_status(name)


def test_unknown_execution(flyte: Any) -> None:
    hook = FlyteHook()
    assert hook.find_execution("ghost") is None
    with pytest.raises(FlyteNotFoundError):
        hook.get_execution_state("ghost")


@pytest.mark.parametrize("outcome", ["fail", "abort"])
def test_flytekit_fallback_reads_the_same_status_as_the_admin_path(flyte: Any, outcome: str) -> None:
    """Where an event loop already runs, the hook reads through flytekit: the same ExecutionStatus."""
    flyte.set_default(Outcome.hang(), Advance.manual())
    hook = FlyteHook()
    name = _launch(hook, f"same-{outcome}")
    if outcome == "fail":
        flyte.complete(PROJECT, DOMAIN, name, Outcome.fail("OOMKilled in fit", code="USER:OOM"))
    else:
        hook.terminate(name, "no longer needed")
        flyte.advance(PROJECT, DOMAIN, name)
    admin = hook.get_execution_state(name)
    kit = hook._get_execution_state_flytekit(name)
    assert admin.phase.is_terminal
    assert _comparable(kit) == _comparable(admin)


def _comparable(state: Any) -> dict[str, Any]:
    """Event fields, minus a zero duration: flytekit's model cannot tell an unset one from zero."""
    fields = dict(state.to_event_fields())
    if fields.get("duration_seconds") == 0.0:
        del fields["duration_seconds"]
    return fields
