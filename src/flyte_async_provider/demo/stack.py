"""Start and stop a throwaway Airflow deployment plus the Flyte Admin emulator, as separate processes.

What a user would run, minus the setup: ``airflow db migrate`` once, then ``airflow scheduler``,
``dag-processor``, ``api-server`` and ``triggerer`` (SQLite + LocalExecutor, like ``airflow standalone``)
in a temporary ``AIRFLOW_HOME``; the emulator comes from its CLI. With ``database="postgres"`` the stack
starts its own PostgreSQL server (:mod:`~flyte_async_provider.demo.postgres`) and can run several
triggerers (``triggerer``, ``triggerer-2``, ...), as an HA deployment does; each triggerer's job is
named after its component (``unixname``), so :meth:`AirflowStack.triggerer_of` says who holds a trigger.
Each component is its own process
group with its log in ``$AIRFLOW_HOME/logs/components/``, so a test can SIGKILL the triggerer and start
it again, and :meth:`AirflowStack.stop` can end everything it started (also on Ctrl-C / SIGTERM, and as
a last resort every process still carrying this stack's unique ``AIRFLOW_HOME``).

Configuration is passed to every component as ``AIRFLOW__SECTION__KEY`` variables (the calling
process's own ``AIRFLOW_*`` variables are not inherited), with short parsing and heartbeat intervals
so the demo and the end-to-end tests do not wait on defaults meant for production.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import IO, Any, TypeVar

from flyte_async_provider.demo.postgres import PostgresServer
from flyte_async_provider.demo.rest import AirflowApiError, AirflowRestClient
from flyte_async_provider.demo.rpc_meter import RpcMeter

log = logging.getLogger(__name__)

T = TypeVar("T")

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
DATABASES = ("sqlite", "postgres")
EXAMPLE_DAGS_DIR = Path(__file__).resolve().parent.parent / "example_dags"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
EXAMPLE_PROJECT = "flytesnacks"
EXAMPLE_DOMAIN = "development"


def _migrated_db_cache() -> Path | None:
    """Where a migrated database of the installed Airflow is cached (``None``: version unknown)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        airflow_version = version("apache-airflow-core")
    except PackageNotFoundError:
        try:
            airflow_version = version("apache-airflow")
        except PackageNotFoundError:
            return None
    py = f"{sys.version_info.major}{sys.version_info.minor}"
    return Path(tempfile.gettempdir()) / "flyte-async-provider-cache" / f"airflow-{airflow_version}-py{py}.db"


class StackError(RuntimeError):
    """The stack could not start, or a component died; the message carries the tail of its log."""


