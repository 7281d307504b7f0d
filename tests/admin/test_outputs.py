"""The trigger's output decoding gives exactly what the worker (flytekit) returns, or refuses."""

from __future__ import annotations

import datetime
from typing import Any

import msgpack
import pytest
from flyteidl.admin import execution_pb2
from flyteidl.core import literals_pb2
from flytekit.models.literals import LiteralMap
from google.protobuf import struct_pb2

from flyte_async_provider.admin.outputs import NotPlainOutputs, plain_outputs
from flyte_async_provider.spec.values import literal_map_to_plain


def _p(**kw: Any) -> literals_pb2.Literal:
    return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(**kw)))


def _response(literals: dict[str, literals_pb2.Literal]) -> execution_pb2.WorkflowExecutionGetDataResponse:
    return execution_pb2.WorkflowExecutionGetDataResponse(
        full_outputs=literals_pb2.LiteralMap(literals=literals)
    )


PLAIN = {
    "n": _p(integer=42),
    "x": _p(float_value=0.25),
    "s": _p(string_value="model-v3"),
    "ok": _p(boolean=True),
    "nothing": literals_pb2.Literal(scalar=literals_pb2.Scalar(none_type=literals_pb2.Void())),
    "scores": literals_pb2.Literal(
        collection=literals_pb2.LiteralCollection(literals=[_p(float_value=1.5)] * 2)
    ),
    "by_name": literals_pb2.Literal(map=literals_pb2.LiteralMap(literals={"a": _p(integer=1)})),
    "maybe": literals_pb2.Literal(
        scalar=literals_pb2.Scalar(union=literals_pb2.Union(value=_p(string_value="picked")))
    ),
    "model": literals_pb2.Literal(
        scalar=literals_pb2.Scalar(blob=literals_pb2.Blob(uri="s3://bucket/model.bin"))
    ),
    "struct": literals_pb2.Literal(
        scalar=literals_pb2.Scalar(generic=struct_pb2.Struct(fields={"k": struct_pb2.Value(number_value=2)}))
    ),
    "dataclass": literals_pb2.Literal(
        scalar=literals_pb2.Scalar(
            binary=literals_pb2.Binary(value=msgpack.dumps({"lr": 0.1, "layers": [3, 4]}), tag="msgpack")
        )
    ),
}


def test_plain_outputs_match_what_the_worker_returns() -> None:
    response = _response(PLAIN)
    worker = literal_map_to_plain(LiteralMap.from_flyte_idl(response.full_outputs))
    assert plain_outputs(response) == worker
    assert plain_outputs(response)["dataclass"] == {"lr": 0.1, "layers": [3, 4]}


def test_no_outputs_is_an_empty_dict() -> None:
    assert plain_outputs(execution_pb2.WorkflowExecutionGetDataResponse()) == {}


@pytest.mark.parametrize(
    "literal",
    [
        pytest.param(_p(datetime=None), id="datetime"),
        pytest.param(_p(float_value=float("nan")), id="nan"),
        pytest.param(
            literals_pb2.Literal(
                scalar=literals_pb2.Scalar(
                    binary=literals_pb2.Binary(value=msgpack.dumps(b"raw"), tag="msgpack")
                )
            ),
            id="bytes",
        ),
    ],
)
def test_values_that_are_not_json_resume_on_a_worker(literal: literals_pb2.Literal) -> None:
    if (
        literal.scalar.primitive.WhichOneof("value") is None
        and literal.scalar.WhichOneof("value") == "primitive"
    ):
        literal.scalar.primitive.datetime.FromDatetime(datetime.datetime(2026, 1, 1))
    with pytest.raises(NotPlainOutputs):
        plain_outputs(_response({"out": literal}))


def test_offloaded_outputs_resume_on_a_worker() -> None:
    response = execution_pb2.WorkflowExecutionGetDataResponse()
    response.outputs.url = "s3://bucket/outputs.pb"
    with pytest.raises(NotPlainOutputs, match="offloaded"):
        plain_outputs(response)
