"""SQLite connect args for the stack's Airflow components (``[database] sql_alchemy_connect_args``).

sqlite3's default busy timeout is 5 s. On 2 busy cores the scheduler, dag-processor, API server and
triggerer can wait longer than that for the one write lock, and Airflow's scheduler exits on "database
is locked" (seen once in CI with nine DAG runs triggered at once). 20 s: longer waits than that are
answered "Database error" by the API server, which the harness's REST client retries, instead of
outlasting the client's own 30 s timeout (seen with 60 s). Imported by every component: keep it bare.
"""

from __future__ import annotations

from typing import Any

CONNECT_ARGS: dict[str, Any] = {"timeout": 20}
