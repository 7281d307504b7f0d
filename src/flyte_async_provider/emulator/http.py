"""The aiohttp app over an EmulatorState: OAuth2 token endpoint (auth on), console page, control API,
signed blob URLs of the data proxy (blobhttp.py).

Control operations are ``POST {http_url}/control/<op>`` with a JSON object of keyword arguments
(``GET`` works for those without arguments) and answer JSON. Errors answer
``{"code": "<gRPC code name>", "message": ...}`` with a matching HTTP status, so the control client can
raise the same error classes the in-process API raises.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .blobhttp import add_blob_routes
from .console import CONSOLE_PATH, console_handler
from .errors import EmulatorError
from .oauth import TOKEN_PATH, authorization_server_metadata, token_handler
from .operations import OPS
from .state import EmulatorState

_HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "FAILED_PRECONDITION": 409,
    "UNAUTHENTICATED": 401,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
}


def _error(code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=_HTTP_STATUS.get(code, 500))


def control_handler(state: EmulatorState) -> Callable[[web.Request], Awaitable[web.Response]]:
    """``/control/<op>``: the operation declared in operations.OPS, JSON in and out."""

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
            result = op.result.encode(op.apply(state, **op.decode_arguments(body)))
        except EmulatorError as err:
            return _error(err.code, err.message)
        except (KeyError, ValueError, TypeError) as err:
            return _error("INVALID_ARGUMENT", f"bad arguments for {request.match_info['op']}: {err!r}")
        return web.json_response({"result": result})

    return handle


def build_app(state: EmulatorState) -> web.Application:
    app = web.Application()
    handler = control_handler(state)
    app.router.add_route("POST", "/control/{op}", handler)
    app.router.add_route("GET", "/control/{op}", handler)
    app.router.add_get(CONSOLE_PATH, console_handler(state))
    add_blob_routes(app, state.blobs)
    if state.authority is not None:
        authority = state.authority
        app.router.add_post(TOKEN_PATH, token_handler(authority))  # type: ignore[arg-type]

        async def metadata(request: web.Request) -> web.Response:
            return web.json_response(authorization_server_metadata(state.http_url, authority.settings))

        app.router.add_get("/.well-known/oauth-authorization-server", metadata)
    return app
