"""The emulator's structure: one declaration of the control operations, no import circle, a free plugin."""

from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import flyte_async_provider.emulator as package
from flyte_async_provider.emulator import (
    Advance,
    EmulatorControlClient,
    FlyteAdminEmulator,
    Outcome,
)
from flyte_async_provider.emulator.operations import OPS, REQUIRED, ControlApi, Operation
from support.flyte import DOMAIN, LAUNCH_PLAN, PROJECT
from support.imports import find_cycle

EMULATOR_DIR = Path(package.__file__).parent
DOCS = Path(__file__).parents[2] / "docs" / "emulator.md"
CONTROL_METHODS = sorted(
    name for name, _ in inspect.getmembers(ControlApi, inspect.isfunction) if not name.startswith("_")
)


# -- imports --------------------------------------------------------------------------------------
def _imports(path: Path) -> set[str]:
    """Sibling modules ``path`` imports anywhere (module level, functions, TYPE_CHECKING blocks)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.update([node.module] if node.module else [a.name for a in node.names])
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("flyte_async_provider.emulator."):
                found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("flyte_async_provider.emulator."):
                    found.add(alias.name.split(".")[2])
    return {m.split(".")[0] for m in found}


def _import_graph() -> dict[str, set[str]]:
    return {p.stem: _imports(p) for p in EMULATOR_DIR.glob("*.py")}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path, or None (``__init__`` left out: it imports lazily)."""
    return find_cycle(graph, ignore=lambda module, target: target == "__init__")


def test_the_cycle_finder_finds_a_circle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle_and_nothing_below_the_server_imports_it() -> None:
    graph = _import_graph()
    assert {"server", "state", "operations", "http", "console", "servicer"} <= set(graph)
    assert _cycle(graph) is None
    importers = sorted(m for m, targets in graph.items() if "server" in targets)
    assert importers == ["__init__", "cli", "pytest_plugin"]


