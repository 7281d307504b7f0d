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
import os
import re
import shlex
import subprocess
import sys
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
SOURCE = REPO / "src" / "flyte_async_provider"
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


# ---------------------------------------------------------------------------------- quoted log lines
# A quoted log line is "... <message>": "..." at the start stands for the timestamp and level, "..."
# elsewhere for left-out text, "…" for one varying value (a name, a date: no spaces).
STEP_5_WORKER = "The log (each line after its timestamp and level"
STEP_5_DEFERRED = "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE=true airflow dags test example_flyte"
STEP_6_LOGS = "The **Logs** tab has the worker's part"
PHASE_LINE = re.compile(r"Flyte execution \S+ is [A-Z_]+")
TERMINAL_PHASES = {"SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"}


def _quoted_log_lines(marker: str) -> list[str]:
    """The log lines of the first code block at or after ``marker`` (its "... " or "# ... " lines)."""
    at = QUICKSTART.find(marker)
    assert at >= 0, marker
    blocks = re.finditer(r"^```[a-z]*\n(.*?)^```", QUICKSTART, flags=re.M | re.S)
    block = next((b for b in blocks if b.end() > at), None)  # the block holding or following marker
    assert block, f"no code block after {marker!r}"
    lines = [re.sub(r"^(# )?\.\.\. ", "", line) for line in block.group(1).splitlines()]
    quoted = [line for line, raw in zip(lines, block.group(1).splitlines(), strict=True) if line != raw]
    assert quoted, f"no quoted log line after {marker!r}"
    return quoted


def _line_pattern(quoted: str, http_url: str = "http://127.0.0.1:8090") -> re.Pattern[str]:
    """A quoted line as a regex over the real message (console URLs on ``http_url``)."""
    text = quoted.replace("http://127.0.0.1:8090", http_url)
    pattern = re.escape(text).replace(r"\.\.\.", ".*").replace("…", r"\S+")
    phase = re.fullmatch(r"Flyte execution … is ([A-Z_]+)", quoted)
    if phase and phase.group(1) not in TERMINAL_PHASES:
        # Which phases between launch and end a poll sees depends on timing; the line's form does not.
        pattern = pattern.replace(phase.group(1), "[A-Z_]+")
    return re.compile(pattern)


def _provider_log_formats() -> list[str]:
    """Every literal format string the provider passes to a logger (``self.log.info("...", ...)``)."""
    formats: list[str] = []
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"debug", "info", "warning", "error", "exception"}
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                formats.append(node.args[0].value)
    return formats


def _format_pattern(fmt: str) -> re.Pattern[str]:
    parts = re.split(r"(%[sdgr%])", fmt)
    specs = {"%s": ".+?", "%r": ".+?", "%d": r"\d+", "%g": r"[0-9.e+-]+", "%%": "%"}
    return re.compile("".join(specs.get(part, re.escape(part)) for part in parts))


@pytest.mark.parametrize("marker", [STEP_5_WORKER, STEP_5_DEFERRED, STEP_6_LOGS])
def test_every_quoted_flyte_line_is_one_the_provider_logs(marker: str) -> None:
    """Each quoted line about Flyte is what one of the provider's log calls prints (word for word)."""
    formats = [_format_pattern(f) for f in _provider_log_formats()]
    assert formats
    for quoted in _quoted_log_lines(marker):
        if "Flyte" not in quoted:
            continue  # Airflow's own lines
        assert any(f.fullmatch(quoted) for f in formats), f"no provider log call prints {quoted!r}"
        if PHASE_LINE.match(quoted):  # phase lines stay short: no URL, nothing after the phase
            assert PHASE_LINE.fullmatch(quoted), quoted


