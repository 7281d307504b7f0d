"""A read-only stand-in for Flyte console's execution page.

The provider links every task to ``{console}/console/projects/{p}/domains/{d}/executions/{name}``;
against the emulator that link should show something a person can read (phase, times, Flyte's error
or abort cause), not a 404.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .errors import EmulatorError
from .scripting import PHASE_NAMES
from .state import EmulatorState

CONSOLE_PATH = "/console/projects/{project}/domains/{domain}/executions/{name}"


def _timestamp(ts: Any) -> str:
    if not ts.seconds:
        return "-"
    return str(ts.ToDatetime().strftime("%Y-%m-%d %H:%M:%S UTC"))


def console_handler(state: EmulatorState) -> Callable[[web.Request], Awaitable[web.Response]]:
    """GET handler rendering one execution as a small HTML page (no status read is counted)."""

    async def handle(request: web.Request) -> web.Response:
        project, domain, name = (request.match_info[k] for k in ("project", "domain", "name"))
        try:
            execution = state.backend.execution(project, domain, name)
        except EmulatorError as err:
            return web.Response(status=404, text=f"{err.code}: {err.message}\n")
        closure = execution.closure
        rows = [
            ("execution", f"{project}/{domain}/{name}"),
            ("phase", PHASE_NAMES[closure.phase]),
            ("launch plan", f"{execution.spec.launch_plan.name} ({execution.spec.launch_plan.version})"),
            ("created", _timestamp(closure.created_at)),
            ("started", _timestamp(closure.started_at)),
            ("updated", _timestamp(closure.updated_at)),
        ]
        if closure.HasField("error"):
            rows.append(("error", f"{closure.error.code}: {closure.error.message}"))
        if closure.HasField("abort_metadata"):
            meta = closure.abort_metadata
            # Without auth flyteadmin records no principal (nobody is authenticated): say only the cause.
            rows.append(("aborted", f"by {meta.principal}: {meta.cause}" if meta.principal else meta.cause))
        body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
        page = (
            f"<!doctype html><title>{html.escape(name)} - Flyte Admin emulator</title>"
            f"<h1>Flyte execution {html.escape(name)}</h1><table>{body}</table>"
            "<p>Served by the Flyte Admin emulator (airflow-provider-flyte-async).</p>"
        )
        return web.Response(text=page, content_type="text/html")

    return handle
