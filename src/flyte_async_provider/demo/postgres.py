"""A throwaway PostgreSQL server for the stack harness: the machine's own server binaries, run as an
unprivileged user on a free 127.0.0.1 port, in a temporary directory removed afterwards.

Why the Debian binaries (``/usr/lib/postgresql/<version>/bin``) rather than a wheel that ships a server:
this machine kind's image, and so CI, has them installed (not running), so nothing is downloaded and
the server is the one a Debian/Ubuntu deployment runs. Where they are missing, :func:`find_server_bin`
returns ``None`` and callers skip with that reason (``FLYTE_STACK_PG_BIN`` points at another build).

PostgreSQL refuses to run as root. As root, the harness runs it as the ``postgres`` system user the
Debian package creates, or creates a system user of its own (``useradd``) when that is missing; the
temporary directory is handed to that user. Not as root, it runs as the calling user. Durability
settings are off (``fsync``, ``synchronous_commit``): the database lives for one test session.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

log = logging.getLogger(__name__)

BIN_ENV = "FLYTE_STACK_PG_BIN"
DEBIAN_ROOT = Path("/usr/lib/postgresql")
SERVER_TOOLS = ("initdb", "postgres")
#: Used when running as root: Debian's own system user, else one the harness creates.
SYSTEM_USERS = ("postgres", "flyte-stack-pg")
DB_USER = "airflow"
DB_NAME = "airflow"


class PostgresError(RuntimeError):
    """The server could not be set up or started; the message carries the tail of its log."""


def find_server_bin(environ: dict[str, str] | None = None) -> Path | None:
    """The directory holding ``initdb`` and ``postgres``: ``$FLYTE_STACK_PG_BIN``, else Debian's newest."""
    env = os.environ if environ is None else environ
    candidates: list[Path] = []
    if env.get(BIN_ENV):
        candidates.append(Path(env[BIN_ENV]))
    if DEBIAN_ROOT.is_dir():

        def version(path: Path) -> float:
            try:
                return float(path.parent.name)
            except ValueError:
                return 0.0

        candidates.extend(sorted(DEBIAN_ROOT.glob("*/bin"), key=version, reverse=True))
    for directory in candidates:
        if all(os.access(directory / tool, os.X_OK) for tool in SERVER_TOOLS):
            return directory
    return None


def unavailable_reason() -> str | None:
    """Why this machine cannot run the server (``None``: it can)."""
    if find_server_bin() is None:
        return (
            f"no PostgreSQL server binaries: neither ${BIN_ENV} nor {DEBIAN_ROOT}/<version>/bin "
            "(Debian's postgresql-<version> package) has initdb and postgres"
        )
    if importlib.util.find_spec("psycopg2") is None or importlib.util.find_spec("asyncpg") is None:
        return "psycopg2 or asyncpg is not installed (pip install 'airflow-provider-flyte-async[postgres]')"
    return None


@dataclass(frozen=True)
class ServerUser:
    """Who the server processes run as (``None`` ids: the calling user, no switch)."""

    name: str
    uid: int | None = None
    gid: int | None = None


