"""Flyte literals: check an input against its declared type, and make outputs for an interface.

A simplified version of flytepropeller's castability rules: exact simple types, element-wise
collections and maps, unions by variant, blobs/datasets/structs by kind. Exotic combinations pass.
"""

from __future__ import annotations

import time
from typing import Any

from flyteidl.admin import launch_plan_pb2
from flyteidl.core import literals_pb2, types_pb2
from google.protobuf import struct_pb2

from .errors import InvalidArgument

_PRIMITIVE_TO_SIMPLE = {
    "integer": types_pb2.INTEGER,
    "float_value": types_pb2.FLOAT,
    "string_value": types_pb2.STRING,
    "boolean": types_pb2.BOOLEAN,
    "datetime": types_pb2.DATETIME,
    "duration": types_pb2.DURATION,
}


def describe_type(lt: types_pb2.LiteralType) -> str:
    """A short human name for a literal type, used in error messages."""
    kind = lt.WhichOneof("type")
    if kind == "simple":
        return str(types_pb2.SimpleType.Name(lt.simple))
    if kind == "collection_type":
        return f"list[{describe_type(lt.collection_type)}]"
    if kind == "map_value_type":
        return f"dict[str, {describe_type(lt.map_value_type)}]"
    if kind == "union_type":
        return "union[" + ", ".join(describe_type(v) for v in lt.union_type.variants) + "]"
    if kind == "enum_type":
        return "enum[" + ", ".join(lt.enum_type.values) + "]"
    return kind or "UNKNOWN"


def describe_literal(lit: literals_pb2.Literal) -> str:
    """A short human name for the type a literal carries."""
    kind = lit.WhichOneof("value")
    if kind == "scalar":
        skind = lit.scalar.WhichOneof("value")
        if skind == "primitive":
            pkind = lit.scalar.primitive.WhichOneof("value")
            return types_pb2.SimpleType.Name(_PRIMITIVE_TO_SIMPLE[pkind]) if pkind else "NONE"
        if skind == "none_type":
            return "NONE"
        if skind == "union":
            return describe_literal(lit.scalar.union.value)
        return skind or "UNKNOWN"
    if kind == "collection":
        inner = {describe_literal(item) for item in lit.collection.literals}
        return f"list[{', '.join(sorted(inner)) or 'NONE'}]"
    if kind == "map":
        inner = {describe_literal(item) for item in lit.map.literals.values()}
        return f"dict[str, {', '.join(sorted(inner)) or 'NONE'}]"
    return kind or "UNKNOWN"


def literal_matches(lit: literals_pb2.Literal, lt: types_pb2.LiteralType) -> bool:
    """True when ``lit`` may be passed where ``lt`` is expected."""
    tkind = lt.WhichOneof("type")
    if tkind is None:
        return True
    if tkind == "union_type":
        value = lit
        if lit.WhichOneof("value") == "scalar" and lit.scalar.WhichOneof("value") == "union":
            value = lit.scalar.union.value
        return any(literal_matches(value, variant) for variant in lt.union_type.variants)
    kind = lit.WhichOneof("value")
    if kind == "collection":
        return tkind == "collection_type" and all(
            literal_matches(item, lt.collection_type) for item in lit.collection.literals
        )
    if kind == "map":
        if tkind == "simple" and lt.simple == types_pb2.STRUCT:
            return True
        return tkind == "map_value_type" and all(
            literal_matches(item, lt.map_value_type) for item in lit.map.literals.values()
        )
    if kind != "scalar":
        return True  # offloaded literals: not checked
    return _scalar_matches(lit.scalar, lt, tkind)


def _scalar_matches(scalar: literals_pb2.Scalar, lt: types_pb2.LiteralType, tkind: str) -> bool:
    skind = scalar.WhichOneof("value")
    if skind == "primitive":
        pkind = scalar.primitive.WhichOneof("value")
        if tkind == "enum_type":
            return pkind == "string_value" and scalar.primitive.string_value in lt.enum_type.values
        return tkind == "simple" and pkind is not None and _PRIMITIVE_TO_SIMPLE[pkind] == lt.simple
    if skind == "none_type":
        return tkind == "simple" and lt.simple == types_pb2.NONE
    if skind == "union":
        return literal_matches(scalar.union.value, lt)
    if skind == "blob":
        return tkind == "blob"
    if skind in ("generic", "binary"):
        return tkind == "simple" and lt.simple in (types_pb2.STRUCT, types_pb2.BINARY)
    if skind == "structured_dataset":
        return tkind == "structured_dataset_type"
    if skind == "schema":
        return tkind == "schema"
    if skind == "error":
        return tkind == "simple" and lt.simple == types_pb2.ERROR
    return True


