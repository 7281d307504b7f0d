"""Count one client's gRPC calls: a TCP relay on 127.0.0.1 in front of Flyte Admin (or the emulator).

The emulator counts calls per RPC for everyone together; to know how many calls *each* triggerer makes,
the stack points each triggerer's ``flyte_default`` connection at its own relay. A gRPC call is one
HTTP/2 stream, opened by one HEADERS frame from the client, so the relay reads only the 9-byte frame
headers of the client-to-server direction (after the 24-byte connection preface) and forwards every
byte unchanged. Plaintext HTTP/2 only: with TLS the count stays 0 and the bytes still flow.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading

log = logging.getLogger(__name__)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FRAME_HEADER = 9
HEADERS = 0x1
CHUNK = 65536


class FrameCounter:
    """Feed it the client's bytes in any chunking; :attr:`headers` counts HEADERS frames (= calls)."""

    def __init__(self) -> None:
        self.headers = 0
        self._preface_left = len(PREFACE)
        self._skip = 0  # payload bytes of the current frame still to pass
        self._partial = b""  # an incomplete frame header

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        if self._preface_left:
            taken = min(self._preface_left, len(view))
            self._preface_left -= taken
            view = view[taken:]
        while view:
            if self._skip:
                taken = min(self._skip, len(view))
                self._skip -= taken
                view = view[taken:]
                continue
            need = FRAME_HEADER - len(self._partial)
            self._partial += bytes(view[:need])
            view = view[need:]
            if len(self._partial) < FRAME_HEADER:
                return
            header, self._partial = self._partial, b""
            self._skip = int.from_bytes(header[:3], "big")
            if header[3] == HEADERS:
                self.headers += 1


class RpcMeter:
    """A relay ``127.0.0.1:<port>`` → ``target``; :meth:`calls` is the number of calls that went through."""

    def __init__(self, name: str, target_host: str, target_port: int) -> None:
        self.name = name
        self.target = (target_host, target_port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._counters: list[FrameCounter] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept, name=f"rpc-meter-{name}", daemon=True)

    def start(self) -> RpcMeter:
        self._thread.start()
        return self

    def calls(self) -> int:
        with self._lock:
            return sum(c.headers for c in self._counters)

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._server.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError as exc:
                log.info("rpc meter %s: cannot reach %s: %s", self.name, self.target, exc)
                client.close()
                continue
            counter = FrameCounter()
            with self._lock:
                self._counters.append(counter)
                self._sockets.update((client, upstream))
            for src, dst, count in ((client, upstream, counter), (upstream, client, None)):
                threading.Thread(target=self._pump, args=(src, dst, count), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, counter: FrameCounter | None) -> None:
        try:
            while True:
                data = src.recv(CHUNK)
                if not data:
                    break
                if counter is not None:
                    with self._lock:
                        counter.feed(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()
            with self._lock:
                self._sockets.discard(src)
                self._sockets.discard(dst)