def poll_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.5,
    what: str = "condition",
    on_timeout: Callable[[], str] | None = None,
) -> T:
    """Call ``probe`` until it returns something truthy, at most ``timeout`` seconds; return that.

    The only way tests and the demo wait: bounded in time, and the error says what was awaited
    (plus ``on_timeout()``, e.g. the last state seen).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = f": {on_timeout()}" if on_timeout is not None else ""
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{extra}")
        time.sleep(interval)


def free_port() -> int:
    """A port on 127.0.0.1 that is free now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class FlyteTarget:
    """The Flyte Admin the ``flyte_default`` connection points at (the emulator, or a real Flyte)."""

    host: str
    port: int
    insecure: bool = True
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    project: str = EXAMPLE_PROJECT
    domain: str = EXAMPLE_DOMAIN
    console_endpoint: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> FlyteTarget | None:
        """A real Flyte from ``FLYTE_ENDPOINT`` (+ ``FLYTE_CLIENT_ID``/``FLYTE_CLIENT_SECRET``...).

        ``None`` when ``FLYTE_ENDPOINT`` is unset: then the stack starts the emulator.
        """
        env = os.environ if environ is None else environ
        endpoint = (env.get("FLYTE_ENDPOINT") or "").strip()
        if not endpoint:
            return None
        if "://" in endpoint:
            endpoint = endpoint.split("://", 1)[1]
        endpoint = endpoint.strip("/")  # also gRPC's "dns:///host:port"
        host, _, port_text = endpoint.partition(":")
        extra: dict[str, Any] = {}
        for var, key in (
            ("FLYTE_SCOPES", "scopes"),
            ("FLYTE_AUDIENCE", "audience"),
            ("FLYTE_CA_CERT_FILE_PATH", "ca_cert_file_path"),
            ("FLYTE_AUTHORIZATION_METADATA_KEY", "authorization_metadata_key"),
            ("FLYTE_AUTH_MODE", "auth_mode"),
            ("FLYTE_TOKEN_ENDPOINT", "token_endpoint"),
        ):
            if env.get(var):
                extra[key] = env[var]
        return cls(
            host=host,
            port=int(port_text) if port_text else 443,
            insecure=_truthy(env.get("FLYTE_INSECURE")),
            client_id=env.get("FLYTE_CLIENT_ID") or None,
            client_secret=env.get("FLYTE_CLIENT_SECRET") or None,
            project=env.get("FLYTE_PROJECT") or EXAMPLE_PROJECT,
            domain=env.get("FLYTE_DOMAIN") or EXAMPLE_DOMAIN,
            console_endpoint=env.get("FLYTE_CONSOLE_ENDPOINT") or None,
            extra=extra,
        )

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def connection_json(self) -> str:
        """The ``AIRFLOW_CONN_FLYTE_DEFAULT`` value (Airflow's JSON connection format)."""
        extra: dict[str, Any] = {"project": self.project, "domain": self.domain, "insecure": self.insecure}
        if self.console_endpoint:
            extra["console_endpoint"] = self.console_endpoint
        extra.update(self.extra)
        conn: dict[str, Any] = {"conn_type": "flyte", "host": self.host, "port": self.port, "extra": extra}
        if self.client_id:
            conn["login"] = self.client_id
        if self.client_secret:
            conn["password"] = self.client_secret
        return json.dumps(conn)


@dataclass
class StackSettings:
    """Knobs of one stack; the defaults suit the demo and the e2e tests on 2 cores."""

    #: DAG files copied into the DAGs folder next to the provider's example DAGs.
    extra_dag_files: Sequence[Path] = ()
    include_example_dags: bool = True
    #: ``None``: start the emulator and point ``flyte_default`` at it.
    flyte: FlyteTarget | None = None
    #: Extra arguments for the emulator CLI (e.g. ``--db-path``).
    emulator_args: Sequence[str] = ()
    #: LocalExecutor worker processes (``[core] parallelism``): small, so 2 cores are not swamped.
    parallelism: int = 8
    triggerer_capacity: int = 1000
    default_deferrable: bool = True
    #: ``None``: a fresh temporary directory, removed on stop unless ``keep_home``.
    home: Path | None = None
    keep_home: bool = False
    #: Further environment for the Airflow components (``AIRFLOW__SECTION__KEY``, ``AIRFLOW_CONN_*``...),
    #: applied last.
    extra_env: Mapping[str, str] = field(default_factory=dict)
    startup_timeout: float = 180.0
    #: Copy a database migrated earlier by the same Airflow version instead of migrating again.
    reuse_migrated_db: bool = True
    #: Seconds components get to exit after SIGTERM before their process groups are SIGKILLed. Airflow's
    #: triggerer sometimes misses its runner's exit and waits out its own 10 s escalation delay.
    stop_grace: float = 6.0
    #: DAG ids that must be parsed (no import error) before :meth:`AirflowStack.start` returns.
    wait_for_dags: Sequence[str] = ()
    #: ``"sqlite"`` (one file; the demo's default) or ``"postgres"`` (a throwaway server of its own).
    database: str = "sqlite"
    #: Triggerer processes; more than one needs ``database="postgres"`` (SQLite has no row locks).
    triggerers: int = 1
    #: Environment for the triggerers only (e.g. ``PYTHONASYNCIODEBUG=1``), applied last.
    triggerer_env: Mapping[str, str] = field(default_factory=dict)
    #: Put a :class:`~flyte_async_provider.demo.rpc_meter.RpcMeter` between each triggerer and Flyte, so
    #: Admin calls can be counted per triggerer (:meth:`AirflowStack.rpc_calls`).
    meter_triggerer_rpcs: bool = False

    def __post_init__(self) -> None:
        if self.database not in DATABASES:
            raise ValueError(f"database must be one of {DATABASES}, not {self.database!r}")
        if self.triggerers < 1 or (self.triggerers > 1 and self.database != "postgres"):
            raise ValueError("several triggerers need database='postgres' (SQLite cannot host them)")


