"""The CreateExecution request as flyteidl protobufs, without flytekit.

Importing flytekit costs ~3 s of CPU, which on a LocalExecutor worker was most of a submit run's slot
time and on the triggerer stalls the first zero-worker trigger. For the common case (the inputs are
plain values of simple Flyte types) this module builds exactly the request ``FlyteRemote.execute``
sends, from the same :class:`~flyte_async_provider.spec.options.ExecutionOptions`:
tests/admin/test_requests.py compares both byte for byte. Anything else (unions, enums, datetimes,
dataclasses, files, values that need flytekit's coercions) raises :class:`NeedsFlytekit` and the
caller converts with flytekit as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flyte_async_provider.spec.options import (
    validate_notifications,
    validate_oauth2_client,
    validate_secrets,
)

if TYPE_CHECKING:
    from flyte_async_provider.spec.options import ExecutionOptions

_MOUNTS = {"ANY": 0, "ENV_VAR": 1, "FILE": 2}
_INTEGER, _FLOAT, _STRING, _BOOLEAN = 1, 2, 3, 4  # flyteidl.core.types_pb2.SimpleType


class NeedsFlytekit(Exception):
    """This value (or entity) needs flytekit's TypeEngine: convert it the ordinary way."""


def entity_interface(entity: Any) -> tuple[dict[str, Any], set[str], set[str]]:
    """``(literal type by input name, required names, fixed names)`` of a launch plan or task proto."""
    if entity.id.resource_type == 1:  # TASK
        variables = entity.closure.compiled_task.template.interface.inputs.variables
        return {n: v.type for n, v in variables.items()}, set(variables), set()
    parameters = entity.closure.expected_inputs.parameters
    interface = {n: p.var.type for n, p in parameters.items()}
    required = {n for n, p in parameters.items() if p.required}
    return interface, required, set(entity.spec.fixed_inputs.literals)


def plain_literal(value: Any, literal_type: Any) -> Any:
    """``core.Literal`` for a plain value of a simple type, as flytekit's TypeEngine builds it."""
    from flyteidl.core import literals_pb2

    kind = literal_type.WhichOneof("type")
    if kind == "simple":
        simple = literal_type.simple
        if simple == _INTEGER and type(value) is int:
            primitive = literals_pb2.Primitive(integer=value)
        elif simple == _FLOAT and type(value) in (float, int):
            primitive = literals_pb2.Primitive(float_value=float(value))  # the worker widens ints too
        elif simple == _STRING and type(value) is str:
            primitive = literals_pb2.Primitive(string_value=value)
        elif simple == _BOOLEAN and type(value) is bool:
            primitive = literals_pb2.Primitive(boolean=value)
        else:
            raise NeedsFlytekit(f"{type(value).__name__} for simple type {simple}")
        return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=primitive))
    if kind == "collection_type" and type(value) is list:
        items = [plain_literal(v, literal_type.collection_type) for v in value]
        return literals_pb2.Literal(collection=literals_pb2.LiteralCollection(literals=items))
    if kind == "map_value_type" and type(value) is dict and all(type(k) is str for k in value):
        entries = {k: plain_literal(v, literal_type.map_value_type) for k, v in value.items()}
        return literals_pb2.Literal(map=literals_pb2.LiteralMap(literals=entries))
    raise NeedsFlytekit(f"{type(value).__name__} for a {kind} input")