def server_user() -> ServerUser:
    """The calling user, or as root an unprivileged system user (created when none exists)."""
    if os.geteuid() != 0:
        return ServerUser(pwd.getpwuid(os.geteuid()).pw_name)
    for name in SYSTEM_USERS:
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return ServerUser(name, entry.pw_uid, entry.pw_gid)
    name = SYSTEM_USERS[-1]
    useradd = shutil.which("useradd")
    if useradd is None:
        raise PostgresError("running as root, no 'postgres' user and no useradd to create one")
    done = subprocess.run(
        [useradd, "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
        check=False,
    )
    # Exit 9: another process created it meanwhile.
    if done.returncode not in (0, 9):
        raise PostgresError(f"useradd {name} failed: {done.stderr.strip()}")
    entry = pwd.getpwnam(name)
    return ServerUser(name, entry.pw_uid, entry.pw_gid)


class PostgresServer:
    """``initdb`` + ``postgres`` in a temporary directory; :attr:`url` is Airflow's connection string.

    ``with PostgresServer() as pg: ... pg.url``; :meth:`stop` (idempotent) ends the server and removes
    the directory, whatever happened before.
    """

    def __init__(self, port: int, bin_dir: Path | None = None, log_path: Path | None = None) -> None:
        found = bin_dir or find_server_bin()
        if found is None:
            raise PostgresError(unavailable_reason() or "no PostgreSQL server binaries")
        self.bin_dir = found
        self.port = port
        self.user = server_user()
        self.root = Path(tempfile.mkdtemp(prefix="flyte-pg-"))
        self.data_dir = self.root / "data"
        self.log_path = log_path or self.root / "postgres.log"
        self.popen: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self.timings: dict[str, float] = {}

    @property
    def url(self) -> str:
        """SQLAlchemy URL with the psycopg2 driver (trust authentication on 127.0.0.1 only)."""
        return f"postgresql+psycopg2://{DB_USER}@127.0.0.1:{self.port}/{DB_NAME}"

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self, timeout: float = 60.0) -> PostgresServer:
        """initdb, start the server, create the Airflow database; stop and clean up on any failure."""
        t0 = time.monotonic()
        try:
            self._give_to_user(self.root)
            self._initdb(timeout)
            self.timings["initdb"] = time.monotonic() - t0
            self._start_server()
            self._wait_ready(timeout)
            self.timings["ready"] = time.monotonic() - t0
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace: float = 10.0) -> None:
        """Fast shutdown (SIGINT), SIGKILL of the group after ``grace`` s, then remove the directory."""
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                log.info("postgres did not stop in %.0fs; killing its process group", grace)
        if self.popen is not None:
            # The postmaster's children (checkpointer, backends) are in its session: end them too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        shutil.rmtree(self.root, ignore_errors=True)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def describe_exit(self) -> str:
        code = self.popen.poll() if self.popen is not None else None
        return f"postgres exited with code {code}; last lines of {self.log_path}:\n{self._tail()}"

    # -- steps -----------------------------------------------------------------------------------
    def _give_to_user(self, path: Path) -> None:
        if self.user.uid is not None and self.user.gid is not None:
            os.chown(path, self.user.uid, self.user.gid)
        path.chmod(0o700)

    def _extra_groups(self) -> list[int] | None:
        """With ``user=``/``group=``: drop root's supplementary groups too (no setpriv/runuser needed)."""
        return [] if self.user.uid is not None else None

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update({"HOME": str(self.root), "USER": self.user.name, "LOGNAME": self.user.name, "LC_ALL": "C"})
        return env

    def _initdb(self, timeout: float) -> None:
        done = subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                "--pgdata",
                str(self.data_dir),
                "--username",
                DB_USER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-sync",
            ],
            cwd=self.root,
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            user=self.user.uid,
            group=self.user.gid,
            extra_groups=self._extra_groups(),
        )
        if done.returncode != 0:
            raise PostgresError(f"initdb failed ({done.returncode}): {done.stderr.strip()[-2000:]}")

    def _start_server(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log_path.open("ab")
        settings = {
            "port": str(self.port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": "",  # TCP only: nothing written outside the temp directory
            "max_connections": "300",  # every Airflow component keeps a pool; several triggerers
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        argv = [str(self.bin_dir / "postgres"), "-D", str(self.data_dir)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        self.popen = subprocess.Popen(
            argv,
            cwd=self.root,
            env=self._env(),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: Ctrl-C of the caller does not reach it
            user=self.user.uid,
            group=self.user.gid,
            extra_groups=self._extra_groups(),
        )

    def _wait_ready(self, timeout: float) -> None:
        """Poll until *this* server accepts connections, then create the Airflow database.

        "This" matters: when another server already holds the port, ours exits while a connection to
        the port succeeds, so the answer is checked against our data directory.
        """
        psycopg2: Any = importlib.import_module("psycopg2")  # untyped; the postgres extra brings it

        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise PostgresError(self.describe_exit())
            try:
                conn = psycopg2.connect(
                    host="127.0.0.1", port=self.port, user=DB_USER, dbname="postgres", connect_timeout=2
                )
            except psycopg2.OperationalError:
                conn = None
            if conn is not None:
                try:
                    conn.autocommit = True
                    with conn.cursor() as cur:
                        cur.execute("SHOW data_directory")
                        if Path(cur.fetchone()[0]).resolve() == self.data_dir.resolve():
                            cur.execute(f"CREATE DATABASE {DB_NAME}")
                            return
                finally:
                    conn.close()
            if time.monotonic() >= deadline:
                raise PostgresError(f"postgres not ready after {timeout:.0f}s: {self._tail()}")
            time.sleep(0.1)

    def _tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
