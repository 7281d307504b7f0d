"""The worker-process side of a real run: unpack the code, load the entity, run it with flytekit.

Runs in a fresh ``python -m flyte_async_provider.emulator.runworker`` process (runs.py starts one per
run, ahead of time, so flytekit is already imported when the run arrives). The entity runs through
flytekit's local execution (``local_execute`` with the inputs as literal promises, as
``flyte_entity_call_handler`` starts a local run), so the outputs are the literals flytekit produced.
A raised exception is reported as flytekit's container entrypoint reports it:
``FlyteUserRuntimeException``'s error code (``USER:RuntimeError`` unless the exception carries its
own) and ``get_traceback_str``'s message, kind USER.

The result crosses the pipe as plain values: ``("ok", LiteralMap bytes)`` or
``("error", code, message, kind)``. Before it, a gate node the run reaches sends ``("gate", …)`` and
waits for the emulator's ``("signal", …)`` (see rungates.py).
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tarfile
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from . import rungates
from .runplan import RunPlan

Result = tuple[Any, ...]


def serve(reader: Connection, writer: Connection) -> None:
    """Warm up, then run the one job that arrives (or return on EOF: the pool is gone)."""
    import flytekit  # noqa: F401  (the slow import happens before the job arrives)

    writer.send(("ready",))
    try:
        plan, inputs, workdir = reader.recv()
    except (EOFError, OSError):
        return
    rungates.install(reader, writer)  # gates wait for the emulator's signals over these pipes
    writer.send(execute(plan, inputs, workdir))
    writer.close()


def execute(plan: RunPlan, inputs: bytes, workdir: str) -> Result:
    try:
        entity = _load(plan, workdir)
    except Exception as err:  # flytekit's entrypoint: a task that cannot be loaded is a user error
        return _user_error(err)
    try:
        return ("ok", _run(entity, inputs))
    except Exception as err:
        return _user_error(err)


def _load(plan: RunPlan, workdir: str) -> Any:
    for archive in plan.archives:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(workdir, filter="data")
    sys.path.insert(0, workdir)
    os.chdir(workdir)  # pyflyte-fast-execute runs the task from its --dest-dir
    if plan.kind == "task":
        from flytekit.tools.module_loader import load_object_from_module

        resolver = load_object_from_module(plan.module)
        return resolver.load_task(list(plan.loader_args))
    obj: Any = importlib.import_module(plan.module)
    for part in plan.attribute.split("."):
        obj = getattr(obj, part)
    if not hasattr(obj, "local_execute"):
        raise TypeError(f"{plan.label} is a {type(obj).__name__}, not a flytekit workflow")
    return obj


def _run(entity: Any, inputs: bytes) -> bytes:
    from flyteidl.core import literals_pb2
    from flytekit.core.context_manager import FlyteContextManager
    from flytekit.core.promise import Promise, VoidPromise
    from flytekit.models.literals import LiteralMap

    literal_map = LiteralMap.from_flyte_idl(literals_pb2.LiteralMap.FromString(inputs))
    kwargs = {name: Promise(var=name, val=lit) for name, lit in literal_map.literals.items()}
    ctx = FlyteContextManager.current_context()
    state = ctx.new_execution_state().with_params(mode=entity.local_execution_mode())
    with FlyteContextManager.with_context(ctx.with_execution_state(state)) as child:
        result = entity.local_execute(child, **kwargs)
    names = list(entity.python_interface.outputs)
    if result is None or isinstance(result, VoidPromise):
        promises: tuple[Any, ...] = ()
    elif isinstance(result, Promise):
        promises = (result,)
    else:
        promises = tuple(result)
    out = literals_pb2.LiteralMap()
    for name, promise in zip(names, promises, strict=False):
        out.literals[name].CopyFrom(promise.val.to_flyte_idl())
    keep = tempfile.mkdtemp(prefix="outputs-")  # in the workers' TMPDIR: kept until the pool stops
    for literal in out.literals.values():
        _keep_local_files(literal, os.getcwd(), keep)
    return bytes(out.SerializeToString())


def _keep_local_files(literal: Any, workdir: str, keep: str) -> None:
    """Local execution leaves file outputs where the task wrote them (a container would upload them):
    copy those inside the run's directory, which is removed after the run, and point at the copies."""
    kind = literal.WhichOneof("value")
    if kind == "collection":
        for item in literal.collection.literals:
            _keep_local_files(item, workdir, keep)
    elif kind == "map":
        for item in literal.map.literals.values():
            _keep_local_files(item, workdir, keep)
    elif kind == "scalar":
        scalar = literal.scalar
        inner = scalar.WhichOneof("value")
        if inner == "union":
            _keep_local_files(scalar.union.value, workdir, keep)
        elif inner in ("blob", "structured_dataset"):
            holder = scalar.blob if inner == "blob" else scalar.structured_dataset
            holder.uri = _kept(holder.uri, workdir, keep)


def _kept(uri: str, workdir: str, keep: str) -> str:
    if "://" in uri and not uri.startswith("file://"):
        return uri  # remote already
    path = os.path.abspath(uri.removeprefix("file://"))
    if os.path.commonpath([path, workdir]) != workdir or not os.path.exists(path):
        return path
    target = os.path.join(tempfile.mkdtemp(dir=keep), os.path.basename(path))
    if os.path.isdir(path):
        shutil.copytree(path, target)
    else:
        shutil.copy2(path, target)
    return target


def _user_error(err: Exception) -> Result:
    from flytekit.bin.entrypoint import get_traceback_str
    from flytekit.exceptions.user import FlyteUserRuntimeException

    try:
        raise FlyteUserRuntimeException(err) from err
    except FlyteUserRuntimeException as wrapped:
        return ("error", str(wrapped.error_code), get_traceback_str(wrapped), "USER")


def _exit_with(parent: int) -> None:
    """End this worker when the emulator's process is gone (even killed with SIGKILL mid-run)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(70)


def main(argv: list[str]) -> int:
    """``python -m flyte_async_provider.emulator.runworker READ_FD WRITE_FD`` (started by runs.py)."""
    read_fd, write_fd = int(argv[0]), int(argv[1])
    threading.Thread(target=_exit_with, args=(os.getppid(),), name="parent-watch", daemon=True).start()
    serve(Connection(read_fd, writable=False), Connection(write_fd, readable=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
