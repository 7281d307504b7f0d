"""FlyteAsyncHook: the one gateway to Flyte Admin for code that runs on an event loop.

The triggers talk to Flyte only through it, and :class:`~flyte_async_provider.hooks.flyte.FlyteHook`
runs it on a private loop for its flytekit-free reads and launches, so both paths share one client,
one batched poller and one connection parser. It only awaits, and imports grpc/flyteidl on first use:
the triggerer imports trigger modules inside its event loop.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from flyte_async_provider.config import FlyteConnectionConfig

if TYPE_CHECKING:
    from flyte_async_provider.admin import AsyncAdminClient, ExecutionStatus
    from flyte_async_provider.admin.launch import LaunchTarget
    from flyte_async_provider.spec.options import ExecutionOptions


# Imported in a thread before first use: grpc, flyteidl's ~50 proto modules and the client import in
# ~0.2-0.3 s on a busy 2-core triggerer, and on the event loop that tripped Airflow's "async thread was
# blocked" warning on the first trigger after a triggerer start.
_WIRE_MODULES = (
    "grpc.aio",
    "flyteidl.service.admin_pb2_grpc",
    "flyteidl.admin.execution_pb2",
    "flyte_async_provider.admin.client",
    "flyte_async_provider.admin.poller",
)


async def import_wire_modules() -> None:
    """Import what the admin client needs off the event loop (once per process; free afterwards)."""
    if all(name in sys.modules for name in _WIRE_MODULES):
        return
    await asyncio.to_thread(lambda: [importlib.import_module(name) for name in _WIRE_MODULES])


class FlyteAsyncHook:
    """Watch, read, terminate and launch executions of one project/domain through one connection.

    :param conn_id: Airflow connection of type ``flyte`` (looked up on first use, cached briefly).
    :param project: Flyte project; empty means the connection's ``project`` extra.
    :param domain: Flyte domain; empty means the connection's ``domain`` extra.
    :param config: an already parsed connection (the sync hook passes its own; no second lookup).
    """

    def __init__(
        self,
        conn_id: str,
        project: str | None = None,
        domain: str | None = None,
        *,
        config: FlyteConnectionConfig | None = None,
    ) -> None:
        self.conn_id = conn_id
        self.project = project or ""
        self.domain = domain or ""
        self._config = config

    @property
    def loaded_config(self) -> FlyteConnectionConfig | None:
        """The connection if it was already looked up (cancellation paths must not look it up)."""
        return self._config

    async def get_config(self) -> FlyteConnectionConfig:
        """The parsed connection; fills project/domain from its extras where they were not given."""
        if self._config is None:
            from flyte_async_provider.connections import aget_connection_config

            await import_wire_modules()
            self._config = await aget_connection_config(self.conn_id)
        self.project = self.project or self._config.project or ""
        self.domain = self.domain or self._config.domain or ""
        return self._config

    async def _client(self) -> AsyncAdminClient:
        from flyte_async_provider.admin import get_admin_client

        return get_admin_client(await self.get_config())

    async def console_url(self, name: str) -> str:
        """Flyte console URL of an execution."""
        config = await self.get_config()
        return config.console_url(self.project, self.domain, name)

    # ------------------------------------------------------------------ read
    async def watch(
        self, name: str, *, poll_interval: float, not_found_grace: float, first_read_delay: float
    ) -> AsyncGenerator[ExecutionStatus, None]:
        """Statuses of ``name`` on every phase change, through the process-wide batched poller."""
        from flyte_async_provider.admin import get_status_poller

        poller = get_status_poller(await self.get_config(), self.project, self.domain)
        watch = poller.watch(
            name,
            poll_interval=poll_interval,
            not_found_grace=not_found_grace,
            first_read_delay=first_read_delay,
        )
        async with aclosing(watch) as statuses:
            async for status in statuses:
                yield status

    async def get_execution(self, name: str) -> ExecutionStatus:
        """One read of the execution (raises FlyteNotFoundError if it does not exist)."""
        return await (await self._client()).get_execution(self.project, self.domain, name)

    async def created_at(self, name: str) -> float | None:
        """Epoch seconds at which Flyte created the execution (None if it does not say)."""
        proto = await (await self._client()).get_execution_proto(self.project, self.domain, name)
        created = proto.closure.created_at
        return created.seconds + created.nanos / 1e9 if created.seconds else None

    async def get_plain_outputs(self, name: str) -> dict[str, Any]:
        """The outputs as plain values; raises ``NotPlainOutputs`` where only flytekit can decode them."""
        from flyte_async_provider.admin.outputs import plain_outputs

        data = await (await self._client()).get_execution_data(self.project, self.domain, name)
        return plain_outputs(data)

    # ------------------------------------------------------------------ write
    async def terminate(self, name: str, cause: str) -> bool:
        """Terminate the execution; False if it had already ended."""
        return await (await self._client()).terminate_execution(self.project, self.domain, name, cause)

    async def terminate_unless_ending(self, name: str, cause: str) -> bool:
        """Terminate unless already ended or aborting (False then), so a second canceller keeps the cause.

        A user's mark reaches two cancellers, the API server's listener and the trigger's ``on_kill``;
        Flyte accepts a terminate while ABORTING and would overwrite the first one's cause.
        """
        from flyte_async_provider.exceptions import FlyteNotFoundError

        try:
            if not (await self.get_execution(name)).phase.is_attachable:
                return False
        except FlyteNotFoundError:
            return False
        return await self.terminate(name, cause)

    async def submit(
        self,
        name: str,
        target: LaunchTarget,
        inputs: Mapping[str, Any],
        options: ExecutionOptions,
        *,
        convert_with_flytekit: bool = True,
    ) -> tuple[bool, str]:
        """Create execution ``name`` (idempotent per name); ``(created, label)``."""
        from flyte_async_provider.admin.launch import submit

        return await submit(
            await self._client(),
            project=self.project,
            domain=self.domain,
            name=name,
            target=target,
            inputs=inputs,
            options=options,
            convert_with_flytekit=convert_with_flytekit,
        )