class ManagedProcess:
    """One child in its own process group (session), output appended to a log file."""

    def __init__(
        self, name: str, argv: Sequence[str], env: Mapping[str, str], log_path: Path, cwd: Path
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.popen: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log_path.open("ab")
        self._log_file.write(f"\n===== starting {self.name}: {' '.join(self.argv)}\n".encode())
        self._log_file.flush()
        self.popen = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: killpg reaches its children, Ctrl-C does not
        )
        self.started_at = time.monotonic()

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal_group(self, sig: int) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole group now (what a node failure or OOM kill does) and reap the leader."""
        self.signal_group(signal.SIGKILL)
        if self.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=10)
        self._close_log()

    def terminate(self) -> None:
        """SIGTERM the leader only: Airflow components shut their own children down in order."""
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)

    def finish(self, deadline: float) -> None:
        """Wait for the leader until ``deadline`` (monotonic), then SIGKILL whatever is left of the group."""
        if self.popen is None:
            return
        try:
            self.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.info("%s did not stop in time; killing its process group", self.name)
        # Children of the leader (task runners, parsing processes) may outlive it: end the group.
        self.signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)
        self._close_log()

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL the whole group after at most ``grace`` seconds."""
        self.terminate()
        self.finish(time.monotonic() + grace)

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def describe_exit(self) -> str:
        code = self.popen.poll() if self.popen is not None else None
        return f"{self.name} exited with code {code}; last lines of {self.log_path}:\n{_tail(self.log_path)}"


class EmulatorProcess:
    """The Flyte Admin emulator CLI in a subprocess; addresses read from its ``--ready-file``."""

    def __init__(self, workdir: Path, env: Mapping[str, str], extra_args: Sequence[str] = ()) -> None:
        self.ready_file = workdir / "emulator.json"
        # Ports chosen up front, so Airflow's connection can be written before the emulator is up.
        self.grpc_port = free_port()
        self.http_port = free_port()
        self.process = ManagedProcess(
            "emulator",
            [
                sys.executable,
                "-m",
                "flyte_async_provider.emulator",
                "--port",
                str(self.grpc_port),
                "--http-port",
                str(self.http_port),
                "--ready-file",
                str(self.ready_file),
                *extra_args,
            ],
            env,
            workdir / "logs" / "components" / "emulator.log",
            workdir,
        )
        self.grpc_endpoint = f"127.0.0.1:{self.grpc_port}"
        self.http_url = f"http://127.0.0.1:{self.http_port}"

    def start(self) -> None:
        self.ready_file.unlink(missing_ok=True)
        self.process.start()

    def wait_ready(self, timeout: float = 60.0) -> None:
        def ready() -> dict[str, str] | None:
            if not self.process.alive():
                raise StackError(f"Flyte Admin emulator died: {self.process.describe_exit()}")
            try:
                data: dict[str, str] = json.loads(self.ready_file.read_text())
            except (OSError, ValueError):
                return None
            return data if data.get("grpc") and data.get("http") else None

        info = poll_until(ready, timeout=timeout, interval=0.1, what="the Flyte Admin emulator")
        served = (info["grpc"].replace("localhost", "127.0.0.1"), info["http"].rstrip("/"))
        if served != (self.grpc_endpoint, self.http_url):
            raise StackError(f"the emulator serves {served}, not the ports it was given {self.grpc_endpoint}")

    def target(self) -> FlyteTarget:
        host, _, port = self.grpc_endpoint.rpartition(":")
        return FlyteTarget(host=host, port=int(port), insecure=True, console_endpoint=self.http_url)

    def control(self) -> Any:
        """An ``EmulatorControlClient`` for this emulator's HTTP control API."""
        # Imported by name: the emulator package is optional for a stack pointed at a real Flyte.
        control = importlib.import_module("flyte_async_provider.emulator.control")
        return control.EmulatorControlClient(self.http_url)


