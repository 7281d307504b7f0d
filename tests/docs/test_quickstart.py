"""docs/quickstart.md is a script a new user follows literally: its commands, values and order hold.

Each test reads the command or value out of the document itself, so editing the doc into something
that does not work (a connection whose console links hit the gRPC port, an ``airflow`` command before
``AIRFLOW_HOME`` is set, an emulator flag that does not exist) fails here, not in a user's first hour.
"""

from __future__ import annotations

import ast
import asyncio
import fnmatch
import json
import re
import shlex
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import flyte_async_provider
from flyte_async_provider.emulator import FlyteAdminEmulator
from flyte_async_provider.emulator.cli import airflow_connection_json, build_parser, emulator_from_args
from support.flyte import DOMAIN, LAUNCH_PLAN, PROJECT

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = (REPO / "docs" / "quickstart.md").read_text()
EXAMPLE_DAG = Path(flyte_async_provider.__file__).parent / "example_dags" / "example_flyte.py"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", QUICKSTART, flags=re.M | re.S)


def _commands() -> list[str]:
    """Every shell command line of the quickstart in order (comments and output lines dropped).

    A quoted value spanning lines (the connection JSON) stays one command.
    """
    lines: list[str] = []
    for block in _blocks("bash"):
        pending = ""
        for raw in block.replace("\\\n", " ").splitlines():
            line = raw if pending else raw.split(" #", 1)[0].strip()
            if not pending and (not line or line.startswith("#")):
                continue
            pending = f"{pending}\n{line}" if pending else line
            try:
                shlex.split(pending)
            except ValueError:  # an open quote: the command goes on on the next line
                continue
            lines.append(pending)
            pending = ""
        assert not pending, f"unclosed quote in {pending!r}"
    return lines


