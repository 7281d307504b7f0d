"""Inputs are checked against the Flyte interface before CreateExecution; outputs come back plain."""

from __future__ import annotations

import datetime
from typing import Any

import msgpack
import pytest
from flytekit.models import literals as lm
from flytekit.models.core.types import BlobType
from flytekit.models.interface import Variable
from flytekit.models.types import LiteralType, SimpleType
from google.protobuf.struct_pb2 import Struct

from flyte_async_provider.exceptions import FlyteConfigError
from flyte_async_provider.spec.values import check_inputs, literal_map_to_plain, literal_to_plain

FLOAT = Variable(LiteralType(simple=SimpleType.FLOAT), "ratio")
INT = Variable(LiteralType(simple=SimpleType.INTEGER), "seed")
INTS = Variable(LiteralType(collection_type=LiteralType(simple=SimpleType.INTEGER)), "seeds")
FILE = Variable(LiteralType(blob=BlobType("csv", BlobType.BlobDimensionality.SINGLE)), "data")
INTERFACE = {"test_split_ratio": FLOAT, "seed": INT, "seeds": INTS, "data": FILE}


def _check(
    inputs: dict[str, Any], required: set[str] | None = None, fixed: set[str] | None = None
) -> dict[str, Any]:
    return check_inputs(
        "launch plan lp (version v1)", INTERFACE, inputs, required=required or set(), fixed=fixed or set()
    )


def test_good_inputs_pass_and_ints_widen_to_float() -> None:
    prepared = _check({"test_split_ratio": 1, "seed": 5, "seeds": [1, 2]}, required={"seed"})
    assert prepared == {"test_split_ratio": 1.0, "seed": 5, "seeds": [1, 2]}
    assert type(prepared["test_split_ratio"]) is float


def test_every_problem_is_named_in_one_error() -> None:
    with pytest.raises(FlyteConfigError) as err:
        _check({"sed": 5, "test_split_ratio": "0.5", "seeds": [1, "x"]}, required={"seed"})
    text = str(err.value)
    assert "unknown input(s) ['sed']" in text
    assert "missing required input(s) ['seed']" in text
    assert "input 'test_split_ratio'='0.5'" in text
    assert "input 'seeds'" in text
    assert "Nothing was submitted" in text


def test_fixed_inputs_cannot_be_set_and_are_not_missing() -> None:
    with pytest.raises(FlyteConfigError, match="fixed by the launch plan"):
        _check({"seed": 1}, required={"seed"}, fixed={"seed"})
    assert _check({}, required={"seed"}, fixed={"seed"}) == {}


def test_side_effect_types_are_left_to_flytekit() -> None:
    # Converting a file input would upload it: no dry run, flytekit converts it at launch.
    assert _check({"data": "/does/not/exist.csv"}) == {"data": "/does/not/exist.csv"}


def test_inputs_must_be_a_dict() -> None:
    with pytest.raises(FlyteConfigError, match="inputs must be a dict"):
        _check(["seed"])  # type: ignore[arg-type]


def _prim(**kw: Any) -> lm.Literal:
    return lm.Literal(scalar=lm.Scalar(primitive=lm.Primitive(**kw)))


def test_outputs_become_plain_values() -> None:
    struct = Struct()
    struct.update({"k": "v"})
    outputs = lm.LiteralMap(
        {
            "accuracy": _prim(float_value=0.5),
            "zero": _prim(integer=0),
            "flag": _prim(boolean=False),
            "when": _prim(datetime=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)),
            "many": lm.Literal(collection=lm.LiteralCollection([_prim(integer=1), _prim(string_value="a")])),
            "by_key": lm.Literal(map=lm.LiteralMap({"x": _prim(integer=2)})),
            "model": lm.Literal(
                scalar=lm.Scalar(
                    blob=lm.Blob(
                        lm.BlobMetadata(BlobType("", BlobType.BlobDimensionality.SINGLE)), "s3://b/m"
                    )
                )
            ),
            "nothing": lm.Literal(scalar=lm.Scalar(none_type=lm.Void())),
            "generic": lm.Literal(scalar=lm.Scalar(generic=struct)),
            "dataclass": lm.Literal(
                scalar=lm.Scalar(binary=lm.Binary(msgpack.dumps({"a": 1, "b": [1.5]}), "msgpack"))
            ),
        }
    )
    assert literal_map_to_plain(outputs) == {
        "accuracy": 0.5,
        "zero": 0,
        "flag": False,
        "when": datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
        "many": [1, "a"],
        "by_key": {"x": 2},
        "model": "s3://b/m",
        "nothing": None,
        "generic": {"k": "v"},
        "dataclass": {"a": 1, "b": [1.5]},
    }
    assert literal_to_plain(None) is None
