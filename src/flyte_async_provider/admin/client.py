"""AsyncAdminClient: the few Flyte Admin RPCs the watch path needs, over the shared channel.

Every call gets a deadline, the connection's auth metadata, the endpoint's rate/in-flight caps, and
retries with exponential backoff and full jitter on UNAVAILABLE, DEADLINE_EXCEEDED and
RESOURCE_EXHAUSTED only (flytekit re-sends more; a watch must not turn a NOT_FOUND into a minute of
retries). On UNAUTHENTICATED the token is dropped and the call re-sent once with a fresh one.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flyte_async_provider.admin._loops import LoopLocal
from flyte_async_provider.admin.auth import get_token_source
from flyte_async_provider.admin.channels import get_channel
from flyte_async_provider.admin.errors import code_name, translate_rpc_error
from flyte_async_provider.admin.limits import get_limiter
from flyte_async_provider.admin.models import ExecutionStatus
from flyte_async_provider.exceptions import FlyteAdminError, FlyteTransientError, ended_before_terminate
from flyte_async_provider.tls_mismatch import mismatch_error

if TYPE_CHECKING:
    from flyte_async_provider.config import FlyteConnectionConfig

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries of transient failures: ``attempts`` in total, full-jitter backoff between."""

    attempts: int = 4
    initial_backoff: float = 0.2
    max_backoff: float = 5.0
    multiplier: float = 2.0

    def delay(self, retry: int) -> float:
        """Sleep before retry number ``retry`` (0-based): uniform in [0, capped exponential]."""
        return random.uniform(0.0, min(self.max_backoff, self.initial_backoff * self.multiplier**retry))


DEFAULT_RETRY = RetryPolicy()
NO_RETRY = RetryPolicy(attempts=1)


