"""The signed blob URLs on the emulator's HTTP server: PUT (upload) and GET (download).

What flytekit sends to a signed upload URL (``FlyteRemote.upload_file``): ``PUT`` with the body
streamed, ``Content-Length`` and ``Content-MD5`` (base64 of the MD5 digest). As with an S3 URL presigned
with a Content-MD5, the header must equal the MD5 the URL was signed for, and the body must hash to it
(else 400 BadDigest). flytekit's ``HttpFileWriter`` uploads without an MD5 to URLs signed without one.
Errors answer an S3-like XML-free JSON ``{"code", "message"}`` with the object store's HTTP status.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable

from aiohttp import web

from .blobstore import BLOB_PATH, BlobError, BlobStore
from .errors import EmulatorError

MAX_UPLOAD_BYTES = 1 << 30  # 1 GiB: far above a fast-registration archive; refuses runaway bodies
_CHUNK = 1 << 16


def _error(err: BlobError) -> web.Response:
    return web.json_response({"code": err.code, "message": err.message}, status=err.status)


def _check_md5_header(header: str | None, signed_md5: str) -> None:
    if header is not None:
        try:
            if len(base64.b64decode(header, validate=True)) != 16:
                raise ValueError
        except (binascii.Error, ValueError):
            raise BlobError(400, "InvalidDigest", "the Content-MD5 header is not a base64 MD5") from None
    if signed_md5 and header != signed_md5:
        raise BlobError(
            400, "BadDigest", "the Content-MD5 header does not match the MD5 this URL was signed for"
        )


def blob_handlers(
    blobs: BlobStore,
) -> tuple[Callable[[web.Request], Awaitable[web.StreamResponse]], ...]:
    """(PUT handler, GET handler) for ``{BLOB_PATH}/{key}``."""

    def _key(request: web.Request) -> str:
        key = request.match_info["key"]
        try:
            blobs.path_of(key)
        except EmulatorError as err:
            raise BlobError(400, "InvalidKey", err.message) from None
        return key

    async def put(request: web.Request) -> web.StreamResponse:
        try:
            key = _key(request)
            signed_md5 = request.query.get("content_md5", "")
            blobs.verify(
                "PUT", key, request.query.get("expires", ""), request.query.get("signature", ""), signed_md5
            )
            header = request.headers.get("Content-MD5")
            _check_md5_header(header, signed_md5)
            writer = blobs.open_writer(key)
            try:
                async for chunk in request.content.iter_chunked(_CHUNK):
                    writer.write(chunk)
                    if writer.size > MAX_UPLOAD_BYTES:
                        raise BlobError(
                            400, "EntityTooLarge", f"uploads are limited to {MAX_UPLOAD_BYTES} bytes"
                        )
                if header is not None and writer.md5 != header:
                    raise BlobError(
                        400, "BadDigest", "The Content-MD5 you specified did not match what we received."
                    )
            except BaseException:
                writer.abort()
                raise
            writer.commit()
        except BlobError as err:
            return _error(err)
        return web.Response(status=200, headers={"ETag": f'"{writer.md5}"'})

    async def get(request: web.Request) -> web.StreamResponse:
        try:
            key = _key(request)
            blobs.verify("GET", key, request.query.get("expires", ""), request.query.get("signature", ""))
            if not blobs.exists(key):
                raise BlobError(404, "NoSuchKey", f"no blob at {key}")
        except BlobError as err:
            return _error(err)
        return web.FileResponse(blobs.path_of(key))

    return put, get


def add_blob_routes(app: web.Application, blobs: BlobStore) -> None:
    put, get = blob_handlers(blobs)
    app.router.add_put(BLOB_PATH + "/{key:.+}", put)
    app.router.add_get(BLOB_PATH + "/{key:.+}", get)