def test_the_pytest_plugin_imports_no_emulator_dependency() -> None:
    code = (
        "import sys, flyte_async_provider.emulator.pytest_plugin\n"
        "print([m for m in ('grpc', 'aiohttp', 'flyteidl', 'google.protobuf') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.replace("'", '"')) == []


def test_the_package_exports_resolve_lazily_to_their_modules() -> None:
    tree = ast.parse((EMULATOR_DIR / "__init__.py").read_text())
    checked = {
        alias.name: node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 1
        for alias in node.names
    }
    assert checked == package._MODULE_OF
    assert sorted(package.__all__) == sorted(package._MODULE_OF)
    for name, module in package._MODULE_OF.items():
        assert getattr(package, name).__module__ == f"{package.__name__}.{module}"
    with pytest.raises(AttributeError):
        package.NoSuchThing  # noqa: B018


# -- one declaration of the control operations ----------------------------------------------------
class _Recorder(ControlApi):
    def __init__(self) -> None:
        self.calls: list[tuple[Operation[Any], dict[str, Any]]] = []

    def _run(self, op: Operation[Any], /, **arguments: Any) -> Any:
        self.calls.append((op, arguments))
        return {"counters": {}, "succeeded": {}}  # what the two counter methods index into


@pytest.mark.parametrize("method", CONTROL_METHODS)
def test_each_method_passes_its_arguments_to_an_operation_with_the_same_parameters(method: str) -> None:
    recorder = _Recorder()
    signature = inspect.signature(getattr(ControlApi, method))
    params = [p for p in signature.parameters.values() if p.name != "self"]
    sentinels = {p.name: object() for p in params}
    getattr(recorder, method)(**sentinels)
    ((op, arguments),) = recorder.calls
    assert OPS[op.name] is op
    assert [p.name for p in op.params] == [p.name for p in params]
    assert all(arguments[name] is value for name, value in sentinels.items())
    assert [p.default for p in op.params] == [
        REQUIRED if p.default is inspect.Parameter.empty else p.default for p in params
    ]


def test_every_operation_has_a_method_of_its_name_and_an_apply_taking_its_parameters() -> None:
    used = set()
    for method in CONTROL_METHODS:
        recorder = _Recorder()
        params = [p for p in inspect.signature(getattr(ControlApi, method)).parameters if p != "self"]
        getattr(recorder, method)(**dict.fromkeys(params))
        used.add(recorder.calls[0][0].name)
    assert used == set(OPS)
    assert set(OPS) <= set(CONTROL_METHODS)
    for op in OPS.values():
        assert list(inspect.signature(op.apply).parameters)[1:] == [p.name for p in op.params]


@pytest.mark.parametrize("surface", [FlyteAdminEmulator, EmulatorControlClient])
def test_both_surfaces_use_the_shared_methods_unchanged(surface: type[ControlApi]) -> None:
    assert issubclass(surface, ControlApi)
    assert [m for m in CONTROL_METHODS if getattr(surface, m) is not getattr(ControlApi, m)] == []


def _drive(api: ControlApi) -> dict[str, Any]:
    """Every control method once, in an order where each succeeds; the results by method name."""
    names = ["rt-a", "rt-b", "rt-c", "rt-d"]
    steps: dict[str, Callable[[], Any]] = {
        "script": lambda: api.script(Outcome.fail("x", code="USER:X"), Advance.manual(), name_pattern="rt-c"),
        "set_default": lambda: api.set_default(Outcome.hang(), Advance.manual()),
        "rules": lambda: api.rules(),
        "create_executions": lambda: api.create_executions(
            PROJECT, DOMAIN, LAUNCH_PLAN, names, inputs={"seed": 1}
        ),
        "advance": lambda: api.advance(PROJECT, DOMAIN, "rt-a"),
        "complete": lambda: api.complete(PROJECT, DOMAIN, "rt-b", Outcome.time_out()),
        "complete_many": lambda: api.complete_many(PROJECT, DOMAIN, ["rt-c", "ghost"]),
        "terminate": lambda: api.terminate(PROJECT, DOMAIN, "rt-d", cause="stop", principal="bob"),
        "execution": lambda: api.execution(PROJECT, DOMAIN, "rt-d"),
        "phase_counts": lambda: api.phase_counts(),
        "clear_script": lambda: api.clear_script(),
        "inject_fault": lambda: api.inject_fault("GetExecution", error_rate=0.5, code="INTERNAL"),
        "clear_faults": lambda: api.clear_faults(),
        "start_outage": lambda: api.start_outage(30.0),
        "end_outage": lambda: api.end_outage(),
        "counters": lambda: api.counters(),
        "success_counters": lambda: api.success_counters(),
        "reset_counters": lambda: api.reset_counters(),
        "expire_tokens": lambda: api.expire_tokens(),
        "health": lambda: sorted(api.health()),
    }
    results = {name: step() for name, step in steps.items()}
    assert sorted(results) == CONTROL_METHODS
    return results


def test_in_process_and_over_http_give_the_same_results(
    flyte_admin_emulator_factory: Any,
) -> None:
    def clock() -> float:
        return 1_700_000_000.0

    local = flyte_admin_emulator_factory(clock=clock)
    remote = flyte_admin_emulator_factory(clock=clock)
    here, there = _drive(local), _drive(EmulatorControlClient(remote.http_url))
    assert here == there
    assert here["phase_counts"] == {"QUEUED": 1, "TIMED_OUT": 1, "FAILED": 1, "ABORTING": 1}


# -- the reference in docs/emulator.md ------------------------------------------------------------
def render_reference() -> str:
    """The control-operation table of docs/emulator.md, from OPS and the ControlApi docstrings."""
    rows = ["| operation | arguments | result | what it does |", "|---|---|---|---|"]
    for op in OPS.values():
        args = ", ".join(
            f"`{p.name}`: {p.codec.json}" + ("" if p.default is REQUIRED else f" = `{json.dumps(p.default)}`")
            for p in op.params
        )
        doc = (inspect.getdoc(getattr(ControlApi, op.name)) or "").splitlines()[0].replace("``", "`")
        rows.append(f"| `{op.name}` | {args or '-'} | `{op.result.json}` | {doc} |")
    return "\n".join(rows) + "\n"


def test_the_docs_list_every_operation_as_declared() -> None:
    expected = render_reference()
    assert expected in DOCS.read_text(), f"docs/emulator.md should contain this table:\n{expected}"
