"""Inputs checked against a Flyte interface before CreateExecution, and outputs made XCom-friendly.

Input *conversion* stays flytekit's (``FlyteRemote.execute`` runs its TypeEngine); this module only
finds every problem up front and names the input: unknown names, fixed launch-plan inputs, missing
required inputs, and values flytekit cannot convert (a dry run of flytekit's own conversion for
types that convert without side effects, i.e. no file/dataset uploads).

Outputs become plain JSON-like values (blobs and datasets as their URIs) so they can go to XCom
without pulling data into the worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flyte_async_provider.exceptions import FlyteConfigError

_SIMPLE_FLOAT = 2  # flyteidl.core.types_pb2.SimpleType.FLOAT


def has_side_effects(literal_type: Any) -> bool:
    """True if converting a value of this type may upload data (files, directories, datasets)."""
    if literal_type is None:
        return False
    if (
        getattr(literal_type, "blob", None) is not None
        or getattr(literal_type, "structured_dataset_type", None) is not None
        or getattr(literal_type, "schema", None) is not None
    ):
        return True
    for inner in (
        getattr(literal_type, "collection_type", None),
        getattr(literal_type, "map_value_type", None),
    ):
        if inner is not None and has_side_effects(inner):
            return True
    union = getattr(literal_type, "union_type", None)
    return bool(union is not None and any(has_side_effects(v) for v in union.variants))


def _widen(value: Any, literal_type: Any) -> Any:
    """Accept an int where Flyte wants a float (flytekit rejects 5 for a float input)."""
    if getattr(literal_type, "simple", None) == _SIMPLE_FLOAT and type(value) is int:
        return float(value)
    return value


def to_literal(value: Any, literal_type: Any) -> Any:
    """flytekit's ``Literal`` for ``value``, converted exactly as ``FlyteRemote.execute`` converts it."""
    from flytekit.core.context_manager import FlyteContextManager
    from flytekit.core.type_engine import TypeEngine, strict_type_hint_matching
    from flytekit.models.literals import Literal

    if isinstance(value, Literal):
        return value
    try:
        hint = strict_type_hint_matching(value, literal_type)
    except ValueError:
        hint = TypeEngine.guess_python_type(literal_type)
    return TypeEngine.to_literal(FlyteContextManager.current_context(), value, hint, literal_type)


def _dry_run(value: Any, literal_type: Any) -> str | None:
    """Convert as ``FlyteRemote.execute`` will; return the error text if any."""
    try:
        to_literal(value, literal_type)
    except Exception as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def name_problems(
    interface_inputs: Mapping[str, Any], inputs: Mapping[str, Any], *, required: set[str], fixed: set[str]
) -> list[str]:
    """Unknown, launch-plan-fixed and missing input names (checks that need no type conversion)."""
    if not isinstance(inputs, Mapping) or not all(isinstance(k, str) for k in inputs):
        raise FlyteConfigError(f"inputs must be a dict keyed by input name, got {inputs!r}.")
    problems: list[str] = []
    unknown = sorted(set(inputs) - set(interface_inputs))
    if unknown:
        problems.append(f"unknown input(s) {unknown} (known: {sorted(interface_inputs)})")
    overridden = sorted(set(inputs) & fixed)
    if overridden:
        problems.append(f"input(s) {overridden} are fixed by the launch plan and cannot be set")
    missing = sorted(required - set(inputs) - fixed)
    if missing:
        problems.append(f"missing required input(s) {missing}")
    return problems


def raise_bad_inputs(what: str, problems: list[str]) -> None:
    """One :class:`FlyteConfigError` listing every problem, so a user fixes them in one go."""
    raise FlyteConfigError(f"Bad inputs for {what}: " + "; ".join(problems) + ". Nothing was submitted.")


def check_inputs(
    what: str,
    interface_inputs: Mapping[str, Any],
    inputs: Mapping[str, Any],
    *,
    required: set[str],
    fixed: set[str],
) -> dict[str, Any]:
    """Validate ``inputs`` for ``what`` (e.g. "launch plan x v1"); return them ready for flytekit."""
    problems = name_problems(interface_inputs, inputs, required=required, fixed=fixed)
    prepared: dict[str, Any] = {}
    for name, value in inputs.items():
        variable = interface_inputs.get(name)
        if variable is None:
            continue
        value = _widen(value, variable.type)
        prepared[name] = value
        if not has_side_effects(variable.type):
            error = _dry_run(value, variable.type)
            if error:
                problems.append(f"input {name!r}={value!r} does not fit its Flyte type: {error}")
    if problems:
        raise_bad_inputs(what, problems)
    return prepared


def literal_to_plain(literal: Any) -> Any:
    """A flytekit ``Literal`` model as a plain value: primitives, lists, dicts, URIs for data."""
    if literal is None:
        return None
    if literal.collection is not None:
        return [literal_to_plain(x) for x in literal.collection.literals]
    if literal.map is not None:
        return {k: literal_to_plain(v) for k, v in literal.map.literals.items()}
    offloaded = getattr(literal, "offloaded_metadata", None)
    if offloaded is not None:
        return offloaded.uri
    scalar = literal.scalar
    if scalar is None:
        return None
    if scalar.primitive is not None:
        return scalar.primitive.value
    if scalar.union is not None:
        return literal_to_plain(scalar.union.value)
    if scalar.blob is not None:
        return scalar.blob.uri
    if scalar.structured_dataset is not None:
        return scalar.structured_dataset.uri
    if scalar.schema is not None:
        return scalar.schema.uri
    if scalar.generic is not None:
        from google.protobuf.json_format import MessageToDict

        return MessageToDict(scalar.generic)
    if scalar.binary is not None:
        return _binary_to_plain(scalar.binary)
    if scalar.error is not None:
        return scalar.error.message
    return None


def _binary_to_plain(binary: Any) -> Any:
    if binary.tag == "msgpack":
        import msgpack  # type: ignore[import-untyped]

        return msgpack.loads(binary.value, strict_map_key=False)
    return binary.value


def literal_map_to_plain(literal_map: Any) -> dict[str, Any]:
    """Outputs (a flytekit ``LiteralMap``) as ``{name: plain value}``."""
    return {name: literal_to_plain(lit) for name, lit in literal_map.literals.items()}