class AsyncAdminClient:
    """Flyte Admin calls for one connection on the running loop; get it from :func:`get_admin_client`."""

    def __init__(
        self,
        config: FlyteConnectionConfig,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self.config = config
        self.timeout = timeout
        self.retry = retry
        self._auth = get_token_source(config)
        self._limiter = get_limiter(
            config.endpoint, config.max_admin_calls_per_second, config.max_admin_calls_in_flight
        )
        self._stub: Any = None
        self._messages: Any = None

    async def _ready(self) -> Any:
        if self._stub is None:
            try:
                channel = await get_channel(self.config)
            except FlyteTransientError as exc:  # insecure_skip_verify fetching a plaintext server's cert
                raise (await mismatch_error(self.config, exc)) or exc from None
            from flyteidl.admin import common_pb2, execution_pb2
            from flyteidl.core import identifier_pb2
            from flyteidl.service.admin_pb2_grpc import AdminServiceStub

            self._messages = (common_pb2, execution_pb2, identifier_pb2)
            self._stub = AdminServiceStub(channel)
        return self._stub

    async def call(
        self, rpc: str, request: Any, *, timeout: float | None = None, retry: RetryPolicy | None = None
    ) -> Any:
        """Send one unary AdminService RPC with deadline, auth, caps and retries; typed errors out."""
        import grpc.aio

        method = getattr(await self._ready(), rpc)
        policy = retry or self.retry
        deadline = timeout or self.timeout
        failures = 0
        reauthenticated = False
        while True:
            metadata: tuple[tuple[str, str], ...] = ()
            try:
                metadata = await self._auth.call_metadata()
                async with self._limiter:
                    return await method(request, timeout=deadline, metadata=metadata)
            except grpc.aio.AioRpcError as exc:
                unauthenticated = code_name(exc) == "UNAUTHENTICATED"
                if unauthenticated and not reauthenticated and self._auth.invalidate(metadata):
                    reauthenticated = True
                    continue
                error: FlyteAdminError = translate_rpc_error(exc, rpc)
            except FlyteTransientError as exc:  # token endpoint or discovery temporarily down
                error = exc
            if failures == 0 and (mismatch := await mismatch_error(self.config, error)) is not None:
                raise mismatch from None  # a wrong "insecure" setting: no retry can fix it
            failures += 1
            if not error.retryable or failures >= policy.attempts:
                raise error from None
            await asyncio.sleep(policy.delay(failures - 1))

    def _execution_id(self, project: str, domain: str, name: str) -> Any:
        return self._messages[2].WorkflowExecutionIdentifier(project=project, domain=domain, name=name)

    async def get_execution_proto(
        self,
        project: str,
        domain: str,
        name: str,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> Any:
        """The full flyteidl ``admin.Execution``."""
        await self._ready()
        request = self._messages[1].WorkflowExecutionGetRequest(id=self._execution_id(project, domain, name))
        return await self.call("GetExecution", request, timeout=timeout, retry=retry)

    async def get_execution(
        self,
        project: str,
        domain: str,
        name: str,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> ExecutionStatus:
        """Current status of one execution (raises FlyteNotFoundError if it does not exist)."""
        execution = await self.get_execution_proto(project, domain, name, timeout=timeout, retry=retry)
        return ExecutionStatus.from_proto(execution)

    async def list_executions_proto(
        self,
        project: str,
        domain: str,
        *,
        filters: str = "",
        limit: int = 100,
        token: str = "",
        sort_by: str | None = None,
        descending: bool = True,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> Any:
        """The raw flyteidl ``admin.ExecutionList`` (Flyte adds ``state=ACTIVE`` to ``filters``)."""
        await self._ready()
        common = self._messages[0]
        request = common.ResourceListRequest(
            id=common.NamedEntityIdentifier(project=project, domain=domain),
            filters=filters,
            limit=limit,
            token=token,
        )
        if sort_by:
            direction = common.Sort.DESCENDING if descending else common.Sort.ASCENDING
            request.sort_by.CopyFrom(common.Sort(key=sort_by, direction=direction))
        return await self.call("ListExecutions", request, timeout=timeout, retry=retry)

    async def list_executions(
        self,
        project: str,
        domain: str,
        *,
        filters: str = "",
        limit: int = 100,
        token: str = "",
        sort_by: str | None = None,
        descending: bool = True,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> tuple[list[ExecutionStatus], str]:
        """One page of statuses and the next page token ("" when this was the last page).

        Lists cut Flyte error messages to 100 bytes: use :meth:`get_execution` for the full text.
        """
        page = await self.list_executions_proto(
            project,
            domain,
            filters=filters,
            limit=limit,
            token=token,
            sort_by=sort_by,
            descending=descending,
            timeout=timeout,
            retry=retry,
        )
        return [ExecutionStatus.from_proto(e) for e in page.executions], page.token

    async def terminate_execution(
        self,
        project: str,
        domain: str,
        name: str,
        cause: str,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> bool:
        """Ask Flyte to abort the execution; False if it had already ended (see ended_before_terminate)."""
        await self._ready()
        request = self._messages[1].ExecutionTerminateRequest(
            id=self._execution_id(project, domain, name), cause=cause
        )
        try:
            await self.call("TerminateExecution", request, timeout=timeout, retry=retry)
        except FlyteAdminError as exc:
            if ended_before_terminate(exc):
                return False
            raise
        return True

    async def get_execution_data(
        self,
        project: str,
        domain: str,
        name: str,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> Any:
        """The raw ``WorkflowExecutionGetDataResponse`` (output/input URLs and inline literals)."""
        await self._ready()
        request = self._messages[1].WorkflowExecutionGetDataRequest(
            id=self._execution_id(project, domain, name)
        )
        return await self.call("GetExecutionData", request, timeout=timeout, retry=retry)


_clients: LoopLocal[str, AsyncAdminClient] = LoopLocal()


def get_admin_client(config: FlyteConnectionConfig) -> AsyncAdminClient:
    """The client shared by every caller of ``config.channel_key`` on the running loop."""
    client = _clients.get_or_create(config.channel_key, lambda: AsyncAdminClient(config))
    if config is not client.config:  # same identity, maybe a stricter cap: tighten the shared limiter
        get_limiter(config.endpoint, config.max_admin_calls_per_second, config.max_admin_calls_in_flight)
    return client


def forget_clients() -> None:
    """Drop the running loop's clients (after their channels were closed)."""
    _clients.clear_current()
