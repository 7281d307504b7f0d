"""FlyteAdminEmulator: serves an EmulatorState over gRPC and HTTP, and offers the control methods.

Binds 127.0.0.1 only; port 0 picks a free port (read ``grpc_endpoint`` / ``http_url`` after start).
Start it inside a running loop (``await emu.start()``) or on its own loop in a daemon thread
(``emu.start_in_thread()``) for synchronous code; the control methods (``ControlApi``, declared in
operations.py) work from any thread.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, TypeVar

import grpc
from aiohttp import web

from .backend import Backend
from .blobstore import BlobStore
from .faults import Faults
from .http import build_app
from .oauth import TokenAuthority
from .operations import ControlApi, Operation
from .persistence import SqliteStore
from .realruns import RunningBackend
from .registration import EXAMPLE_LAUNCH_PLAN, EXAMPLE_WORKFLOW
from .runs import RunPool
from .scripting import Advance, Outcome
from .servicer import build_handlers
from .settings import AuthSettings, TlsSettings
from .state import HOST, EmulatorState

R = TypeVar("R")


class FlyteAdminEmulator(ControlApi):
    """A Flyte Admin (v1.16 semantics) for tests and demos; see docs/emulator.md."""

    def __init__(
        self,
        port: int = 0,
        http_port: int = 0,
        auth: AuthSettings | None = None,
        tls: TlsSettings | None = None,
        db_path: str | None = None,
        register_example: bool = True,
        *,
        default_outcome: Outcome | None = None,
        default_advance: Advance | None = None,
        seed: int = 0,
        register: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
        blob_dir: str | None = None,
        run_code: bool = False,
        run_workers: int = 2,
        run_time_limit: float = 300.0,
    ) -> None:
        self._port, self._http_port = port, http_port
        self.db_path = db_path
        self._store = SqliteStore(db_path) if db_path else None
        if run_code and default_outcome is None:
            default_outcome = Outcome.run()
        backend = RunningBackend(
            default_outcome=default_outcome,
            default_advance=default_advance,
            clock=clock,
            sink=self._store,
            entity_sink=self._store.save_entity if self._store else None,
            seed=seed,
        )
        if self._store is not None:
            self._store.load_into(backend)
        self.state = EmulatorState(backend, Faults(seed=seed), auth, tls, BlobStore(blob_dir))
        # Real runs (Outcome.run()): no process starts until the first such execution.
        self.runs = RunPool(
            backend.entities,
            self.state.blobs,
            max_workers=run_workers,
            time_limit=run_time_limit,
            # the example is registered under its flytesnacks module name, imported under its own
            aliases={EXAMPLE_LAUNCH_PLAN.rpartition(".")[0]: EXAMPLE_WORKFLOW.partition(":")[0]},
        )
        backend.attach(self.runs)
        self._register_example = register_example
        self._register = tuple(register)
        self._grpc_server: grpc.aio.Server | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.registered_launch_plans: list[str] = []

    # -- state and addresses ------------------------------------------------------------------------
    @property
    def backend(self) -> Backend:
        return self.state.backend

    @property
    def faults(self) -> Faults:
        return self.state.faults

    @property
    def authority(self) -> TokenAuthority | None:
        return self.state.authority

    @property
    def auth(self) -> AuthSettings | None:
        return self.state.auth

    @property
    def tls(self) -> TlsSettings | None:
        return self.state.tls

    @property
    def grpc_port(self) -> int:
        return self.state.grpc_port

    @property
    def http_port(self) -> int:
        return self.state.http_port

    @property
    def grpc_endpoint(self) -> str:
        """``127.0.0.1:PORT`` of the gRPC AdminService."""
        return self.state.grpc_endpoint

    @property
    def http_url(self) -> str:
        """``http(s)://127.0.0.1:PORT``: the OAuth2 token endpoint, the console page and the control API."""
        return self.state.http_url

    @property
    def token_url(self) -> str:
        return self.state.token_url

    def addresses(self) -> dict[str, Any]:
        """What the CLI prints: endpoints plus how to talk to them (the same as ``health()``)."""
        return self.state.addresses()

    def _run(self, op: Operation[R], /, **arguments: Any) -> R:
        return op.apply(self.state, **arguments)

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Register the example (unless disabled), then serve gRPC and HTTP on 127.0.0.1."""
        if self._grpc_server is not None:
            raise RuntimeError("emulator already started")
        if self._register_example:
            from .registration import register_example

            self.registered_launch_plans.extend(register_example(self.backend))
        if self._register:
            from .registration import register_workflow

            for spec in self._register:
                self.registered_launch_plans.extend(register_workflow(self.backend, spec))
        await self._start_http()
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        server.add_generic_rpc_handlers(build_handlers(self.state))
        address = f"{HOST}:{self._port}"
        if self.tls is not None:
            cert, key = self.tls.read()
            creds = grpc.ssl_server_credentials([(key, cert)])
            self.state.grpc_port = server.add_secure_port(address, creds)
        else:
            self.state.grpc_port = server.add_insecure_port(address)
        if not self.state.grpc_port:
            raise OSError(f"could not bind gRPC on {address}")
        await server.start()
        self._grpc_server = server

    async def _start_http(self) -> None:
        runner = web.AppRunner(build_app(self.state), access_log=None)
        await runner.setup()
        ssl_context = None
        if self.tls is not None:
            ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_context.load_cert_chain(self.tls.cert_file, self.tls.key_file)
        site = web.TCPSite(runner, HOST, self._http_port, ssl_context=ssl_context)
        await site.start()
        self._runner = runner
        server = site._server  # aiohttp keeps the asyncio server private; its sockets have the port
        sockets = getattr(server, "sockets", None) or ()
        self.state.http_port = sockets[0].getsockname()[1] if sockets else self._http_port

    async def stop(self, grace: float = 0.5) -> None:
        """Stop serving (in-flight calls get ``grace`` seconds) and close the database."""
        if self._grpc_server is not None:
            await self._grpc_server.stop(grace)
            self._grpc_server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await asyncio.to_thread(self.runs.shutdown)  # kills every worker process, joins the pool's threads
        if self._store is not None:
            self._store.close()
            self._store = None
        self.state.blobs.close()  # removes the blob directory unless it was given (blob_dir)

    async def wait_for_termination(self) -> None:
        if self._grpc_server is not None:
            await self._grpc_server.wait_for_termination()

    def start_in_thread(self, timeout: float = 60.0) -> FlyteAdminEmulator:
        """Run on a private event loop in a daemon thread; returns once serving."""
        if self._thread is not None:
            raise RuntimeError("emulator already started")
        started = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as err:
                failure.append(err)
                started.set()
                loop.close()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="flyte-admin-emulator", daemon=True)
        self._thread.start()
        if not started.wait(timeout):
            raise TimeoutError(f"emulator did not start within {timeout} s")
        if failure:
            self._thread.join()
            self._thread = self._loop = None
            raise failure[0]
        return self

    def stop_in_thread(self, timeout: float = 30.0) -> None:
        """Stop what ``start_in_thread`` started (idempotent)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self.stop(), loop)
        try:
            future.result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            self._loop = self._thread = None

    def __enter__(self) -> FlyteAdminEmulator:
        return self.start_in_thread()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_in_thread()

    async def __aenter__(self) -> FlyteAdminEmulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
