"""The HA harness's measuring tools: counting gRPC calls through the relay, reading triggerer warnings."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator

import pytest

from flyte_async_provider.demo.rpc_meter import PREFACE, FrameCounter, RpcMeter
from flyte_async_provider.demo.triggerers import LogCounts, group_cpu_seconds


def _frame(kind: int, payload: bytes, stream: int = 1) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([kind, 0]) + stream.to_bytes(4, "big") + payload


def _client_bytes() -> bytes:
    settings, headers, data, window = 0x4, 0x1, 0x0, 0x8
    return b"".join(
        [
            PREFACE,
            _frame(settings, b"\x00" * 12, stream=0),
            _frame(headers, b"\x01" * 40, stream=1),
            _frame(data, b"\x01" * 9 + b"\x00" * 300, stream=1),  # payload that looks like a header
            _frame(window, b"\x00" * 4, stream=0),
            _frame(headers, b"\x02" * 17, stream=3),
            _frame(data, b"", stream=3),
        ]
    )


@pytest.mark.parametrize("chunk", [1, 7, 9, 4096])
def test_frame_counter_counts_headers_frames_whatever_the_chunking(chunk: int) -> None:
    raw = _client_bytes()
    counter = FrameCounter()
    for i in range(0, len(raw), chunk):
        counter.feed(raw[i : i + chunk])
    assert counter.headers == 2


@pytest.fixture
def echo_server() -> Iterator[tuple[str, int]]:
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(65536):
                    conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[:2]
    finally:
        stop.set()
        server.close()


def test_rpc_meter_forwards_every_byte_and_counts_the_calls(echo_server: tuple[str, int]) -> None:
    host, port = echo_server
    meter = RpcMeter("t", host, port).start()
    raw = _client_bytes()
    try:
        with socket.create_connection(("127.0.0.1", meter.port), timeout=10) as sock:
            sock.sendall(raw)
            echoed = b""
            while len(echoed) < len(raw):
                data = sock.recv(65536)
                assert data, "relay closed early"
                echoed += data
        assert echoed == raw
        assert meter.calls() == 2
    finally:
        meter.close()


def test_log_counts_tell_our_slow_steps_from_airflow_s_by_location() -> None:
    ours = (
        "Executing <Task pending name='Task-9' coro=<FlyteLaunchTrigger._submit() running at "
        "/x/src/flyte_async_provider/triggers/launch.py:182> wait_for=<Future pending> took {} seconds"
    )
    theirs = (
        "Executing <Task pending name='Task-1' coro=<TriggerRunner.arun() running at "
        "/x/airflow/jobs/triggerer_job_runner.py:1251> took 1.6 seconds"
    )
    text = "\n".join(
        [ours.format("0.25"), ours.format("0.31"), ours.format("0.12"), theirs]
        + ["[info] Triggerer's async thread was blocked for 0.21 seconds"] * 3
    )
    counts = LogCounts.of(text)
    assert counts.blocked == 3
    assert counts.slow_ours == 2
    assert counts.slow_ours_minor == 1
    assert counts.slow_other == 1
    assert counts.slow_ours_locations == {"FlyteLaunchTrigger._submit launch.py:182": 2}


def test_group_cpu_seconds_reads_this_process_group() -> None:
    burn = sum(i * i for i in range(200_000))  # some CPU of our own
    assert burn > 0
    assert group_cpu_seconds(os.getpgrp()) > 0
