"""The aiohttp app: OAuth2 token endpoint (when auth is on) and the JSON control API.

Control operations are ``POST {http_url}/control/<op>`` with a JSON object of keyword arguments
(``GET`` works for those without arguments) and answer JSON. Errors answer
``{"code": "<gRPC code name>", "message": ...}`` with a matching HTTP status, so the control client can
raise the same error classes the in-process API raises.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .console import CONSOLE_PATH, console_handler
from .errors import EmulatorError
from .oauth import TOKEN_PATH, authorization_server_metadata, token_handler
from .scripting import PHASE_NAMES, Advance, Outcome

if TYPE_CHECKING:
    from .server import FlyteAdminEmulator

_HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "FAILED_PRECONDITION": 409,
    "UNAUTHENTICATED": 401,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
}

Op = Callable[["FlyteAdminEmulator", dict[str, Any]], Any]


def _outcome(body: dict[str, Any]) -> Outcome | None:
    raw = body.get("outcome")
    return Outcome.from_dict(raw) if raw else None


def _advance(body: dict[str, Any]) -> Advance | None:
    raw = body.get("advance")
    return Advance.from_dict(raw) if raw else None


def _id(body: dict[str, Any]) -> tuple[str, str, str]:
    return str(body["project"]), str(body["domain"]), str(body["name"])


def _execution(emu: FlyteAdminEmulator, body: dict[str, Any]) -> dict[str, Any]:
    ex = emu.execution(*_id(body))
    return {
        "execution": base64.b64encode(ex.SerializeToString()).decode(),
        "phase": PHASE_NAMES[ex.closure.phase],
    }


def _script(emu: FlyteAdminEmulator, body: dict[str, Any]) -> Any:
    outcome = _outcome(body)
    if outcome is None:
        raise ValueError("script needs an outcome")
    return emu.script(outcome, _advance(body), body.get("launch_plan"), body.get("name_pattern")).to_dict()


def _set_default(emu: FlyteAdminEmulator, body: dict[str, Any]) -> None:
    emu.set_default(_outcome(body), _advance(body))


OPS: dict[str, Op] = {
    "health": lambda emu, body: emu.addresses(),
    "script": _script,
    "set_default": _set_default,
    "clear_script": lambda emu, body: emu.clear_script(),
    "rules": lambda emu, body: [r.to_dict() for r in emu.rules()],
    "advance": lambda emu, body: {"phase": emu.advance(*_id(body))},
    "complete": lambda emu, body: {"phase": emu.complete(*_id(body), _outcome(body))},
    "complete_many": lambda emu, body: emu.complete_many(
        str(body["project"]), str(body["domain"]), [str(n) for n in body["names"]], _outcome(body)
    ),
    "terminate": lambda emu, body: emu.terminate(
        *_id(body), str(body.get("cause", "terminated")), str(body.get("principal", "emulator"))
    ),
    "execution": _execution,
    "create_executions": lambda emu, body: {
        "created": emu.create_executions(
            str(body["project"]),
            str(body["domain"]),
            str(body["launch_plan"]),
            [str(n) for n in body["names"]],
            body.get("inputs"),
            body.get("version"),
        )
    },
    "phase_counts": lambda emu, body: emu.phase_counts(),
    "inject_fault": lambda emu, body: emu.inject_fault(
        str(body.get("rpc", "*")),
        float(body.get("error_rate", 0.0)),
        str(body.get("code", "UNAVAILABLE")),
        float(body.get("latency_seconds", 0.0)),
    ).to_dict(),
    "clear_faults": lambda emu, body: emu.clear_faults(),
    "start_outage": lambda emu, body: emu.start_outage(
        None if body.get("seconds") is None else float(body["seconds"])
    ),
    "end_outage": lambda emu, body: emu.end_outage(),
    "counters": lambda emu, body: {"counters": emu.counters(), "succeeded": emu.success_counters()},
    "reset_counters": lambda emu, body: emu.reset_counters(),
    "expire_tokens": lambda emu, body: emu.expire_tokens(),
}


def _error(code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=_HTTP_STATUS.get(code, 500))


def control_handler(emu: FlyteAdminEmulator) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        op = OPS.get(request.match_info["op"])
        if op is None:
            return _error("NOT_FOUND", f"unknown control operation {request.match_info['op']!r}")
        body: dict[str, Any] = {}
        if request.can_read_body:
            try:
                body = await request.json()
            except json.JSONDecodeError as err:
                return _error("INVALID_ARGUMENT", f"body is not JSON: {err}")
            if not isinstance(body, dict):
                return _error("INVALID_ARGUMENT", "body must be a JSON object")
        try:
            result = op(emu, body)
        except EmulatorError as err:
            return _error(err.code, err.message)
        except (KeyError, ValueError, TypeError) as err:
            return _error("INVALID_ARGUMENT", f"bad arguments for {request.match_info['op']}: {err!r}")
        return web.json_response({"result": result})

    return handle


def build_app(emu: FlyteAdminEmulator) -> web.Application:
    app = web.Application()
    handler = control_handler(emu)
    app.router.add_route("POST", "/control/{op}", handler)
    app.router.add_route("GET", "/control/{op}", handler)
    app.router.add_get(CONSOLE_PATH, console_handler(emu))
    if emu.authority is not None:
        authority = emu.authority
        app.router.add_post(TOKEN_PATH, token_handler(authority))  # type: ignore[arg-type]

        async def metadata(request: web.Request) -> web.Response:
            return web.json_response(authorization_server_metadata(emu.http_url, authority.settings))

        app.router.add_get("/.well-known/oauth-authorization-server", metadata)
    return app
