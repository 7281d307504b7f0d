"""The standard gRPC health service (``grpc.health.v1.Health``: Check and Watch), as flyteadmin serves it.

flyteadmin registers grpc-go's health server with the empty service name and ``flyteadmin`` SERVING;
another service name is NOT_FOUND. The two messages are declared here from the public health.proto
(in a private descriptor pool, so a process that also imports ``grpc_health`` sees no duplicate
symbols) instead of adding grpcio-health-checking as a runtime dependency of an Airflow provider for
a two-message service; the tests check the wire format with that package's own stub.
Health needs no token (probes send none); Check is counted and fault-injected like every other RPC
(an outage fails it too); Watch is counted and fails in an outage, but gets no added latency.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from .errors import NotFound
from .faults import Faults

HEALTH_SERVICE = "grpc.health.v1.Health"
SERVED = ("", "flyteadmin")
SERVING, SERVICE_UNKNOWN = 1, 3  # HealthCheckResponse.ServingStatus


def _message_classes() -> tuple[type[Any], type[Any]]:
    proto = descriptor_pb2.FileDescriptorProto(name="grpc/health/v1/health.proto", package="grpc.health.v1")
    proto.syntax = "proto3"
    request = proto.message_type.add(name="HealthCheckRequest")
    request.field.add(name="service", number=1, type=9, label=1)  # string, optional
    response = proto.message_type.add(name="HealthCheckResponse")
    status = response.enum_type.add(name="ServingStatus")
    for name, number in (("UNKNOWN", 0), ("SERVING", 1), ("NOT_SERVING", 2), ("SERVICE_UNKNOWN", 3)):
        status.value.add(name=name, number=number)
    response.field.add(
        name="status",
        number=1,
        type=14,  # enum
        label=1,
        type_name=".grpc.health.v1.HealthCheckResponse.ServingStatus",
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName("grpc.health.v1.HealthCheckRequest")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName("grpc.health.v1.HealthCheckResponse")),
    )


HealthCheckRequest, HealthCheckResponse = _message_classes()


def check(request: Any, principal: str) -> Any:
    """Check, for the dispatcher (counted and fault-injected like every emulator RPC)."""
    if request.service not in SERVED:
        raise NotFound("unknown service")
    return HealthCheckResponse(status=SERVING)


Handler = Callable[[Any, "grpc.aio.ServicerContext[Any, Any]"], Awaitable[Any]]


def build_health_handler(check_handler: Handler, faults: Faults) -> grpc.GenericRpcHandler:
    """``check_handler``: ``check`` wrapped by the dispatcher; Watch counts and fails with ``faults``."""

    async def watch(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        _, injected = faults.on_call("Watch")
        if injected is not None:
            await context.abort(grpc.StatusCode[injected.code], injected.message)
        faults.on_success("Watch")
        # grpc-go answers SERVICE_UNKNOWN (not an error) for an unknown service, then waits for changes.
        yield HealthCheckResponse(status=SERVING if request.service in SERVED else SERVICE_UNKNOWN)
        await asyncio.Event().wait()  # the status never changes; the client or shutdown ends the stream

    return grpc.method_handlers_generic_handler(
        HEALTH_SERVICE,
        {
            "Check": grpc.unary_unary_rpc_method_handler(
                check_handler,
                request_deserializer=HealthCheckRequest.FromString,
                response_serializer=HealthCheckResponse.SerializeToString,
            ),
            "Watch": grpc.unary_stream_rpc_method_handler(
                watch,
                request_deserializer=HealthCheckRequest.FromString,
                response_serializer=HealthCheckResponse.SerializeToString,
            ),
        },
    )


__all__ = ["HEALTH_SERVICE", "HealthCheckRequest", "HealthCheckResponse", "build_health_handler", "check"]
