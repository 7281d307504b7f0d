"""The flytekit-free CreateExecution request equals what flytekit's FlyteRemote.execute would send."""

from __future__ import annotations

from typing import Any

import pytest
from flyteidl.core import identifier_pb2, types_pb2
from flytekit.models import common as common_models
from flytekit.models.core.identifier import Identifier
from flytekit.models.execution import ClusterAssignment, ExecutionMetadata, ExecutionSpec, NotificationList
from flytekit.models.types import LiteralType

from flyte_async_provider.admin.requests import NeedsFlytekit, execution_spec, plain_literal
from flyte_async_provider.spec.options import ExecutionOptions
from flyte_async_provider.spec.values import to_literal

LP_ID = identifier_pb2.Identifier(
    resource_type=identifier_pb2.LAUNCH_PLAN, project="p", domain="d", name="lp", version="v1"
)


def flytekit_spec(options: ExecutionOptions) -> Any:
    """The spec as FlyteRemote._execute builds it, with the hook's notification override applied."""
    kit, extra, notes = options.to_flytekit(), options.execute_kwargs(), options.notification_models()
    return ExecutionSpec(
        Identifier.from_flyte_idl(LP_ID),
        ExecutionMetadata(ExecutionMetadata.ExecutionMode.MANUAL, "placeholder", 0),
        overwrite_cache=extra["overwrite_cache"],
        interruptible=extra["interruptible"],
        notifications=NotificationList(notes) if notes else None,
        disable_all=True if (options.disable_notifications and not notes) else None,
        labels=kit.labels,
        annotations=kit.annotations,
        raw_output_data_config=kit.raw_output_data_config,
        max_parallelism=kit.max_parallelism,
        security_context=kit.security_context,
        envs=common_models.Envs(extra["envs"]) if extra["envs"] else None,
        tags=extra["tags"],
        cluster_assignment=ClusterAssignment(cluster_pool=extra["cluster_pool"])
        if extra["cluster_pool"]
        else None,
    ).to_flyte_idl()


OPTION_SETS = {
    "none": ExecutionOptions(),
    "everything": ExecutionOptions(
        raw_output_data_config="s3://bucket/raw",
        kubernetes_service_account="trainer",
        oauth2_client={"client_id": "airflow", "client_secret": {"group": "oauth", "key": "secret"}},
        labels={"team": "ml"},
        annotations={"owner": "alice"},
        secrets=[{"group": "db", "key": "password", "mount_requirement": "ENV_VAR"}, {"group": "s3"}],
        notifications=[{"phases": ["FAILED"], "email": {"recipients_email": ["a@example.com"]}}],
        max_parallelism=7,
        overwrite_cache=True,
        envs={"MODE": "fast"},
        tags=["nightly", "v2"],
        interruptible=False,
        cluster_pool="gpu",
    ),
    "disabled_notifications": ExecutionOptions(disable_notifications=True, interruptible=True),
}


@pytest.mark.parametrize("name", OPTION_SETS)
def test_spec_equals_flytekit_s(name: str) -> None:
    options = OPTION_SETS[name]
    assert execution_spec(LP_ID, options) == flytekit_spec(options)


def _simple(kind: int) -> types_pb2.LiteralType:
    return types_pb2.LiteralType(simple=kind)


PLAIN_CASES = [
    (5, _simple(types_pb2.INTEGER)),
    (5, _simple(types_pb2.FLOAT)),
    (0.66, _simple(types_pb2.FLOAT)),
    ("abc", _simple(types_pb2.STRING)),
    (True, _simple(types_pb2.BOOLEAN)),
    ([1, 2, 3], types_pb2.LiteralType(collection_type=_simple(types_pb2.INTEGER))),
    ({"a": "x"}, types_pb2.LiteralType(map_value_type=_simple(types_pb2.STRING))),
    (
        [{"a": [1.5]}],
        types_pb2.LiteralType(
            collection_type=types_pb2.LiteralType(
                map_value_type=types_pb2.LiteralType(collection_type=_simple(types_pb2.FLOAT))
            )
        ),
    ),
]


@pytest.mark.parametrize(("value", "literal_type"), PLAIN_CASES)
def test_plain_literals_equal_flytekit_s(value: Any, literal_type: types_pb2.LiteralType) -> None:
    widened = float(value) if literal_type.simple == types_pb2.FLOAT and type(value) is int else value
    expected = to_literal(widened, LiteralType.from_flyte_idl(literal_type)).to_flyte_idl()
    assert plain_literal(value, literal_type) == expected


@pytest.mark.parametrize(
    ("value", "literal_type"),
    [
        ("5", _simple(types_pb2.INTEGER)),  # flytekit decides whether and how to coerce
        (True, _simple(types_pb2.INTEGER)),
        (None, _simple(types_pb2.STRING)),
        ((1, 2), types_pb2.LiteralType(collection_type=_simple(types_pb2.INTEGER))),
        ("x", types_pb2.LiteralType(union_type=types_pb2.UnionType(variants=[_simple(types_pb2.STRING)]))),
        ("s3://b/f", types_pb2.LiteralType(blob=types_pb2.BlobType())),
    ],
)
def test_anything_else_goes_to_flytekit(value: Any, literal_type: types_pb2.LiteralType) -> None:
    with pytest.raises(NeedsFlytekit):
        plain_literal(value, literal_type)
