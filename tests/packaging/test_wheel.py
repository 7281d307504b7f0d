"""``make dist`` builds what a user installs, and that wheel alone makes a working Airflow provider.

The quickstart installs from the built wheel (the package is not on an index), so these tests run the
real ``make dist`` and install its wheel into a *fresh* venv with all its dependencies resolved
against the package index: nothing is borrowed from the project's ``.venv`` (whose editable install
would hide a file missing from the wheel). uv does the install (the Makefile already uses it) because
it takes seconds from its cache where pip takes minutes; the wheel and its metadata are the same.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest

import flyte_async_provider

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
DIST_NAME = "airflow-provider-flyte-async"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``make dist`` into a temporary folder (``-o``: never rebuild .venv from inside a test)."""
    out = tmp_path_factory.mktemp("dist")
    stamp = VENV_BIN.parent / ".installed"
    subprocess.run(
        ["make", "-C", str(REPO), "-o", str(stamp), "dist", f"DIST={out}", f"VENV={VENV_BIN.parent}"],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return out


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("*.whl")
    return wheel


def _metadata(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        return Parser().parsestr(zf.read(name).decode())


def test_make_dist_builds_an_sdist_and_a_wheel_of_this_version(dist: Path) -> None:
    version = flyte_async_provider.__version__
    assert sorted(p.name for p in dist.iterdir()) == [
        f"airflow_provider_flyte_async-{version}-py3-none-any.whl",
        f"airflow_provider_flyte_async-{version}.tar.gz",
    ]


def test_the_metadata_says_what_an_index_page_and_pip_need(dist: Path) -> None:
    meta = _metadata(_wheel(dist))
    assert meta["Name"] == DIST_NAME
    assert meta["Version"] == flyte_async_provider.__version__
    assert "Flyte" in meta["Summary"]
    assert meta["Description-Content-Type"] == "text/markdown"
    assert "FlyteOperator" in meta.get_payload()  # the README is the long description
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["License-File"] == "LICENSE"
    assert meta["Requires-Python"] == ">=3.10"
    assert "flyte" in meta["Keywords"].split(",")
    assert meta.get_all("Project-URL")
    classifiers = meta.get_all("Classifier")
    assert "Framework :: Apache Airflow :: Provider" in classifiers
    assert "Programming Language :: Python :: 3.10" in classifiers
    requires = meta.get_all("Requires-Dist")
    assert any(r.startswith("apache-airflow<4,>=3.1.0") for r in requires)
    assert any(r.startswith("flytekit") for r in requires)


def test_the_wheel_holds_both_import_names_the_example_dags_and_no_repository_files(dist: Path) -> None:
    with zipfile.ZipFile(_wheel(dist)) as zf:
        names = set(zf.namelist())
    assert {
        "flyte_async_provider/__init__.py",
        "flyte_async_provider/py.typed",
        "flyte_async_provider/example_dags/example_flyte.py",
        "flyte_async_provider/example_dags/example_flyte_fanout.py",
        "flyte_async_provider/emulator/cli.py",
        "airflow_provider_flyte_async/__init__.py",
    } <= names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "docs/", "src/"))]


def _fresh_env(venv: Path, airflow_home: Path) -> dict[str, str]:
    """The user's shell after ``. venv/bin/activate``: no AIRFLOW_* or PYTHONPATH from this test run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env["AIRFLOW_HOME"] = str(airflow_home)
    return env


def test_the_wheel_installs_in_a_fresh_venv_and_airflow_lists_the_provider(
    dist: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    uv = shutil.which("uv", path=str(VENV_BIN))
    subprocess.run(
        [sys.executable, "-m", "venv", *(["--without-pip"] if uv else []), str(venv)],
        check=True,
        timeout=120,
    )
    python = venv / "bin" / "python"
    install = [uv, "pip", "install", "--python", str(python)] if uv else [str(python), "-m", "pip", "install"]
    done = subprocess.run(
        [*install, str(_wheel(dist))], capture_output=True, text=True, timeout=900, cwd=tmp_path
    )
    assert done.returncode == 0, f"installing the wheel (package index needed):\n{done.stderr[-3000:]}"

    home = tmp_path / "airflow-home"
    env = _fresh_env(venv, home)
    listed = subprocess.run(
        [str(venv / "bin" / "airflow"), "providers", "list", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    providers = {p["package_name"]: p for p in json.loads(listed.stdout)}
    assert providers[DIST_NAME]["version"] == flyte_async_provider.__version__
    assert (home / "airflow.cfg").is_file()  # Airflow used the isolated AIRFLOW_HOME, not ~/airflow

    # The code Airflow loaded is the wheel's, inside the fresh venv (not this checkout's src/).
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import flyte_async_provider as a, airflow_provider_flyte_async as b;"
            "print(a.__file__, *b.__path__)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    paths = [Path(p) for p in where.stdout.split()]
    assert all(p.is_relative_to(venv) for p in paths), paths
    assert (paths[1] / "example_dags" / "example_flyte.py").is_file()
    emulator = subprocess.run(
        [str(venv / "bin" / "flyte-admin-emulator"), "--help"], capture_output=True, timeout=120, env=env
    )
    assert emulator.returncode == 0
