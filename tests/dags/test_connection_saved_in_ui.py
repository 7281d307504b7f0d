"""A connection saved in Airflow's UI (i.e. in its database) works from a user's Python shell.

Airflow 3's task-SDK lookup reads the database only inside Airflow processes; a shell saw "isn't
defined". The child process below is that shell: no supervisor, no ``AIRFLOW_CONN_*`` variable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from support.flyte import DOMAIN, PROJECT

SHELL = """
import logging, json
logging.basicConfig(level=logging.INFO)
from flyte_async_provider.hooks.flyte import FlyteHook
print("RESULT " + json.dumps(FlyteHook("flyte_saved_in_ui").test_connection()))
"""


@pytest.fixture
def saved_connection(airflow_db: None, flyte: Any) -> Any:
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    host, port = flyte.grpc_endpoint.rsplit(":", 1)
    conn = Connection(
        conn_id="flyte_saved_in_ui",
        conn_type="flyte",
        host=host,
        port=int(port),
        # As the UI's form saves it: every untouched extra as null.
        extra=json.dumps({"insecure": True, "project": PROJECT, "domain": DOMAIN, "auth_mode": None}),
    )
    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == conn.conn_id).delete()
        session.add(conn)
    yield flyte
    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == conn.conn_id).delete()


def test_hook_test_connection_from_a_shell_finds_the_connection_saved_in_the_ui(
    saved_connection: Any,
) -> None:
    from airflow.configuration import conf

    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.pop("_AIRFLOW_PROCESS_CONTEXT", None)
    # Unit-test mode makes a fernet key per process; a real installation has one in airflow.cfg.
    env["AIRFLOW__CORE__FERNET_KEY"] = conf.get("core", "fernet_key")
    out = subprocess.run(
        [sys.executable, "-c", SHELL], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    (line,) = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    ok, message = json.loads(line.removeprefix("RESULT "))
    assert ok, message
    assert f"listed executions of {PROJECT}/{DOMAIN}" in message
    # The flytekit auth-plugin line no longer opens every log; the shell's own INFO logging still works.
    assert "Using registered auth plugin" not in out.stdout + out.stderr
    assert "INFO" in out.stderr
