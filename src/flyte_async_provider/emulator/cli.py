"""``flyte-admin-emulator``: serve the emulator on 127.0.0.1 until SIGINT/SIGTERM.

Prints one JSON line with its addresses once serving (``{"grpc": "127.0.0.1:PORT", "http": ...}``)
and, with ``--ready-file``, writes the same JSON there (written atomically: poll for the file).
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
    out.add_argument("--default-outcome", choices=["succeed", "fail", "time_out", "hang"], default="succeed")
    out.add_argument("--fail-message", default="emulated failure")
    out.add_argument("--fail-code", default="USER:Error")
    adv = out.add_mutually_exclusive_group()
    adv.add_argument("--advance-seconds", type=float, help="one phase step every T seconds (default 1.0)")
    adv.add_argument("--advance-reads", type=int, help="one phase step every N status reads")
    adv.add_argument("--manual", action="store_true", help="phases move only through the control API")
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
    return FlyteAdminEmulator(
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
    )


def _write_ready_file(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
    os.replace(tmp, path)


async def serve(emu: FlyteAdminEmulator, ready_file: str | None = None) -> None:
    """Start, announce the addresses, wait for SIGINT/SIGTERM, stop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await emu.start()
    try:
        line = json.dumps(emu.addresses())
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
