"""The harness's own PostgreSQL server: unprivileged, on 127.0.0.1, and gone afterwards, even after a
failure. Skipped only where the machine has no server binaries (this machine kind and CI have them).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import pytest

from flyte_async_provider.demo.postgres import PostgresServer, unavailable_reason
from flyte_async_provider.demo.stack import StackSettings, free_port, poll_until

pytestmark = pytest.mark.e2e

REASON = unavailable_reason()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _owner(pid: int) -> int:
    return Path(f"/proc/{pid}").stat().st_uid


@pytest.mark.skipif(REASON is not None, reason=REASON or "")
def test_server_runs_unprivileged_on_loopback_and_leaves_nothing_behind() -> None:
    psycopg2: Any = importlib.import_module("psycopg2")
    with PostgresServer(free_port()) as pg:
        assert pg.popen is not None
        pid, root = pg.popen.pid, pg.root
        assert _owner(pid) != 0 or os.geteuid() != 0  # as root, the server runs as another user
        conn = psycopg2.connect(host="127.0.0.1", port=pg.port, user="airflow", dbname="airflow")
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW listen_addresses")
                assert cur.fetchone()[0] == "127.0.0.1"
        finally:
            conn.close()
        assert pg.url.startswith(f"postgresql+psycopg2://airflow@127.0.0.1:{pg.port}/")
    poll_until(lambda: not _alive(pid), timeout=10, interval=0.1, what="postgres to exit")
    assert not root.exists()


@pytest.mark.skipif(REASON is not None, reason=REASON or "")
def test_a_failed_start_stops_the_server_and_removes_its_directory() -> None:
    taken = free_port()
    first = PostgresServer(taken).start()
    try:
        second = PostgresServer(taken)  # the same port: this server cannot start
        with pytest.raises(RuntimeError):
            second.start(timeout=20)
        assert not second.alive()
        assert not second.root.exists()
    finally:
        first.stop()


def test_several_triggerers_need_postgres() -> None:
    with pytest.raises(ValueError, match="postgres"):
        StackSettings(triggerers=2)
    assert StackSettings(triggerers=2, database="postgres").triggerers == 2
