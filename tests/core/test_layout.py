"""The package layout keeps its roles: no import circle, and a deployed Airflow never loads the testing kit.

``hooks``, ``operators``, ``sensors``, ``triggers``, ``links``, ``admin``, ``spec``,
``flytekit_config``, ``user_marks`` and the top-level modules are what Airflow imports; ``emulator``
and ``demo`` (the stack harness) are the testing kit users test their DAGs with. A runtime module
importing the kit, even lazily, would put a test server on every worker's import path.
"""

from __future__ import annotations

import ast
from pathlib import Path

import flyte_async_provider
from support.imports import find_cycle

SRC = Path(flyte_async_provider.__file__).parent
PACKAGE = "flyte_async_provider"
TESTING_KIT = ("emulator", "demo")


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PACKAGE, *parts))


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imported(node: ast.stmt, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level == 0:
            base = node.module or ""
        else:
            anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
            base = ".".join([*anchor, *([node.module] if node.module else [])])
        return [base] + [f"{base}.{a.name}" for a in node.names]
    return []


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """Our modules ``path`` imports: at import time (no function body, no TYPE_CHECKING) or anywhere."""
    module, is_package = _module_name(path), path.name == "__init__.py"
    tree = ast.parse(path.read_text())
    if top_level_only:
        nodes: list[ast.stmt] = []
        pending = list(tree.body)
        while pending:
            node = pending.pop()
            if isinstance(node, ast.If) and not _is_type_checking(node):
                pending.extend(node.body + node.orelse)
            elif isinstance(node, ast.Try):
                pending.extend(node.body + node.orelse + node.finalbody)
                pending.extend(s for h in node.handlers for s in h.body)
            else:
                nodes.append(node)
    else:
        nodes = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    return {name for n in nodes for name in _imported(n, module, is_package) if name.startswith(PACKAGE)}


def _graph(*, top_level_only: bool) -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    return {
        name: {t for t in _imports(path, top_level_only=top_level_only) if t in modules and t != name}
        for name, path in modules.items()
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    # Importing a.b.c runs a/__init__ and a/b/__init__ first: a submodule importing its own package
    # is not a circle.
    return find_cycle(graph, ignore=lambda module, target: module.startswith(target + "."))


def test_the_cycle_finder_finds_a_circle_and_knows_packages() -> None:
    assert _cycle({"p.a": {"p.b"}, "p.b": {"p.a"}}) == ["p.a", "p.b", "p.a"]
    assert _cycle({"p": {"p.a"}, "p.a": {"p"}}) is None


def test_src_has_no_import_circle_at_import_time() -> None:
    graph = _graph(top_level_only=True)
    assert f"{PACKAGE}.spec.options" in graph[f"{PACKAGE}.hooks.flyte"]  # the walk sees real edges
    assert _cycle(graph) is None


def test_runtime_modules_never_import_the_testing_kit() -> None:
    kit = tuple(f"{PACKAGE}.{name}" for name in TESTING_KIT)
    offenders = {
        module: sorted(t for t in targets if t.startswith(kit))
        for module, targets in _graph(top_level_only=False).items()
        if not module.startswith(kit) and any(t.startswith(kit) for t in targets)
    }
    assert offenders == {}


def test_the_async_admin_client_does_not_reach_up_into_the_airflow_surface() -> None:
    """admin/ is below hooks/operators/sensors/triggers: they use it, never the other way round."""
    above = tuple(f"{PACKAGE}.{name}" for name in ("hooks", "operators", "sensors", "triggers", "links"))
    offenders = {
        module: sorted(t for t in targets if t.startswith(above))
        for module, targets in _graph(top_level_only=False).items()
        if module.startswith(f"{PACKAGE}.admin") and any(t.startswith(above) for t in targets)
    }
    assert offenders == {}


# docs/development.md's layers, first to last: at import time a module imports only its own layer and
# the ones before it.
LAYERS = (
    ("_compat",),
    ("phases", "exceptions", "events", "outcome", "execution_ref"),
    ("config", "connection_form", "tls_mismatch"),
    ("spec",),
    ("admin", "connections"),
    ("flytekit_config",),
    ("hooks",),
    ("triggers",),
    ("links", "operators", "sensors", "user_marks"),
    ("provider_info", "example_dags", "__init__"),
)


def _layer(module: str) -> int | None:
    top = module.split(".")[1] if "." in module else "__init__"
    return next((i for i, names in enumerate(LAYERS) if top in names), None)


def test_modules_import_only_their_own_layer_and_the_ones_before_it_at_import_time() -> None:
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in _graph(top_level_only=True).items()
        for target in targets
        if (here := _layer(module)) is not None
        and (there := _layer(target)) is not None
        and there > here
        and not module.startswith(target + ".")
    )
    assert upward == []


def test_every_runtime_module_has_a_layer() -> None:
    kit = tuple(f"{PACKAGE}.{name}" for name in TESTING_KIT)
    homeless = sorted(m for m in _graph(top_level_only=True) if not m.startswith(kit) and _layer(m) is None)
    assert homeless == []
