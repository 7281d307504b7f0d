"""Test-wide setup: an isolated AIRFLOW_HOME so tests never touch a user's Airflow."""

from __future__ import annotations

import os
import tempfile

_home = tempfile.mkdtemp(prefix="flyte-provider-tests-airflow-")
os.environ.setdefault("AIRFLOW_HOME", _home)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
