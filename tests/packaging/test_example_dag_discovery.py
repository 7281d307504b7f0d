"""Airflow's ``load_examples`` finds the provider's example DAGs, and logs no ERROR looking for them.

Airflow 3.3 adds an ``example_dags`` bundle per installed provider, importing a module named after the
distribution (``airflow-provider-flyte-async`` -> ``airflow_provider_flyte_async``). Before the shim
package of that name existed, every ``dags test`` / ``dag.test()`` / dag-processor start logged
``Could not load provider module airflow_provider_flyte_async for example DAG discovery`` with a
traceback. These tests go through the same calls the dag-processor and ``dag.test()`` make.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import flyte_async_provider

EXAMPLE_DAGS = (Path(flyte_async_provider.__file__).parent / "example_dags").resolve()
BUNDLE = "airflow-provider-flyte-async-example-dags"


@pytest.fixture
def load_examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow's defaults for a new user: ``load_examples`` on, an (empty) dags folder bundle."""
    dags = tmp_path / "dags"
    dags.mkdir()
    bundles = [
        {
            "name": "dags-folder",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(dags)},
        }
    ]
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "True")
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))


def test_the_import_name_airflow_derives_holds_the_example_dags() -> None:
    import airflow_provider_flyte_async

    folders = [(Path(p) / "example_dags").resolve() for p in airflow_provider_flyte_async.__path__]
    assert folders == [EXAMPLE_DAGS]
    assert airflow_provider_flyte_async.__version__ == flyte_async_provider.__version__


@pytest.mark.usefixtures("load_examples")
def test_load_examples_lists_our_example_dags_without_an_error(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow.dag_processing.bundles import manager as bundles_manager

    if not hasattr(bundles_manager, "_add_provider_example_dags_to_bundle"):
        pytest.skip("this Airflow (< 3.3) loads no provider example DAGs at all, so it cannot fail here")
    from airflow.dag_processing.dagbag import BundleDagBag

    with caplog.at_level(logging.ERROR):
        manager = bundles_manager.DagBundlesManager()
        bundle = manager.get_bundle(BUNDLE)
        bundle.initialize()
        bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)

    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    # Airflow's structlog setup may print instead of propagating to the root logger: check both.
    assert "example DAG discovery" not in capsys.readouterr().out
    assert Path(bundle.path).resolve() == EXAMPLE_DAGS
    assert bag.import_errors == {}
    assert {"example_flyte", "example_flyte_fanout"} <= set(bag.dag_ids)