def _events(output: str) -> list[tuple[str, str]]:
    """Message and logger of Airflow's console log lines (``<time> [<level>] <message> [<logger>] k=v``)."""
    line = re.compile(r"^\S+Z \[\s*\w+\s*\] (?P<event>.*?)(?: \[(?P<logger>[A-Za-z_][\w.]*)\](?: \w+=.*)?)?$")
    matches = [m for m in map(line.match, output.splitlines()) if m]
    return [(m.group("event").rstrip(), m.group("logger") or "") for m in matches]


def _in_order(quoted: list[str], events: list[str], http_url: str) -> None:
    remaining = iter(events)
    for line in quoted:
        pattern = _line_pattern(line, http_url)
        assert any(pattern.fullmatch(e) for e in remaining), (
            f"quoted {line!r} not in the log (in this order):\n" + "\n".join(events)
        )


@pytest.fixture(scope="module")
def dags_test_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[FlyteAdminEmulator, dict[str, str]]]:
    """Steps 4-5 as the doc gives them, in a fresh AIRFLOW_HOME, against the emulator of step 2.

    The doc's own command lines run in bash (the copy of the DAG, ``db migrate``, both ``dags test``);
    only the ports are the emulator's free ones. Returns each ``dags test`` command's output.
    """
    import airflow
    from packaging.version import Version

    if Version(airflow.__version__).release < (3, 3):
        pytest.skip("the quickstart installs the current Airflow (3.3); Airflow's own lines differ before")
    args = _emulator_command_lines()[0][1:]
    for flag in ("--port", "--http-port"):
        args[args.index(flag) + 1] = "0"
    emu = emulator_from_args(build_parser().parse_args(args))
    emu.start_in_thread()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        steps_1_3 = QUICKSTART.split("## 4. The DAG", 1)[0]
        for command in (c for c in _commands() if c in steps_1_3):  # step 6's exports come later
            if command.startswith("export AIRFLOW_CONN_FLYTE_DEFAULT="):
                env["AIRFLOW_CONN_FLYTE_DEFAULT"] = json.dumps(_documented_connection_for(emu))
            elif command.startswith("export AIRFLOW_HOME="):
                env["AIRFLOW_HOME"] = str(tmp_path_factory.mktemp("quickstart") / "airflow-home")
            elif command.startswith("export AIRFLOW__"):
                key, value = shlex.split(command)[1].split("=", 1)
                env[key] = value
        assert "AIRFLOW_HOME" in env
        assert "AIRFLOW_CONN_FLYTE_DEFAULT" in env
        step_4_5 = QUICKSTART.split("## 4. The DAG", 1)[1].split("## 6.", 1)[0]
        outputs: dict[str, str] = {}
        for command in _commands():
            if command in step_4_5 and not command.startswith('python -c "from flyte_async_provider'):
                done = subprocess.run(
                    ["bash", "-c", command], env=env, capture_output=True, text=True, timeout=240
                )
                assert done.returncode == 0, (command, done.stdout[-3000:], done.stderr[-3000:])
                outputs[command] = done.stdout + done.stderr
        yield emu, outputs
    finally:
        emu.stop_in_thread()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("marker", "command"),
    [
        (STEP_5_WORKER, "airflow dags test example_flyte"),
        (STEP_5_DEFERRED, STEP_5_DEFERRED),
    ],
)
def test_step_5_log_lines_are_what_dags_test_prints(
    dags_test_runs: tuple[FlyteAdminEmulator, dict[str, str]], marker: str, command: str
) -> None:
    emu, outputs = dags_test_runs
    assert command in outputs, sorted(outputs)
    events = _events(outputs[command])
    messages = [message for message, _ in events]
    _in_order(_quoted_log_lines(marker), messages, emu.http_url)
    phase_lines = [m for m in messages if PHASE_LINE.fullmatch(m)]
    assert phase_lines
    assert all(len(m) <= 100 for m in phase_lines), phase_lines
    # The console URL of FlyteOperator's execution: once after the launch, and (deferred) once at the end.
    urls = [m for m, logger in events if "/console/" in m and ".sensors." not in logger]
    assert len(urls) == (2 if command == STEP_5_DEFERRED else 1), urls