def default_literal(lt: types_pb2.LiteralType, uri_prefix: str) -> literals_pb2.Literal:
    """A plausible value of type ``lt`` (what a successful emulated run 'produced')."""
    tkind = lt.WhichOneof("type")
    if tkind == "simple":
        return _default_simple(lt.simple)
    if tkind == "collection_type":
        return literals_pb2.Literal(collection=literals_pb2.LiteralCollection())
    if tkind == "map_value_type":
        return literals_pb2.Literal(map=literals_pb2.LiteralMap())
    if tkind == "union_type" and lt.union_type.variants:
        variant = lt.union_type.variants[0]
        return literals_pb2.Literal(
            scalar=literals_pb2.Scalar(
                union=literals_pb2.Union(value=default_literal(variant, uri_prefix), type=variant)
            )
        )
    if tkind == "enum_type" and lt.enum_type.values:
        return _primitive(string_value=lt.enum_type.values[0])
    if tkind == "blob":
        blob = literals_pb2.Blob(metadata=literals_pb2.BlobMetadata(type=lt.blob), uri=f"{uri_prefix}/blob")
        return literals_pb2.Literal(scalar=literals_pb2.Scalar(blob=blob))
    if tkind == "structured_dataset_type":
        sd = literals_pb2.StructuredDataset(
            uri=f"{uri_prefix}/dataset",
            metadata=literals_pb2.StructuredDatasetMetadata(
                structured_dataset_type=lt.structured_dataset_type
            ),
        )
        return literals_pb2.Literal(scalar=literals_pb2.Scalar(structured_dataset=sd))
    return literals_pb2.Literal(scalar=literals_pb2.Scalar(none_type=literals_pb2.Void()))


def _default_simple(simple: int) -> literals_pb2.Literal:
    if simple == types_pb2.INTEGER:
        return _primitive(integer=0)
    if simple == types_pb2.FLOAT:
        return _primitive(float_value=0.0)
    if simple == types_pb2.STRING:
        return _primitive(string_value="")
    if simple == types_pb2.BOOLEAN:
        return _primitive(boolean=False)
    if simple == types_pb2.DATETIME:
        prim = literals_pb2.Primitive()
        prim.datetime.FromNanoseconds(time.time_ns())
        return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=prim))
    if simple == types_pb2.DURATION:
        prim = literals_pb2.Primitive()
        prim.duration.FromSeconds(0)
        return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=prim))
    if simple == types_pb2.STRUCT:
        return literals_pb2.Literal(scalar=literals_pb2.Scalar(generic=struct_pb2.Struct()))
    return literals_pb2.Literal(scalar=literals_pb2.Scalar(none_type=literals_pb2.Void()))


def _primitive(**kwargs: Any) -> literals_pb2.Literal:
    return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(**kwargs)))


def python_to_literal(value: Any, lt: types_pb2.LiteralType | None = None) -> literals_pb2.Literal:
    """Plain JSON-like Python values to a literal, guided by the declared type when known."""
    tkind = lt.WhichOneof("type") if lt is not None else None
    if lt is not None and tkind == "union_type":
        for variant in lt.union_type.variants:
            candidate = python_to_literal(value, variant)
            if literal_matches(candidate, variant):
                return literals_pb2.Literal(
                    scalar=literals_pb2.Scalar(union=literals_pb2.Union(value=candidate, type=variant))
                )
    if value is None:
        return literals_pb2.Literal(scalar=literals_pb2.Scalar(none_type=literals_pb2.Void()))
    if isinstance(value, bool):
        return _primitive(boolean=value)
    if isinstance(value, int) and not (lt is not None and tkind == "simple" and lt.simple == types_pb2.FLOAT):
        return _primitive(integer=value)
    if isinstance(value, (int, float)):
        return _primitive(float_value=float(value))
    if isinstance(value, str):
        return _primitive(string_value=value)
    if isinstance(value, (list, tuple)):
        inner = lt.collection_type if lt is not None and tkind == "collection_type" else None
        items = [python_to_literal(v, inner) for v in value]
        return literals_pb2.Literal(collection=literals_pb2.LiteralCollection(literals=items))
    if isinstance(value, dict):
        if lt is not None and tkind == "simple" and lt.simple == types_pb2.STRUCT:
            struct = struct_pb2.Struct()
            struct.update(value)
            return literals_pb2.Literal(scalar=literals_pb2.Scalar(generic=struct))
        inner = lt.map_value_type if lt is not None and tkind == "map_value_type" else None
        lits = {str(k): python_to_literal(v, inner) for k, v in value.items()}
        return literals_pb2.Literal(map=literals_pb2.LiteralMap(literals=lits))
    raise TypeError(f"cannot express {type(value).__name__} as a Flyte literal")


def check_inputs(
    user_inputs: literals_pb2.LiteralMap, lp: launch_plan_pb2.LaunchPlan
) -> literals_pb2.LiteralMap:
    """flyteadmin's CheckAndFetchInputsForExecution: unknown, missing, wrong type; defaults; fixed inputs."""
    expected = lp.closure.expected_inputs.parameters
    for name in user_inputs.literals:
        if name not in expected:
            raise InvalidArgument(f"invalid input {name}")
    result = literals_pb2.LiteralMap()
    for name, param in expected.items():
        if name in user_inputs.literals:
            lit = user_inputs.literals[name]
            if not literal_matches(lit, param.var.type):
                raise InvalidArgument(
                    f"invalid {name} input wrong type. Expected {describe_type(param.var.type)}, "
                    f"but got {describe_literal(lit)}"
                )
            result.literals[name].CopyFrom(lit)
        elif param.required:
            raise InvalidArgument(f"expected_inputs {name} missing")
        else:
            result.literals[name].CopyFrom(param.default)
    for name, lit in lp.spec.fixed_inputs.literals.items():
        if name in result.literals:
            raise InvalidArgument(f"fixed_inputs {name} cannot be overridden")
        result.literals[name].CopyFrom(lit)
    return result
