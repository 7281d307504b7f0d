"""FlyteAdminEmulator: the gRPC server, the HTTP server (OAuth2 + control API) and the control methods.

Binds 127.0.0.1 only; port 0 picks a free port (read ``grpc_endpoint`` / ``http_url`` after start).
Start it inside a running loop (``await emu.start()``) or on its own loop in a daemon thread
(``emu.start_in_thread()``) for synchronous code; the control methods work from any thread.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

import grpc
from aiohttp import web
from flyteidl.admin import execution_pb2

from .backend import Backend
from .faults import FaultRule, Faults
from .oauth import TokenAuthority
from .persistence import SqliteStore
from .scripting import Advance, Outcome, ScriptRule
from .servicer import build_handlers
from .settings import AuthSettings, TlsSettings

HOST = "127.0.0.1"


class FlyteAdminEmulator:
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
    ) -> None:
        self._port, self._http_port = port, http_port
        self.auth, self.tls = auth, tls
        self.db_path = db_path
        self._store = SqliteStore(db_path) if db_path else None
        self.backend = Backend(
            default_outcome=default_outcome,
            default_advance=default_advance,
            clock=clock,
            sink=self._store,
            entity_sink=self._store.save_entity if self._store else None,
            seed=seed,
        )
        if self._store is not None:
            self._store.load_into(self.backend)
        self.faults = Faults(seed=seed)
        self.authority = TokenAuthority(auth) if auth else None
        self._register_example = register_example
        self._register = tuple(register)
        self._grpc_server: grpc.aio.Server | None = None
        self._runner: web.AppRunner | None = None
        self._bound_grpc = 0
        self._bound_http = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.registered_launch_plans: list[str] = []

    # -- addresses --------------------------------------------------------------------------------
    @property
    def grpc_port(self) -> int:
        return self._bound_grpc

    @property
    def http_port(self) -> int:
        return self._bound_http

    @property
    def grpc_endpoint(self) -> str:
        """``127.0.0.1:PORT`` of the gRPC AdminService."""
        return f"{HOST}:{self._bound_grpc}"

    @property
    def http_url(self) -> str:
        """``http(s)://127.0.0.1:PORT``: the OAuth2 token endpoint and the control API."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{HOST}:{self._bound_http}"

    @property
    def token_url(self) -> str:
        return f"{self.http_url}/oauth2/token"

    def addresses(self) -> dict[str, Any]:
        """What the CLI prints: endpoints plus how to talk to them."""
        return {
            "grpc": self.grpc_endpoint,
            "http": self.http_url,
            "insecure": self.tls is None,
            "auth": self.auth is not None,
            "token_endpoint": self.token_url if self.auth else None,
            "metadata_key": self.auth.metadata_key if self.auth else None,
        }

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
        server.add_generic_rpc_handlers(
            build_handlers(self.backend, self.faults, self.authority, lambda: self.http_url)
        )
        address = f"{HOST}:{self._port}"
        if self.tls is not None:
            cert, key = self.tls.read()
            creds = grpc.ssl_server_credentials([(key, cert)])
            self._bound_grpc = server.add_secure_port(address, creds)
        else:
            self._bound_grpc = server.add_insecure_port(address)
        if not self._bound_grpc:
            raise OSError(f"could not bind gRPC on {address}")
        await server.start()
        self._grpc_server = server

    async def _start_http(self) -> None:
        from .http import build_app

        runner = web.AppRunner(build_app(self), access_log=None)
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
        self._bound_http = sockets[0].getsockname()[1] if sockets else self._http_port

    async def stop(self, grace: float = 0.5) -> None:
        """Stop serving (in-flight calls get ``grace`` seconds) and close the database."""
        if self._grpc_server is not None:
            await self._grpc_server.stop(grace)
            self._grpc_server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._store is not None:
            self._store.close()
            self._store = None

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

    # -- control: scripting -----------------------------------------------------------------------
    def script(
        self,
        outcome: Outcome,
        advance: Advance | None = None,
        launch_plan: str | None = None,
        name_pattern: str | None = None,
    ) -> ScriptRule:
        """Add a rule for executions created from now on; the first matching rule wins."""
        return self.backend.script(outcome, advance, launch_plan, name_pattern)

    def set_default(self, outcome: Outcome | None = None, advance: Advance | None = None) -> None:
        """What executions matching no rule do (initially: succeed, one phase per second)."""
        self.backend.set_default(outcome, advance)

    def clear_script(self) -> None:
        self.backend.clear_script()

    def rules(self) -> list[ScriptRule]:
        """The script rules in match order, the default last."""
        return self.backend.rules()

    # -- control: executions ----------------------------------------------------------------------
    def advance(self, project: str, domain: str, name: str) -> str:
        """One phase step now; returns the new phase name."""
        return self.backend.advance(project, domain, name)

    def complete(self, project: str, domain: str, name: str, outcome: Outcome | None = None) -> str:
        """Jump to the terminal phase of ``outcome`` (default: the execution's own)."""
        return self.backend.complete(project, domain, name, outcome)

    def complete_many(
        self, project: str, domain: str, names: Iterable[str], outcome: Outcome | None = None
    ) -> dict[str, Any]:
        """Complete many at one instant: ``{"completed": n, "timestamp": epoch seconds of the flip}``."""
        count, at = self.backend.complete_many(project, domain, names, outcome)
        return {"completed": count, "timestamp": at}

    def terminate(
        self, project: str, domain: str, name: str, cause: str = "terminated", principal: str = "emulator"
    ) -> None:
        """TerminateExecution as another Flyte user would."""
        self.backend.terminate(project, domain, name, cause, principal)

    def execution(self, project: str, domain: str, name: str) -> execution_pb2.Execution:
        """Current state (no status read counted)."""
        return self.backend.execution(project, domain, name)

    def create_executions(
        self,
        project: str,
        domain: str,
        launch_plan: str,
        names: Iterable[str],
        inputs: dict[str, Any] | None = None,
        version: str | None = None,
    ) -> int:
        """Create many executions without RPCs (benchmark set-up); returns how many were created."""
        from .bulk import create_executions

        return create_executions(self.backend, project, domain, launch_plan, names, inputs, version)

    def phase_counts(self) -> dict[str, int]:
        return self.backend.phase_counts()

    # -- control: faults and counters ---------------------------------------------------------------
    def inject_fault(
        self, rpc: str = "*", error_rate: float = 0.0, code: str = "UNAVAILABLE", latency_seconds: float = 0.0
    ) -> FaultRule:
        """Fail ``error_rate`` of calls to ``rpc`` (``*``: all) with ``code``; add latency to each."""
        return self.faults.inject(rpc, error_rate, code, latency_seconds)

    def clear_faults(self) -> None:
        self.faults.clear()

    def start_outage(self, seconds: float | None = None) -> None:
        """Every gRPC call fails UNAVAILABLE for ``seconds`` (None: until ``end_outage``)."""
        self.faults.start_outage(seconds)

    def end_outage(self) -> None:
        self.faults.end_outage()

    def counters(self) -> dict[str, int]:
        """Calls received per RPC name, failed and injected ones included."""
        return self.faults.counters()

    def success_counters(self) -> dict[str, int]:
        """Calls answered OK per RPC name."""
        return self.faults.success_counters()

    def reset_counters(self) -> None:
        self.faults.reset_counters()

    def expire_tokens(self) -> None:
        """Make every issued access token expired (clients must fetch a new one)."""
        if self.authority is not None:
            self.authority.expire_all()