class AirflowStack:
    """A throwaway Airflow (4 component processes) + emulator; a context manager.

    ``with AirflowStack(StackSettings(...)) as stack: stack.rest.trigger_dag_run(...)``
    """

    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()
        self._own_home = self.settings.home is None
        self.home = (
            Path(tempfile.mkdtemp(prefix="flyte-airflow-"))
            if self.settings.home is None
            else Path(self.settings.home)
        )
        self.dags_folder = self.home / "dags"
        self.component_logs = self.home / "logs" / "components"
        self.api_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.api_port}"
        self.processes: dict[str, ManagedProcess] = {}
        self.emulator: EmulatorProcess | None = None
        self.flyte: FlyteTarget | None = self.settings.flyte
        self.env: dict[str, str] = {}
        self.rest = AirflowRestClient(self.base_url)
        self.timings: dict[str, float] = {}
        self.postgres: PostgresServer | None = None
        self.rpc_meters: dict[str, RpcMeter] = {}
        self._stopped = False

    @property
    def triggerer_names(self) -> list[str]:
        """``triggerer``, ``triggerer-2``, ...: component names, also their jobs' ``unixname``."""
        return ["triggerer", *(f"triggerer-{i}" for i in range(2, self.settings.triggerers + 1))]

    @property
    def component_names(self) -> list[str]:
        return [*(c for c in COMPONENTS if c != "triggerer"), *self.triggerer_names]

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> AirflowStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> AirflowStack:
        """Prepare the home, migrate the DB, start emulator + components, wait until healthy."""
        t0 = time.monotonic()
        try:
            self._prepare_home()
            base_env = self._base_env()
            if self.flyte is None:
                self.emulator = EmulatorProcess(self.home, base_env, self.settings.emulator_args)
                self.emulator.start()  # boots while the DB migrates
            if self.emulator is not None:
                self.flyte = self.emulator.target()
            if self.settings.database == "postgres":
                self.postgres = PostgresServer(free_port(), log_path=self.component_logs / "postgres.log")
                self.postgres.start()
                self.timings["postgres"] = time.monotonic() - t0
            self.env = self._airflow_env(base_env, flyte=self.flyte)
            self._start_meters()
            self._migrate()
            self.timings["migrate"] = time.monotonic() - t0
            for name in self.component_names:
                self.start_component(name)
            if self.emulator is not None:
                self.emulator.wait_ready()  # it booted while the DB migrated and the components start
                self.timings["emulator"] = time.monotonic() - t0
            self.wait_healthy(self.settings.startup_timeout)
            self.timings["healthy"] = time.monotonic() - t0
            if self.settings.wait_for_dags:
                self.wait_for_dags(self.settings.wait_for_dags, timeout=self.settings.startup_timeout)
            self.timings["ready"] = time.monotonic() - t0
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """End every process this stack started (idempotent); remove a temporary home."""
        if self._stopped:
            return
        self._stopped = True
        t0 = time.monotonic()
        # Two waves, each in parallel: first what runs and watches tasks (their shutdown still talks
        # to the api-server and the DB), then the api-server and the emulator.
        servers = [p for n, p in self.processes.items() if n == "api-server"]
        if self.emulator is not None:
            servers.append(self.emulator.process)
        workers = [p for p in self.processes.values() if p not in servers]
        for wave in (workers, servers):
            for proc in wave:
                proc.terminate()
            deadline = time.monotonic() + self.settings.stop_grace
            for proc in wave:
                proc.finish(deadline)
        self._sweep_strays()
        if self.postgres is not None:
            self.postgres.stop()  # after everything that holds a connection to it
        for meter in self.rpc_meters.values():
            meter.close()
        self.timings["stop"] = time.monotonic() - t0
        if self._own_home and not self.settings.keep_home:
            shutil.rmtree(self.home, ignore_errors=True)

    @contextlib.contextmanager
    def stop_on_signals(self) -> Iterator[None]:
        """Turn SIGTERM/SIGHUP into ``KeyboardInterrupt`` so ``finally``/``with`` blocks stop the stack."""

        def handler(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt(f"signal {signum}")

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    # -- components ------------------------------------------------------------------------------
    def _argv(self, name: str) -> list[str]:
        airflow = [sys.executable, "-m", "airflow"]
        if name == "api-server":
            # One in-process uvicorn worker (the default spawns 4): enough, and half the startup CPU.
            return [
                *airflow,
                "api-server",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.api_port),
                "--workers",
                "1",
            ]
        if name.startswith("triggerer"):
            # Logs are read from local files by the api-server; no log-serving side process needed.
            return [
                *airflow,
                "triggerer",
                "--skip-serve-logs",
                "--capacity",
                str(self.settings.triggerer_capacity),
            ]
        if name == "scheduler":
            return [*airflow, "scheduler", "--skip-serve-logs"]
        return [*airflow, name]

    def start_component(self, name: str) -> ManagedProcess:
        """Start (or restart) one Airflow component; its log is appended to."""
        current = self.processes.get(name)
        if current is not None and current.alive():
            raise StackError(f"{name} is already running (pid {current.pid})")
        proc = ManagedProcess(
            name, self._argv(name), self._component_env(name), self.component_logs / f"{name}.log", self.home
        )
        proc.start()
        self.processes[name] = proc
        return proc

    def _component_env(self, name: str) -> dict[str, str]:
        if not name.startswith("triggerer"):
            return self.env
        # The job's unixname (getpass reads LOGNAME first) tells which triggerer holds a trigger.
        env = {**self.env, "LOGNAME": name, **self.settings.triggerer_env}
        meter = self.rpc_meters.get(name)
        if meter is not None and self.flyte is not None:
            env["AIRFLOW_CONN_FLYTE_DEFAULT"] = replace(self.flyte, port=meter.port).connection_json()
        return env

    def _start_meters(self) -> None:
        if not self.settings.meter_triggerer_rpcs or self.flyte is None:
            return
        for name in self.triggerer_names:
            self.rpc_meters[name] = RpcMeter(name, self.flyte.host, self.flyte.port).start()

    def rpc_calls(self) -> dict[str, int]:
        """Flyte Admin calls made by each triggerer so far (needs ``meter_triggerer_rpcs``)."""
        return {name: meter.calls() for name, meter in self.rpc_meters.items()}

    def triggerer_jobs(self, alive_only: bool = True) -> dict[str, dict[str, Any]]:
        """The newest TriggererJob of each triggerer component, by name (its ``unixname``)."""
        filters: dict[str, Any] = {"job_type": "TriggererJob", "order_by": "id", "limit": 100}
        if alive_only:
            filters["is_alive"] = True
        jobs: dict[str, dict[str, Any]] = {}
        for job in self.rest.get("/api/v2/jobs", **filters)["jobs"]:
            jobs[str(job.get("unixname"))] = job  # ordered by id: the newest wins
        return jobs

    @staticmethod
    def triggerer_of(task_instance: Mapping[str, Any]) -> str | None:
        """Which triggerer component holds a task instance's trigger (``None``: unassigned)."""
        job = task_instance.get("triggerer_job") or {}
        return str(job["unixname"]) if job.get("unixname") else None

    def kill_component(self, name: str) -> None:
        """SIGKILL a component's whole process group, as a crashed node would lose it."""
        self.processes[name].kill()

    def stop_component(self, name: str) -> None:
        self.processes[name].stop()

    def check_alive(self) -> None:
        """Raise :class:`StackError` (with the log tail) if a component died on its own."""
        for proc in self.processes.values():
            if proc.popen is not None and not proc.alive() and proc.popen.returncode not in (-9, -15):
                raise StackError(proc.describe_exit())
        if self.emulator is not None and not self.emulator.process.alive():
            raise StackError(self.emulator.process.describe_exit())
        if self.postgres is not None and not self.postgres.alive():
            raise StackError(self.postgres.describe_exit())

    def component_log(self, name: str) -> str:
        return (self.component_logs / f"{name}.log").read_text(errors="replace")

    # -- waiting ---------------------------------------------------------------------------------
    def wait_healthy(self, timeout: float = 120.0, components: Iterable[str] | None = None) -> dict[str, Any]:
        """Poll ``/api/v2/monitor/health`` until the DB and the given components report healthy."""
        wanted = list(components or ("metadatabase", "scheduler", "triggerer", "dag_processor"))
        last: dict[str, Any] = {}

        def probe() -> dict[str, Any] | None:
            nonlocal last
            self.check_alive()
            try:
                last = self.rest.health()
            except (OSError, AirflowApiError, urllib.error.URLError, ValueError):
                return None
            ok = all((last.get(c) or {}).get("status") == "healthy" for c in wanted)
            return last if ok else None

        return poll_until(
            probe, timeout=timeout, interval=0.5, what="Airflow to be healthy", on_timeout=lambda: str(last)
        )

    def wait_triggerer_healthy(self, timeout: float = 60.0, name: str = "triggerer") -> None:
        """After a restart: wait until this triggerer's new run logged its start and is healthy."""
        started = self.processes[name].started_at

        def probe() -> bool:
            self.check_alive()
            text = self.component_log(name)
            return (
                time.monotonic() - started > 0
                and "Starting the triggerer" in text.split("===== starting")[-1]
            )

        poll_until(probe, timeout=timeout, interval=0.5, what=f"{name} to start")
        self.wait_healthy(timeout, components=("triggerer",))

    def wait_triggerers_alive(self, names: Iterable[str] | None = None, timeout: float = 120.0) -> None:
        """Wait until each named triggerer (default: all) has a live job heartbeating."""
        wanted = set(names or self.triggerer_names)
        seen: dict[str, dict[str, Any]] = {}

        def probe() -> bool:
            nonlocal seen
            self.check_alive()
            try:
                seen = self.triggerer_jobs()
            except (OSError, AirflowApiError, urllib.error.URLError, ValueError):
                return False
            return wanted <= set(seen)

        poll_until(
            probe,
            timeout=timeout,
            interval=0.5,
            what=f"triggerers {sorted(wanted)} alive",
            on_timeout=lambda: f"alive: {sorted(seen)}",
        )

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 120.0) -> None:
        """Wait until every DAG id is parsed and known to the API; fail early on import errors."""
        missing = set(dag_ids)

        def probe() -> bool:
            self.check_alive()
            for dag_id in sorted(missing):
                try:
                    self.rest.get_dag(dag_id)
                except AirflowApiError as exc:
                    if exc.status != 404:
                        raise
                else:
                    missing.discard(dag_id)
            if missing:
                errors = self.rest.import_errors()
                if errors:
                    details = "\n".join(f"{e.get('filename')}: {e.get('stack_trace')}" for e in errors)
                    raise StackError(f"DAG import errors:\n{details}")
            return not missing

        poll_until(
            probe,
            timeout=timeout,
            interval=1.0,
            what="DAGs to be parsed",
            on_timeout=lambda: f"missing {sorted(missing)}",
        )

    def wait_defer_processed(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, timeout: float = 120.0
    ) -> None:
        """Wait until the scheduler has handled the executor event of a task's exit into DEFERRED.

        Airflow 3.3.2 fails a task whose trigger fires *before* the scheduler processed that event and
        the resumed try is already QUEUED/RUNNING ("executor reported ... success, but the task
        instance's state attribute is queued"; apache/airflow#67287, #72716). Tests that end an
        execution on purpose right after the task deferred wait for this first, as a real execution
        (which takes longer than a scheduler loop) would.
        """
        pattern = re.compile(
            rf"TaskInstance Finished: dag_id={re.escape(dag_id)}, task_id={re.escape(task_id)}, "
            rf"run_id={re.escape(run_id)}, map_index={map_index},.*? state=deferred,"
        )
        poll_until(
            lambda: pattern.search(self.component_log("scheduler")) is not None,
            timeout=timeout,
            what=f"the scheduler to process {dag_id}.{task_id}[{map_index}] deferring",
        )

    def add_dag_file(self, path: Path) -> Path:
        """Copy a DAG file into the DAGs folder (picked up within ``refresh_interval``)."""
        target = self.dags_folder / path.name
        shutil.copy2(path, target)
        return target

    def emulator_control(self) -> Any:
        if self.emulator is None:
            raise StackError("this stack talks to a real Flyte: there is no emulator to control")
        return self.emulator.control()

    # -- setup -----------------------------------------------------------------------------------
    def _prepare_home(self) -> None:
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        self.component_logs.mkdir(parents=True, exist_ok=True)
        files: list[Path] = []
        if self.settings.include_example_dags and EXAMPLE_DAGS_DIR.is_dir():
            files.extend(p for p in sorted(EXAMPLE_DAGS_DIR.glob("*.py")) if p.name != "__init__.py")
        files.extend(Path(p) for p in self.settings.extra_dag_files)
        for path in files:
            shutil.copy2(path, self.dags_folder / path.name)

    def _base_env(self) -> dict[str, str]:
        """The caller's environment minus its Airflow settings, plus this stack's marker."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "_AIRFLOW"))
            and k not in ("AIRFLOW_HOME", "AIRFLOW_CONFIG")
        }
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW_CONFIG": str(self.home / "airflow.cfg"),
                "PYTHONUNBUFFERED": "1",
                "NO_COLOR": "1",
            }
        )
        return env

    def _airflow_env(self, base: Mapping[str, str], flyte: FlyteTarget | None) -> dict[str, str]:
        env = dict(base)
        if not hasattr(self, "_secrets"):
            self._secrets = (
                base64.urlsafe_b64encode(os.urandom(32)).decode(),  # Fernet key
                base64.b64encode(os.urandom(64)).decode(),  # JWT secret (HS512 wants >= 64 bytes), shared
                base64.b64encode(os.urandom(16)).decode(),
                free_port(),
                free_port(),
            )
        fernet, jwt_secret, api_secret, worker_log_port, trigger_log_port = self._secrets
        settings = {
            "CORE__DAGS_FOLDER": str(self.dags_folder),
            "CORE__EXECUTOR": "LocalExecutor",
            "CORE__LOAD_EXAMPLES": "False",
            "CORE__UNIT_TEST_MODE": "False",
            "CORE__PARALLELISM": str(self.settings.parallelism),
            "CORE__MAX_ACTIVE_TASKS_PER_DAG": "64",
            "CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "CORE__FERNET_KEY": fernet,
            "CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            "CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "DATABASE__SQL_ALCHEMY_CONN": (
                self.postgres.url if self.postgres is not None else f"sqlite:///{self.home / 'airflow.db'}"
            ),
            "DATABASE__CHECK_MIGRATIONS": "False",
            **(
                {}
                if self.postgres is not None
                else {
                    "DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "flyte_async_provider.demo.sqlite_args.CONNECT_ARGS"
                }
            ),
            "API__HOST": "127.0.0.1",
            "API__PORT": str(self.api_port),
            "API__WORKERS": "1",
            "API__BASE_URL": self.base_url,
            "API__SECRET_KEY": api_secret,
            "API_AUTH__JWT_SECRET": jwt_secret,
            "OPERATORS__DEFAULT_DEFERRABLE": str(self.settings.default_deferrable),
            # New DAG files appear within seconds; unchanged ones are not re-parsed (saves CPU, and on
            # SQLite a re-parse of every file 5 min in competed for the write lock with the tests).
            "DAG_PROCESSOR__REFRESH_INTERVAL": "2",
            "DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1",
            "DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
            "DAG_PROCESSOR__PARSING_PROCESSES": "2",
            "DAG_PROCESSOR__PRINT_STATS_INTERVAL": "0",
            "SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "5",
            "SCHEDULER__PARSING_CLEANUP_INTERVAL": "600",
            # A SIGKILLed triggerer's triggers move to a new one after this many seconds without heartbeat.
            "TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            "TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
            "TRIGGERER__CAPACITY": str(self.settings.triggerer_capacity),
            "LOGGING__WORKER_LOG_SERVER_PORT": str(worker_log_port),
            "LOGGING__TRIGGER_LOG_SERVER_PORT": str(trigger_log_port),
            "LOGGING__COLORED_CONSOLE_LOG": "False",
        }
        env.update({f"AIRFLOW__{k}": v for k, v in settings.items()})
        env.update(self.settings.extra_env)
        if flyte is not None:
            env["AIRFLOW_CONN_FLYTE_DEFAULT"] = flyte.connection_json()
        return env

    def _migrate(self) -> None:
        """``airflow db migrate``, or a copy of a database this Airflow version migrated before.

        A freshly migrated SQLite file holds no home-specific state (schema, log templates, the default
        pool), so it is cached per Airflow and Python version: later stacks skip ~7 s of migration.
        """
        if self.postgres is not None:
            self._run_migrate()
            return
        db = self.home / "airflow.db"
        cached = _migrated_db_cache() if self.settings.reuse_migrated_db else None
        if cached is not None and cached.is_file():
            shutil.copyfile(cached, db)
            self.timings["migrate_cached"] = 1.0
            return
        self._run_migrate()
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_name(f"{cached.name}.{os.getpid()}.partial")
            shutil.copyfile(db, partial)
            os.replace(partial, cached)  # atomic: a concurrent stack sees the whole file or none

    def _run_migrate(self) -> None:
        proc = ManagedProcess(
            "db-migrate",
            [sys.executable, "-m", "airflow", "db", "migrate"],
            self.env,
            self.component_logs / "db-migrate.log",
            self.home,
        )
        proc.start()
        assert proc.popen is not None
        try:
            code = proc.popen.wait(timeout=self.settings.startup_timeout)
        except subprocess.TimeoutExpired:
            proc.stop()
            raise StackError(
                f"airflow db migrate took longer than {self.settings.startup_timeout:.0f}s"
            ) from None
        proc.stop(grace=1)
        if code != 0:
            raise StackError(f"airflow db migrate failed: {proc.describe_exit()}")

    def _sweep_strays(self) -> None:
        """Kill any process still carrying this stack's AIRFLOW_HOME (e.g. a task runner that setsid'd)."""
        marker = f"AIRFLOW_HOME={self.home}".encode()
        proc_dir = Path("/proc")
        if not proc_dir.is_dir():
            return
        me = os.getpid()
        for entry in proc_dir.iterdir():
            if not entry.name.isdigit() or int(entry.name) == me:
                continue
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if marker in environ.split(b"\0"):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(entry.name), signal.SIGKILL)
                    log.warning("killed stray process %s of stack %s", entry.name, self.home)