def _words(command: str) -> list[list[str]]:
    """The program and arguments of each command of a line (``a && b; c & d | e`` -> a, b, c, d, e)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in {"&&", "||", ";", "&", "|"}:
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def _emulator_command_lines() -> list[list[str]]:
    return [w for c in _commands() for w in _words(c) if w and w[0] == "flyte-admin-emulator"]


def _documented_connection() -> dict[str, Any]:
    match = re.search(r"export AIRFLOW_CONN_FLYTE_DEFAULT='(.*?)'", QUICKSTART, flags=re.S)
    assert match, "the quickstart exports AIRFLOW_CONN_FLYTE_DEFAULT"
    value: dict[str, Any] = json.loads(match.group(1))
    return value


@pytest.fixture
def quickstart_emulator() -> Iterator[FlyteAdminEmulator]:
    """The emulator exactly as step 2 starts it, except on free ports (tests share the machine)."""
    args = _emulator_command_lines()[0][1:]
    for flag in ("--port", "--http-port"):
        args[args.index(flag) + 1] = "0"
    emu = emulator_from_args(build_parser().parse_args(args))
    emu.start_in_thread()
    yield emu
    emu.stop_in_thread()


def _documented_connection_for(emu: FlyteAdminEmulator) -> dict[str, Any]:
    """The quickstart's connection with its ports (8089 gRPC, 8090 HTTP) replaced by ``emu``'s."""
    conn = _documented_connection()
    doc_args = _emulator_command_lines()[0]
    grpc_port = int(doc_args[doc_args.index("--port") + 1])
    http_port = int(doc_args[doc_args.index("--http-port") + 1])
    assert conn["port"] == grpc_port
    assert conn["extra"]["console_endpoint"] == f"http://127.0.0.1:{http_port}"
    conn["port"] = emu.grpc_port
    conn["extra"]["console_endpoint"] = emu.http_url
    return conn


def test_airflow_home_is_set_before_the_first_airflow_command() -> None:
    commands = _commands()
    first_airflow = next(i for i, c in enumerate(commands) if any(w[:1] == ["airflow"] for w in _words(c)))
    exports = [i for i, c in enumerate(commands) if c.startswith("export AIRFLOW_HOME=")]
    assert exports, "the quickstart sets AIRFLOW_HOME"
    assert exports[0] < first_airflow, commands[first_airflow]
    pip_install = next(i for i, c in enumerate(commands) if c.startswith("pip install"))
    assert exports[0] < pip_install  # even the install's first airflow import sees it


def test_the_install_is_the_wheel_make_dist_builds() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^dist:", makefile, flags=re.M)
    commands = _commands()
    assert "make dist" in commands
    (install,) = [c for c in commands if c.startswith("pip install")]
    pattern = Path(shlex.split(install)[-1]).name
    wheel = f"airflow_provider_flyte_async-{flyte_async_provider.__version__}-py3-none-any.whl"
    assert fnmatch.fnmatch(wheel, pattern), (pattern, wheel)
    assert wheel in QUICKSTART  # the `ls dist/` output names this version


@pytest.mark.parametrize("doc", ["docs/quickstart.md", "docs/migration.md", "README.md"])
def test_no_doc_installs_from_an_index_that_does_not_have_the_package(doc: str) -> None:
    text = (REPO / doc).read_text()
    assert not re.search(r"pip install\s+airflow-provider-flyte-async\b", text)


def test_every_emulator_command_parses_and_step_6_slows_it_down() -> None:
    lines = _emulator_command_lines()
    assert len(lines) >= 2
    parsed = [build_parser().parse_args(line[1:]) for line in lines]
    assert parsed[0].advance_seconds is None  # step 2: the default pace, one phase per second
    assert parsed[-1].advance_seconds is not None
    assert parsed[-1].advance_seconds >= 5


def test_the_connection_is_the_one_the_emulator_prints(quickstart_emulator: FlyteAdminEmulator) -> None:
    printed = json.loads(airflow_connection_json(quickstart_emulator))
    assert _documented_connection_for(quickstart_emulator) == printed


def test_the_connections_console_links_open_on_the_emulators_http_port(
    quickstart_emulator: FlyteAdminEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flyte_async_provider.connections import aget_connection_config, clear_connection_cache

    conn = _documented_connection_for(quickstart_emulator)
    monkeypatch.setenv("AIRFLOW_CONN_FLYTE_DEFAULT", json.dumps(conn))
    clear_connection_cache()
    config = asyncio.run(aget_connection_config("flyte_default"))
    name = "quickstart-link"
    assert quickstart_emulator.create_executions(PROJECT, DOMAIN, LAUNCH_PLAN, [name]) == 1
    url = config.console_url(PROJECT, DOMAIN, name)
    assert url.startswith(f"{quickstart_emulator.http_url}/console/")
    with urllib.request.urlopen(url, timeout=10) as response:  # what the browser does with the link
        assert response.status == 200
        assert name in response.read().decode()


def test_the_dag_shown_is_the_example_dag() -> None:
    def code(source: str) -> str:
        tree = ast.parse(source)
        body = [n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
        body = [n for n in body if not (isinstance(n, ast.ImportFrom) and n.module == "__future__")]
        for node in ast.walk(ast.Module(body=body, type_ignores=[])):
            if isinstance(node, ast.Call):
                node.keywords = [k for k in node.keywords if k.arg != "tags"]
        return ast.dump(ast.Module(body=body, type_ignores=[]))

    shown = next(b for b in _blocks("python") if "with DAG(" in b)
    assert code(shown) == code(EXAMPLE_DAG.read_text())


def test_step_6_names_the_password_file_airflow_writes_and_copies_the_run_id_from_json() -> None:
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    assert f"$AIRFLOW_HOME/{Path(SimpleAuthManager.get_generated_password_file()).name}" in QUICKSTART
    assert "airflow dags trigger example_flyte -o json" in _commands()
    # Where Airflow 3.3's UI renders extra links: the task instance's Details tab, under "Extra Links".
    prose = " ".join(QUICKSTART.split())
    assert "**Details** tab has the **Flyte Console** button, under *Extra Links*" in prose


def test_the_connection_check_prints_what_the_doc_shows(
    quickstart_emulator: FlyteAdminEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flyte_async_provider.hooks.flyte import FlyteHook

    (command,) = [c for c in _commands() if "test_connection()" in c]
    shown = QUICKSTART.split(command, 1)[1].split("\n# ", 1)[1].split("\n", 1)[0]
    conn = _documented_connection_for(quickstart_emulator)
    monkeypatch.setenv("AIRFLOW_CONN_FLYTE_DEFAULT", json.dumps(conn))
    doc_port = str(_documented_connection()["port"])
    assert str(FlyteHook().test_connection()) == shown.replace(doc_port, str(quickstart_emulator.grpc_port))