def execution_spec(entity_id: Any, options: ExecutionOptions) -> Any:
    """``admin.ExecutionSpec`` with the options, as ``FlyteRemote.execute`` fills it (plus our notifications).

    Notifications follow the hook's rule (hooks.flyte._notification_overrides): our list, or
    ``disable_all``, or no override so the launch plan's own apply.
    """
    from flyteidl.admin import cluster_assignment_pb2, common_pb2, execution_pb2
    from flyteidl.core import literals_pb2, security_pb2
    from google.protobuf import wrappers_pb2

    options.validate()
    spec = execution_pb2.ExecutionSpec(
        launch_plan=entity_id,
        metadata=execution_pb2.ExecutionMetadata(
            mode=execution_pb2.ExecutionMetadata.MANUAL, principal="placeholder"
        ),
    )
    # flytekit always sends these (empty when unset); so do we, byte for byte.
    spec.labels.SetInParent()
    spec.annotations.SetInParent()
    spec.auth_role.SetInParent()
    notes = validate_notifications(options.notifications)
    if notes:
        for phases, channel, recipients in notes:
            note = common_pb2.Notification(phases=list(phases))
            getattr(note, channel).recipients_email.extend(recipients)
            spec.notifications.notifications.append(note)
    elif options.disable_notifications:
        spec.disable_all = True
    if options.labels:
        spec.labels.values.update(options.labels)
    if options.annotations:
        spec.annotations.values.update(options.annotations)
    if options.raw_output_data_config:
        spec.raw_output_data_config.output_location_prefix = options.raw_output_data_config
    if options.max_parallelism:
        spec.max_parallelism = options.max_parallelism
    oauth = validate_oauth2_client(options.oauth2_client)
    secrets = validate_secrets(options.secrets)
    if options.kubernetes_service_account or oauth or secrets:
        context = security_pb2.SecurityContext(secrets=[_secret(s) for s in secrets])
        if options.kubernetes_service_account or oauth:
            context.run_as.k8s_service_account = options.kubernetes_service_account or ""
            if oauth:
                context.run_as.oauth2_client.CopyFrom(
                    security_pb2.OAuth2Client(client_id=oauth[0], client_secret=_secret(oauth[1]))
                )
        spec.security_context.CopyFrom(context)
    if options.interruptible is not None:
        spec.interruptible.CopyFrom(wrappers_pb2.BoolValue(value=options.interruptible))
    if options.overwrite_cache:
        spec.overwrite_cache = True
    if options.envs:
        spec.envs.values.extend(literals_pb2.KeyValuePair(key=k, value=v) for k, v in options.envs.items())
    if options.tags:
        spec.tags.extend(options.tags)
    if options.cluster_pool:
        spec.cluster_assignment.CopyFrom(
            cluster_assignment_pb2.ClusterAssignment(cluster_pool_name=options.cluster_pool)
        )
    return spec


def _secret(spec: Mapping[str, str]) -> Any:
    from flyteidl.core import security_pb2

    return security_pb2.Secret(
        group=spec["group"],
        key=spec.get("key", ""),
        group_version=spec.get("group_version", ""),
        mount_requirement=_MOUNTS[spec.get("mount_requirement", "ANY").upper()],
        env_var=spec.get("env_var", ""),
    )


def plain_request(
    label: str,
    entity: Any,
    *,
    project: str,
    domain: str,
    name: str,
    inputs: Mapping[str, Any],
    options: ExecutionOptions,
) -> Any:
    """``ExecutionCreateRequest`` when every input is plain; :class:`NeedsFlytekit` otherwise.

    Unknown, fixed and missing inputs raise the same :class:`FlyteConfigError` as the flytekit path.
    """
    from flyte_async_provider.spec.values import name_problems, raise_bad_inputs

    interface, required, fixed = entity_interface(entity)
    problems = name_problems(interface, inputs, required=required, fixed=fixed)
    if problems:
        raise_bad_inputs(label, problems)
    literals = {n: plain_literal(v, interface[n]) for n, v in inputs.items()}
    return create_request(
        entity, project=project, domain=domain, name=name, literals=literals, options=options
    )


def create_request(
    entity: Any,
    *,
    project: str,
    domain: str,
    name: str,
    literals: Mapping[str, Any],
    options: ExecutionOptions,
) -> Any:
    """``ExecutionCreateRequest`` of ``entity`` with converted inputs (``core.Literal`` by name)."""
    from flyteidl.admin import execution_pb2
    from flyteidl.core import literals_pb2

    return execution_pb2.ExecutionCreateRequest(
        project=project,
        domain=domain,
        name=name,
        spec=execution_spec(entity.id, options),
        inputs=literals_pb2.LiteralMap(literals=literals),
    )
