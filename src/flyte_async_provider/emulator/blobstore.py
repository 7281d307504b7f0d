"""A local blob store behind the emulator's DataProxyService, with URLs signed like S3 presigned ones.

Blobs are plain files under one root directory (a temporary one owned by the store unless a directory
is given), so the emulator's own worker processes and flytekit on the same machine can read them:
a blob's *native URL* is its absolute path. Clients that only know the data proxy upload and
download through *signed URLs* on the emulator's HTTP server: an HMAC (per-store random key) over the
method, key, expiry and, for uploads, the Content-MD5 the upload was signed for. Keys are
``project/domain/prefix/filename`` and never leave the root.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

from .errors import InvalidArgument

BLOB_PATH = "/blobs"
_KEY_SAFE = "/-_.=~"


class BlobError(Exception):
    """A refused blob request; ``status`` is the HTTP status an object store would answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class SignedUrl:
    url: str
    expires_at: float


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


class BlobStore:
    """Files under ``root``; safe from any thread (each upload is a temporary file moved into place)."""

    def __init__(self, root: str | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self._owned = root is None
        self._root = Path(root).resolve() if root else None
        if self._root is not None:
            self._root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._secret = secrets.token_bytes(32)
        self._clock = clock

    @property
    def root(self) -> Path:
        """The directory; a temporary one is made on first use (an emulator that never uses the data
        proxy leaves nothing behind, even if it is never stopped)."""
        with self._lock:
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="flyte-emulator-blobs-")).resolve()
            return self._root

    # -- keys and native URLs -----------------------------------------------------------------------
    @staticmethod
    def key_of(parts: Iterable[str]) -> str:
        """Join non-empty parts into a key; refuse parts that would escape the root."""
        clean = []
        for part in parts:
            if not part:
                continue
            for piece in part.split("/"):
                if piece in ("", ".", ".."):
                    raise InvalidArgument(f"invalid storage path component {part!r}")
                clean.append(piece)
        if not clean:
            raise InvalidArgument("empty storage path")
        return "/".join(clean)

    def path_of(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise InvalidArgument(f"storage path {key!r} is outside the blob store")
        return path

    def native_url(self, key: str) -> str:
        """The blob's absolute path. flytekit treats a path as local data and reads it in place; a
        ``file://`` URL would fail its ``os.path.isfile`` check of FlyteFile inputs."""
        return str(self.path_of(key))

    def key_for_native_url(self, native_url: str) -> str:
        """The key of a native URL of this store (INVALID_ARGUMENT for any other URL)."""
        prefix = f"{self.root}/"
        path = native_url.removeprefix("file://")
        if not path.startswith(prefix):
            raise InvalidArgument(f"native_url [{native_url}] is not in the emulator's blob store ({prefix})")
        key = path[len(prefix) :]
        self.path_of(key)
        return key

    def local_path(self, native_url: str) -> Path:
        return self.path_of(self.key_for_native_url(native_url))

    # -- content ------------------------------------------------------------------------------------
    def exists(self, key: str) -> bool:
        return self.path_of(key).is_file()

    def content_md5(self, key: str) -> str:
        """Base64 MD5 of a stored blob (what S3 keeps as Content-MD5 metadata)."""
        digest = hashlib.md5()
        with self.path_of(key).open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        return base64.b64encode(digest.digest()).decode()

    def open_writer(self, key: str) -> BlobWriter:
        return BlobWriter(self, key)

    def read(self, key: str) -> bytes:
        return self.path_of(key).read_bytes()

    def put(self, key: str, data: bytes) -> str:
        """Store ``data`` under ``key`` at once (in-process callers); returns the native URL."""
        writer = self.open_writer(key)
        writer.write(data)
        writer.commit()
        return self.native_url(key)

    def close(self) -> None:
        """Remove the root if this store created it."""
        with self._lock:
            root = self._root if self._owned else None
            if self._owned:
                self._root = None
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)

    # -- signed URLs --------------------------------------------------------------------------------
    def _signature(self, method: str, key: str, expires: int, md5: str) -> str:
        message = f"{method}\n{key}\n{expires}\n{md5}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def sign(self, base_url: str, method: str, key: str, expires_in: float, md5: str = "") -> SignedUrl:
        """A URL on ``base_url`` (the emulator's HTTP server) allowing ``method`` on ``key`` until expiry."""
        expires = int(self._clock() + expires_in)
        query = {"expires": str(expires), "signature": self._signature(method, key, expires, md5)}
        if md5:
            query["content_md5"] = md5
        url = f"{base_url}{BLOB_PATH}/{quote(key, safe=_KEY_SAFE)}?{urlencode(query)}"
        return SignedUrl(url, float(expires))

    def verify(self, method: str, key: str, expires: str, signature: str, md5: str = "") -> None:
        """Raise BlobError (403, as S3 does) unless the URL was signed by this store and has not expired."""
        try:
            expiry = int(expires)
        except ValueError:
            raise BlobError(403, "AccessDenied", "missing or malformed expiry") from None
        expected = self._signature(method, key, expiry, md5)
        if not hmac.compare_digest(expected, signature):
            raise BlobError(403, "SignatureDoesNotMatch", "the request signature does not match")
        if self._clock() > expiry:
            raise BlobError(403, "AccessDenied", "Request has expired")


class BlobWriter:
    """Streams one upload into a temporary file; ``commit`` moves it into place, ``abort`` drops it."""

    def __init__(self, store: BlobStore, key: str) -> None:
        self._store = store
        self._target = store.path_of(key)
        self._target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._target.parent, prefix=".upload-")
        self._file = os.fdopen(fd, "wb")
        self._tmp = tmp
        self._md5 = hashlib.md5()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._md5.update(chunk)
        self.size += len(chunk)

    @property
    def md5(self) -> str:
        return base64.b64encode(self._md5.digest()).decode()

    def commit(self) -> None:
        self._file.close()
        os.replace(self._tmp, self._target)

    def abort(self) -> None:
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)
