"""What code a real run executes: a picklable ``RunPlan`` read from the registered entities.

A workflow execution runs the workflow object named like the workflow (``pkg.module.wf`` ->
``import pkg.module``; attribute ``wf``); a single-task execution (``.flytegen.<task>`` workflow) runs
the task, loaded the way ``pyflyte-execute`` loads it (the template's ``--resolver`` and its loader
args). The code comes from the fast-registration archives the task templates name
(``pyflyte-fast-execute --additional-distribution <native url>``; they must be in the emulator's blob
store) or, without one, from the emulator's own ``sys.path`` (``--register module:workflow``).

Only flytekit's Python tasks can run in the emulator's worker processes; a workflow with another
task type (a container task, a plugin that needs its backend: Spark, Ray, agents, …) is not
runnable, and ``plan_run`` says why instead of returning a plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from flyteidl.core import identifier_pb2, tasks_pb2

from .blobstore import BlobStore
from .entities import EntityStore
from .errors import EmulatorError

RUNNABLE_TASK_TYPES = frozenset({"python-task", "container_array"})
SINGLE_TASK_PREFIX = ".flytegen."


@dataclass(frozen=True)
class RunPlan:
    """Everything a worker process needs besides the inputs (plain values: it crosses a pipe)."""

    kind: str  # "workflow" or "task"
    module: str  # workflow: the module to import; task: the resolver's location
    attribute: str  # workflow: the attribute path in the module; task: "" (loader args say it)
    loader_args: tuple[str, ...]
    archives: tuple[str, ...]  # local paths of .tar.gz code archives, extracted in order
    label: str  # the entity name, for messages


@dataclass(frozen=True)
class NotRunnable:
    """Why an execution cannot run here (becomes its SYSTEM error)."""

    reason: str


def plan_run(
    entities: EntityStore,
    blobs: BlobStore,
    workflow_id: identifier_pb2.Identifier,
    aliases: Mapping[str, str],
) -> RunPlan | NotRunnable:
    """The plan for an execution of ``workflow_id``. ``aliases`` maps registered module names to
    importable ones (the bundled example is registered under its flytesnacks module name)."""
    try:
        workflow = entities.get_workflow(workflow_id)
    except EmulatorError as err:
        return NotRunnable(f"workflow {workflow_id.name} is not registered: {err.message}")
    compiled = workflow.closure.compiled_workflow
    archives: list[str] = []
    for task in compiled.tasks:
        template = task.template
        if template.type not in RUNNABLE_TASK_TYPES:
            return NotRunnable(
                f"task {template.id.name} has type {template.type!r}, which needs its own backend "
                f"(the emulator runs only {', '.join(sorted(RUNNABLE_TASK_TYPES))} tasks)"
            )
        args = list(template.container.args)
        if "--resolver" not in args:
            return NotRunnable(
                f"task {template.id.name} is not a flytekit task (no --resolver in its command)"
            )
        archive = _option(args, "--additional-distribution")
        if archive is not None:
            try:
                path = str(blobs.local_path(archive))
            except EmulatorError as err:
                return NotRunnable(f"code archive of task {template.id.name}: {err.message}")
            if not blobs.exists(blobs.key_for_native_url(archive)):
                return NotRunnable(f"code archive {archive} of task {template.id.name} was never uploaded")
            if path not in archives:
                archives.append(path)
    name = workflow_id.name
    if name.startswith(SINGLE_TASK_PREFIX):
        if len(compiled.tasks) != 1:
            return NotRunnable(f"single-task workflow {name} has {len(compiled.tasks)} tasks")
        template = compiled.tasks[0].template
        resolver, loader_args = _resolver(template)
        return RunPlan("task", resolver, "", loader_args, tuple(archives), template.id.name)
    module, _, attribute = name.rpartition(".")
    if not module:
        return NotRunnable(f"workflow name {name!r} names no module")
    for registered, importable in aliases.items():
        if module == registered or module.startswith(registered + "."):
            module = importable + module[len(registered) :]
            break
    return RunPlan("workflow", module, attribute, (), tuple(archives), name)


def _option(args: Sequence[str], flag: str) -> str | None:
    for i, arg in enumerate(args[:-1]):
        if arg == flag:
            return args[i + 1]
    return None


def _resolver(template: tasks_pb2.TaskTemplate) -> tuple[str, tuple[str, ...]]:
    """``--resolver X -- loader args…`` of a flytekit task's command."""
    args = list(template.container.args)
    start = args.index("--resolver")
    resolver = args[start + 1]
    rest = args[start + 2 :]
    if rest and rest[0] == "--":
        rest = rest[1:]
    return resolver, tuple(rest)
