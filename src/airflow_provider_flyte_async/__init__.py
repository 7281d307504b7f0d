"""The import name Airflow derives from our distribution name; it exists only for that.

Airflow 3.3 finds providers' example DAGs by importing ``package-name.replace("-", "_")``
(``airflow-provider-flyte-async`` -> this module) and looking for ``example_dags`` under its
``__path__`` (``dag_processing/bundles/manager.py``). Without this module every ``airflow dags test``,
``dag.test()`` and dag-processor start with ``load_examples`` on logged an ERROR with a traceback.

Its ``__path__`` is ``flyte_async_provider``'s directory, so Airflow adds
``flyte_async_provider/example_dags`` as bundle ``airflow-provider-flyte-async-example-dags``.
Not an import name for code: import ``flyte_async_provider`` (a submodule imported through this name
would be a second copy of it).
"""

from __future__ import annotations

import flyte_async_provider
from flyte_async_provider import __version__

__all__ = ["__version__"]
__path__ = list(flyte_async_provider.__path__)
