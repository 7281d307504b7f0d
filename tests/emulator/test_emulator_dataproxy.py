"""DataProxyService through real sockets: signed uploads and downloads, GetData, flyteadmin's codes.

Uploads go the way flytekit sends them (``FlyteRemote.upload_file``: CreateUploadLocation, then a PUT
with Content-MD5 to the signed URL); the raw-gRPC tests check flyteadmin v1.16.8's validation.
"""

from __future__ import annotations

import base64
import hashlib
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from flyteidl.service import admin_pb2_grpc, dataproxy_pb2, dataproxy_pb2_grpc
from google.protobuf import duration_pb2

from flyte_async_provider.emulator import Advance, FlyteAdminEmulator, Outcome
from flyte_async_provider.emulator.blobstore import BlobStore
from support.admin_rpc import create
from support.flyte import DOMAIN, PROJECT

if TYPE_CHECKING:
    from flytekit.remote import FlyteRemote


@pytest.fixture
def proxy(channel: grpc.Channel) -> dataproxy_pb2_grpc.DataProxyServiceStub:
    return dataproxy_pb2_grpc.DataProxyServiceStub(channel)


def _code(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()  # type: ignore[operator]
    return info.value.code()  # type: ignore[no-any-return, attr-defined]


def _put(url: str, data: bytes, md5: str | None) -> int:
    request = urllib.request.Request(url, data=data, method="PUT")
    if md5 is not None:
        request.add_header("Content-MD5", md5)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as err:
        return int(err.code), b""


def _md5(data: bytes) -> tuple[bytes, str]:
    digest = hashlib.md5(data).digest()
    return digest, base64.b64encode(digest).decode()


def test_flytekit_upload_file_then_download_through_a_signed_url(
    flyte_admin_emulator: FlyteAdminEmulator, remote: FlyteRemote, tmp_path: Path
) -> None:
    source = tmp_path / "data.txt"
    source.write_bytes(b"hello from flytekit")
    md5_bytes, native_url = remote.upload_file(source)  # what flytekit's fast registration calls
    assert md5_bytes == hashlib.md5(b"hello from flytekit").digest()
    assert native_url.startswith(str(flyte_admin_emulator.state.blobs.root) + "/")  # a local path
    assert native_url.endswith("/data.txt")
    assert Path(native_url).read_bytes() == b"hello from flytekit"

    link = remote.client.get_download_signed_url(native_url)
    assert link.signed_url.startswith(flyte_admin_emulator.http_url + "/blobs/")
    assert _get(link.signed_url) == (200, b"hello from flytekit")
    counters = flyte_admin_emulator.success_counters()
    assert counters["CreateUploadLocation"] == 1
    assert counters["CreateDownloadLocation"] == 1


def test_signed_put_checks_the_md5_it_was_signed_for(proxy: dataproxy_pb2_grpc.DataProxyServiceStub) -> None:
    digest, md5 = _md5(b"payload")
    location = proxy.CreateUploadLocation(
        dataproxy_pb2.CreateUploadLocationRequest(
            project=PROJECT, domain=DOMAIN, content_md5=digest, filename="p.bin"
        )
    )
    assert location.headers["Content-MD5"] == md5
    assert f"/{base64.b32encode(digest).decode()}/p.bin" in location.native_url  # flyteadmin's layout
    _, other_md5 = _md5(b"something else")
    assert _put(location.signed_url, b"payload", None) == 400  # signed with an MD5: the header is required
    assert _put(location.signed_url, b"payload", other_md5) == 400  # not the MD5 it was signed for
    assert _put(location.signed_url, b"tampered", md5) == 400  # the body does not hash to the header
    assert _put(location.signed_url.replace("signature=", "signature=0"), b"payload", md5) == 403
    assert _put(location.signed_url, b"payload", md5) == 200
    assert Path(location.native_url).read_bytes() == b"payload"


def test_upload_without_md5_goes_to_a_random_name_under_the_root(
    proxy: dataproxy_pb2_grpc.DataProxyServiceStub,
) -> None:
    """What flytekit's HttpFileWriter asks for: a filename_root, no MD5, no filename."""
    location = proxy.CreateUploadLocation(
        dataproxy_pb2.CreateUploadLocationRequest(project=PROJECT, domain=DOMAIN, filename_root="myroot")
    )
    name = location.native_url.rsplit("/", 1)[1]
    assert f"/{PROJECT}/{DOMAIN}/myroot/" in location.native_url
    assert len(name) == 20
    assert location.expires_at.seconds > 0
    assert _put(location.signed_url, b"anything", None) == 200


def test_upload_location_validation_as_flyteadmin(proxy: dataproxy_pb2_grpc.DataProxyServiceStub) -> None:
    digest, md5 = _md5(b"x")
    req = dataproxy_pb2.CreateUploadLocationRequest
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    assert _code(lambda: proxy.CreateUploadLocation(req(domain=DOMAIN, content_md5=digest))) == invalid
    assert _code(lambda: proxy.CreateUploadLocation(req(project=PROJECT, domain=DOMAIN))) == invalid
    too_long = duration_pb2.Duration(seconds=7200)
    with pytest.raises(grpc.RpcError) as info:
        proxy.CreateUploadLocation(
            req(project=PROJECT, domain=DOMAIN, content_md5=digest, expires_in=too_long)
        )
    assert info.value.code() == invalid
    assert "cannot exceed max allowed expiration [1h0m0s]" in info.value.details()
    assert _code(
        lambda: proxy.CreateUploadLocation(req(project=PROJECT, domain=DOMAIN, filename_root="../x"))
    ) == (invalid)

    fixed = req(project=PROJECT, domain=DOMAIN, filename_root="fixed", filename="f.txt", content_md5=digest)
    first = proxy.CreateUploadLocation(fixed)
    assert _put(first.signed_url, b"x", md5) == 200
    assert proxy.CreateUploadLocation(fixed).native_url == first.native_url  # same hash: may rewrite
    no_hash = req(project=PROJECT, domain=DOMAIN, filename_root="fixed", filename="f.txt")
    assert _code(lambda: proxy.CreateUploadLocation(no_hash)) == grpc.StatusCode.ALREADY_EXISTS
    other = req(
        project=PROJECT, domain=DOMAIN, filename_root="fixed", filename="f.txt", content_md5=_md5(b"y")[0]
    )
    assert _code(lambda: proxy.CreateUploadLocation(other)) == grpc.StatusCode.ALREADY_EXISTS


def test_expired_or_foreign_signed_url_is_refused(flyte_admin_emulator: FlyteAdminEmulator) -> None:
    blobs = flyte_admin_emulator.state.blobs
    expired = blobs.sign(flyte_admin_emulator.http_url, "PUT", "flytesnacks/development/r/late", -1.0)
    assert _put(expired.url, b"late", None) == 403
    other = BlobStore()  # another store's key: its signatures mean nothing here
    try:
        foreign = other.sign(flyte_admin_emulator.http_url, "PUT", "flytesnacks/development/r/x", 60.0)
        assert _put(foreign.url, b"x", None) == 403
    finally:
        other.close()
    assert not blobs.exists("flytesnacks/development/r/late")
    assert not blobs.exists("flytesnacks/development/r/x")
    get_url = blobs.sign(flyte_admin_emulator.http_url, "GET", "flytesnacks/development/r/none", 60.0)
    assert _get(get_url.url)[0] == 404


def test_download_location_only_for_the_blob_store(proxy: dataproxy_pb2_grpc.DataProxyServiceStub) -> None:
    req = dataproxy_pb2.CreateDownloadLocationRequest
    assert _code(lambda: proxy.CreateDownloadLocation(req(native_url="s3://bucket/key"))) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    negative = duration_pb2.Duration(seconds=-1)
    with pytest.raises(grpc.RpcError) as info:
        proxy.CreateDownloadLocation(req(native_url="s3://bucket/key", expires_in=negative))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "should not less than 0" in info.value.details()


@pytest.fixture
def succeeded(flyte_admin_emulator: FlyteAdminEmulator, admin: admin_pb2_grpc.AdminServiceStub) -> str:
    """A finished execution of the example with scripted outputs."""
    flyte_admin_emulator.script(
        Outcome.succeed(outputs={"accuracy": 0.93, "n_estimators": 12}), Advance.after_seconds(0)
    )
    return create(admin, "data-1")


def test_get_data_answers_node_inputs_and_outputs(
    succeeded: str, proxy: dataproxy_pb2_grpc.DataProxyServiceStub
) -> None:
    base = f"flyte://v1/{PROJECT}/{DOMAIN}/{succeeded}"
    accuracy = proxy.GetData(dataproxy_pb2.GetDataRequest(flyte_url=f"{base}/end-node/o/accuracy"))
    assert accuracy.literal.scalar.primitive.float_value == 0.93
    outputs = proxy.GetData(dataproxy_pb2.GetDataRequest(flyte_url=f"{base}/end-node/o"))
    assert set(outputs.literal_map.literals) == {"accuracy", "n_estimators"}
    inputs = proxy.GetData(dataproxy_pb2.GetDataRequest(flyte_url=f"{base}/start-node/o"))
    assert set(inputs.literal_map.literals) == {"test_split_ratio", "seed"}


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("", grpc.StatusCode.INVALID_ARGUMENT),
        ("s3://bucket/x", grpc.StatusCode.INVALID_ARGUMENT),
        ("flyte://v1/p/d", grpc.StatusCode.INVALID_ARGUMENT),
        ("flyte://v1/{p}/{d}/{e}/end-node/o/nope", grpc.StatusCode.INVALID_ARGUMENT),
        ("flyte://v1/{p}/{d}/nosuch/end-node/o", grpc.StatusCode.NOT_FOUND),
        ("flyte://v1/{p}/{d}/{e}/end-node/d", grpc.StatusCode.NOT_FOUND),  # the emulator renders no decks
        ("flyte://v1/{p}/{d}/{e}/end-node/0/o", grpc.StatusCode.INVALID_ARGUMENT),  # no task execution
    ],
)
def test_get_data_errors_as_flyteadmin(
    succeeded: str, proxy: dataproxy_pb2_grpc.DataProxyServiceStub, url: str, code: grpc.StatusCode
) -> None:
    flyte_url = url.format(p=PROJECT, d=DOMAIN, e=succeeded)
    assert _code(lambda: proxy.GetData(dataproxy_pb2.GetDataRequest(flyte_url=flyte_url))) == code


def test_flytekit_remote_get_reads_an_output(succeeded: str, remote: FlyteRemote) -> None:
    """``FlyteRemote.get`` is what ``pyflyte fetch`` calls."""
    literal = remote.get(f"flyte://v1/{PROJECT}/{DOMAIN}/{succeeded}/end-node/o/n_estimators")
    assert literal.scalar.primitive.integer == 12  # type: ignore[union-attr]


def test_data_proxy_needs_the_token_when_auth_is_on(flyte_admin_emulator_factory: object) -> None:
    from flyte_async_provider.emulator import AuthSettings

    emu: FlyteAdminEmulator = flyte_admin_emulator_factory(auth=AuthSettings())  # type: ignore[operator]
    with grpc.insecure_channel(emu.grpc_endpoint) as channel:
        proxy = dataproxy_pb2_grpc.DataProxyServiceStub(channel)
        request = dataproxy_pb2.CreateUploadLocationRequest(project=PROJECT, domain=DOMAIN, filename_root="r")
        assert _code(lambda: proxy.CreateUploadLocation(request)) == grpc.StatusCode.UNAUTHENTICATED
