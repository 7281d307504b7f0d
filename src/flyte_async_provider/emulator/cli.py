"""``flyte-admin-emulator``: serve the emulator on 127.0.0.1 until SIGINT/SIGTERM.

Prints one JSON line with its addresses once serving (``{"grpc": "127.0.0.1:PORT", "http": ...}``,
plus ``AIRFLOW_CONN_FLYTE_DEFAULT``: a connection to it whose console links open its HTTP port) and,
with ``--ready-file``, writes the same JSON there (written atomically: poll for the file).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from .scripting import Advance, Outcome
from .server import FlyteAdminEmulator
from .settings import AuthSettings, TlsSettings


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="flyte-admin-emulator", description=__doc__)
    p.add_argument("--port", type=int, default=8089, help="gRPC port on 127.0.0.1 (0 = any free port)")
    p.add_argument("--http-port", type=int, default=0, help="HTTP port (OAuth2 + control API; 0 = any)")
    p.add_argument("--ready-file", help="write the addresses JSON to this file once serving")
    p.add_argument("--db", help="SQLite file to persist entities and executions across restarts")
    p.add_argument("--no-example", action="store_true", help="do not register the example launch plan")
    p.add_argument(
        "--register",
        action="append",
        default=[],
        metavar="MODULE:WORKFLOW",
        help="register a flytekit workflow",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for fault injection and generated names")
    out = p.add_argument_group("default outcome (executions matching no script rule)")
    out.add_argument(
        "--default-outcome",
        choices=["succeed", "fail", "time_out", "hang", "run"],
        default="succeed",
        help="run: execute the workflow's code for real (see --run-workers)",
    )
    out.add_argument("--fail-message", default="emulated failure")
    out.add_argument("--fail-code", default="USER:Error")
    adv = out.add_mutually_exclusive_group()
    adv.add_argument("--advance-seconds", type=float, help="one phase step every T seconds (default 1.0)")
    adv.add_argument("--advance-reads", type=int, help="one phase step every N status reads")
    adv.add_argument("--manual", action="store_true", help="phases move only through the control API")
    run = p.add_argument_group("real runs (Outcome.run(): the workflow's code runs in worker processes)")
    run.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="LAUNCH_PLAN",
        help="run executions of this launch plan (or task; glob/regex) for real (repeatable)",
    )
    run.add_argument("--run-workers", type=int, default=2, help="worker processes at most (default 2)")
    run.add_argument("--run-time-limit", type=float, default=300.0, help="seconds per run (default 300)")
    run.add_argument("--blob-dir", help="directory of the data proxy's blob store (default: a temporary one)")
    auth = p.add_argument_group("auth (off by default)")
    auth.add_argument("--auth", action="store_true", help="require client-credentials bearer tokens")
    auth.add_argument("--client-id", default=AuthSettings.client_id)
    auth.add_argument("--client-secret", default=AuthSettings.client_secret)
    auth.add_argument("--token-ttl", type=float, default=AuthSettings.token_ttl_seconds, help="seconds")
    auth.add_argument("--metadata-key", default=AuthSettings.metadata_key)
    auth.add_argument("--scopes", default=" ".join(AuthSettings.scopes), help="space-separated")
    tls = p.add_argument_group("TLS (off by default)")
    tls.add_argument("--tls-cert", help="PEM certificate chain")
    tls.add_argument("--tls-key", help="PEM private key")
    p.add_argument("--log-level", default="WARNING")
    return p


def emulator_from_args(args: argparse.Namespace) -> FlyteAdminEmulator:
    if bool(args.tls_cert) != bool(args.tls_key):
        raise SystemExit("--tls-cert and --tls-key go together")
    if args.default_outcome == "fail":
        outcome = Outcome.fail(args.fail_message, code=args.fail_code)
    elif args.default_outcome == "run":
        outcome = Outcome.run()
    else:
        outcome = Outcome(kind=args.default_outcome)
    if args.manual:
        advance = Advance.manual()
    elif args.advance_reads is not None:
        advance = Advance.after_reads(args.advance_reads)
    else:
        advance = Advance.after_seconds(1.0 if args.advance_seconds is None else args.advance_seconds)
    auth = (
        AuthSettings(
            client_id=args.client_id,
            client_secret=args.client_secret,
            token_ttl_seconds=args.token_ttl,
            metadata_key=args.metadata_key,
            scopes=tuple(args.scopes.split()),
        )
        if args.auth
        else None
    )
    emu = FlyteAdminEmulator(
        port=args.port,
        http_port=args.http_port,
        auth=auth,
        tls=TlsSettings(args.tls_cert, args.tls_key) if args.tls_cert else None,
        db_path=args.db,
        register_example=not args.no_example,
        default_outcome=outcome,
        default_advance=advance,
        seed=args.seed,
        register=args.register,
        blob_dir=args.blob_dir,
        run_workers=args.run_workers,
        run_time_limit=args.run_time_limit,
    )
    for launch_plan in args.run:
        emu.script(Outcome.run(), launch_plan=launch_plan)
    return emu


def _write_ready_file(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
    os.replace(tmp, path)


def airflow_connection_json(emu: FlyteAdminEmulator) -> str:
    """The ``AIRFLOW_CONN_FLYTE_DEFAULT`` value for this emulator (Airflow's JSON connection format).

    ``console_endpoint`` is the HTTP port, where the emulator serves its console pages (the gRPC port
    serves none); with TLS the certificate is the CA to trust, with auth the client is the login.
    """
    from flyte_async_provider.demo.stack import EXAMPLE_DOMAIN, EXAMPLE_PROJECT, FlyteTarget

    host, port = emu.grpc_endpoint.rsplit(":", 1)
    extra = {"ca_cert_file_path": emu.tls.cert_file} if emu.tls is not None else {}
    target = FlyteTarget(
        host=host,
        port=int(port),
        insecure=emu.tls is None,
        client_id=emu.auth.client_id if emu.auth is not None else None,
        client_secret=emu.auth.client_secret if emu.auth is not None else None,
        project=EXAMPLE_PROJECT,
        domain=EXAMPLE_DOMAIN,
        console_endpoint=emu.http_url,
        extra=extra,
    )
    return target.connection_json()


def ready_info(emu: FlyteAdminEmulator) -> dict[str, Any]:
    """The ready line: the addresses, plus a ready-to-use ``AIRFLOW_CONN_FLYTE_DEFAULT`` value."""
    return {**emu.addresses(), "AIRFLOW_CONN_FLYTE_DEFAULT": airflow_connection_json(emu)}


async def serve(emu: FlyteAdminEmulator, ready_file: str | None = None) -> None:
    """Start, announce the addresses, wait for SIGINT/SIGTERM, stop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await emu.start()
    try:
        line = json.dumps(ready_info(emu))
        print(line, flush=True)
        if ready_file:
            _write_ready_file(ready_file, line)
        await stop.wait()
    finally:
        await emu.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    emu = emulator_from_args(args)
    asyncio.run(serve(emu, args.ready_file))
    return 0
