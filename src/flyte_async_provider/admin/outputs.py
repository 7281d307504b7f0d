"""Decode an execution's outputs on the triggerer, without flytekit, when they are plain values.

``FlyteOperator(fetch_outputs=True)`` returns the outputs as plain values. The worker gets them through
flytekit (which can also download offloaded outputs); the trigger, which must not import flytekit on
the event loop, decodes the inline ``full_outputs`` protobuf itself when every output is a plain
literal. The rule is the worker's own (``spec.values.literal_to_plain``): the same literal gives the
same value on both paths. Anything the trigger cannot decode exactly (offloaded outputs, datetimes
and durations, which are not JSON values) raises :class:`NotPlainOutputs`, and the task resumes on a
worker as before.
"""

from __future__ import annotations

import math
from typing import Any


class NotPlainOutputs(Exception):
    """The outputs need flytekit (or are not JSON values): resume the task on a worker instead."""


def plain_outputs(data: Any) -> dict[str, Any]:
    """``{name: value}`` from a ``WorkflowExecutionGetDataResponse``; :class:`NotPlainOutputs` if unsure."""
    if data.HasField("full_outputs"):
        return {name: plain_literal(lit) for name, lit in data.full_outputs.literals.items()}
    if data.HasField("outputs") and data.outputs.url:
        raise NotPlainOutputs("the outputs are offloaded to blob storage (only flytekit can read them)")
    return {}


def plain_literal(lit: Any) -> Any:
    """One ``core.Literal`` as a JSON value, as the worker would return it."""
    kind = lit.WhichOneof("value")
    if kind == "collection":
        return [plain_literal(item) for item in lit.collection.literals]
    if kind == "map":
        return {key: plain_literal(value) for key, value in lit.map.literals.items()}
    if kind == "offloaded_metadata":
        return lit.offloaded_metadata.uri
    if kind == "scalar":
        return _plain_scalar(lit.scalar)
    raise NotPlainOutputs(f"literal kind {kind!r}")


def _plain_scalar(scalar: Any) -> Any:
    kind = scalar.WhichOneof("value")
    if kind == "primitive":
        primitive = scalar.primitive
        which = primitive.WhichOneof("value")
        if which in ("integer", "string_value", "boolean"):
            return getattr(primitive, which)
        if which == "float_value":
            value = primitive.float_value
            if not math.isfinite(value):
                raise NotPlainOutputs(f"float {value} is not a JSON value")
            return value
        raise NotPlainOutputs(f"primitive {which!r} is not a JSON value")
    if kind == "none_type":
        return None
    if kind == "union":
        return plain_literal(scalar.union.value)
    if kind in ("blob", "structured_dataset", "schema"):
        return getattr(scalar, kind).uri
    if kind == "generic":
        from google.protobuf.json_format import MessageToDict

        return MessageToDict(scalar.generic)
    if kind == "binary" and scalar.binary.tag == "msgpack":
        import msgpack  # type: ignore[import-untyped]

        return _json_value(msgpack.loads(scalar.binary.value, strict_map_key=False))
    if kind == "error":
        return scalar.error.message
    raise NotPlainOutputs(f"scalar kind {kind!r}")


def _json_value(value: Any) -> Any:
    """``value`` if it is made of JSON types only (msgpack may carry bytes or non-string keys)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _json_value(v) for k, v in value.items()}
    raise NotPlainOutputs(f"msgpack value of type {type(value).__name__} is not a JSON value")
