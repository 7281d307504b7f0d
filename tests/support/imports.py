"""Import-graph checks shared by the layout tests (the package's and the emulator's own)."""

from __future__ import annotations

from collections.abc import Callable, Mapping


def find_cycle(
    graph: Mapping[str, set[str]], ignore: Callable[[str, str], bool] = lambda module, target: False
) -> list[str] | None:
    """One import circle as a path (first node repeated at the end), or None; depth first.

    ``ignore(module, target)`` drops an edge that is no circle at import time (e.g. a package's
    ``__init__`` that imports lazily, or a submodule importing its own parent package).
    """
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for target in sorted(graph.get(module, ())):
            if ignore(module, target):
                continue
            found = visit(target, [*path, module])
            if found:
                return found
        done.add(module)
        return None

    for module in sorted(graph):
        found = visit(module, [])
        if found:
            return found
    return None
