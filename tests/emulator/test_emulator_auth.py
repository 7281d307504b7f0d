"""Auth: bearer tokens on every AdminService call, the client-credentials token endpoint, expiry."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from flyteidl.admin import execution_pb2, version_pb2
from flyteidl.service import admin_pb2_grpc, auth_pb2, auth_pb2_grpc

from flyte_async_provider.emulator import AuthSettings, FlyteAdminEmulator
from support.admin_rpc import create_request, ident
from support.flyte import DOMAIN, LAUNCH_PLAN, PROJECT
from support.waits import wait_for

SETTINGS = AuthSettings(
    client_id="my-client", client_secret="s3cret:/x", token_ttl_seconds=600, scopes=("all", "read")
)


def post_token(
    url: str, form: dict[str, str], basic: tuple[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if basic is not None:
        raw = f"{urllib.parse.quote(basic[0])}:{urllib.parse.quote(basic[1])}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    request = urllib.request.Request(
        url, data=urllib.parse.urlencode(form).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
def emu(flyte_admin_emulator_factory: Callable[..., FlyteAdminEmulator]) -> FlyteAdminEmulator:
    return flyte_admin_emulator_factory(auth=SETTINGS)


@pytest.fixture
def channel(emu: FlyteAdminEmulator) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(emu.grpc_endpoint) as ch:
        yield ch


@pytest.fixture
def token(emu: FlyteAdminEmulator) -> str:
    status, body = post_token(
        emu.token_url, {"grant_type": "client_credentials"}, basic=("my-client", "s3cret:/x")
    )
    assert status == 200
    return str(body["access_token"])


def bearer(token: str, key: str = "flyte-authorization") -> list[tuple[str, str]]:
    return [(key, f"Bearer {token}")]


def test_calls_without_a_token_are_unauthenticated(channel: grpc.Channel) -> None:
    admin = admin_pb2_grpc.AdminServiceStub(channel)
    with pytest.raises(grpc.RpcError) as err:
        admin.GetVersion(version_pb2.GetVersionRequest())
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_auth_metadata_is_public_and_points_at_the_token_endpoint(
    emu: FlyteAdminEmulator, channel: grpc.Channel
) -> None:
    stub = auth_pb2_grpc.AuthMetadataServiceStub(channel)
    meta = stub.GetOAuth2Metadata(auth_pb2.OAuth2MetadataRequest())
    assert meta.token_endpoint == f"{emu.http_url}/oauth2/token"
    assert "client_credentials" in meta.grant_types_supported
    assert list(meta.scopes_supported) == ["all", "read"]
    client = stub.GetPublicClientConfig(auth_pb2.PublicClientAuthConfigRequest())
    assert client.authorization_metadata_key == "flyte-authorization"
    assert list(client.scopes) == ["all", "read"]
    assert client.service_http_endpoint == emu.http_url
    with urllib.request.urlopen(f"{emu.http_url}/.well-known/oauth-authorization-server", timeout=10) as r:
        assert json.loads(r.read())["token_endpoint"] == meta.token_endpoint


def test_token_endpoint_basic_and_form_credentials(emu: FlyteAdminEmulator) -> None:
    status, body = post_token(
        emu.token_url, {"grant_type": "client_credentials", "scope": "read"}, basic=("my-client", "s3cret:/x")
    )
    assert status == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert body["scope"] == "read"
    status, body = post_token(
        emu.token_url,
        {"grant_type": "client_credentials", "client_id": "my-client", "client_secret": "s3cret:/x"},
    )
    assert status == 200
    assert body["access_token"]


@pytest.mark.parametrize(
    ("form", "basic", "status", "error"),
    [
        ({"grant_type": "client_credentials"}, ("my-client", "wrong"), 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, ("someone-else", "s3cret:/x"), 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, None, 401, "invalid_client"),
        ({"grant_type": "password"}, ("my-client", "s3cret:/x"), 400, "unsupported_grant_type"),
        (
            {"grant_type": "client_credentials", "scope": "admin"},
            ("my-client", "s3cret:/x"),
            400,
            "invalid_scope",
        ),
    ],
)
def test_token_endpoint_errors_are_oauth_json(
    emu: FlyteAdminEmulator, form: dict[str, str], basic: tuple[str, str] | None, status: int, error: str
) -> None:
    got_status, body = post_token(emu.token_url, form, basic)
    assert (got_status, body["error"]) == (status, error)
    assert body["error_description"]


def test_valid_token_in_the_configured_key_is_accepted_and_becomes_the_principal(
    emu: FlyteAdminEmulator, channel: grpc.Channel, token: str
) -> None:
    admin = admin_pb2_grpc.AdminServiceStub(channel)
    admin.CreateExecution(create_request("authed"), metadata=bearer(token))
    ex = admin.GetExecution(
        execution_pb2.WorkflowExecutionGetRequest(id=ident("authed")), metadata=bearer(token)
    )
    assert ex.spec.metadata.principal == "my-client"
    admin.TerminateExecution(
        execution_pb2.ExecutionTerminateRequest(id=ident("authed"), cause="done"), metadata=bearer(token)
    )
    assert emu.execution(PROJECT, DOMAIN, "authed").closure.abort_metadata.principal == "my-client"


@pytest.mark.parametrize(
    "metadata",
    [
        [("authorization", "Bearer {token}")],  # flytekit's default key, not the configured one
        [("flyte-authorization", "Token {token}")],
        [("flyte-authorization", "Bearer not-a-token")],
    ],
)
def test_wrong_key_scheme_or_token_is_unauthenticated(
    channel: grpc.Channel, token: str, metadata: list[tuple[str, str]]
) -> None:
    admin = admin_pb2_grpc.AdminServiceStub(channel)
    with pytest.raises(grpc.RpcError) as err:
        admin.GetVersion(
            version_pb2.GetVersionRequest(), metadata=[(k, v.format(token=token)) for k, v in metadata]
        )
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_tokens_expire_after_the_ttl(flyte_admin_emulator_factory: Callable[..., FlyteAdminEmulator]) -> None:
    emu = flyte_admin_emulator_factory(
        auth=AuthSettings(client_id="c", client_secret="s", token_ttl_seconds=0.2)
    )
    _, body = post_token(emu.token_url, {"grant_type": "client_credentials"}, basic=("c", "s"))
    with grpc.insecure_channel(emu.grpc_endpoint) as ch:
        admin = admin_pb2_grpc.AdminServiceStub(ch)
        admin.GetVersion(version_pb2.GetVersionRequest(), metadata=bearer(body["access_token"]))

        def rejection() -> grpc.RpcError | None:
            try:
                admin.GetVersion(version_pb2.GetVersionRequest(), metadata=bearer(body["access_token"]))
            except grpc.RpcError as err:
                return err
            return None

        err = wait_for(rejection, timeout=10, interval=0.05)
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "expired" in (err.details() or "")


def test_expire_tokens_control_forces_a_refresh(
    emu: FlyteAdminEmulator, channel: grpc.Channel, token: str
) -> None:
    admin = admin_pb2_grpc.AdminServiceStub(channel)
    admin.GetVersion(version_pb2.GetVersionRequest(), metadata=bearer(token))
    emu.expire_tokens()
    with pytest.raises(grpc.RpcError) as err:
        admin.GetVersion(version_pb2.GetVersionRequest(), metadata=bearer(token))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_auth_metadata_service_is_unimplemented_when_auth_is_off(channel_without_auth: grpc.Channel) -> None:
    stub = auth_pb2_grpc.AuthMetadataServiceStub(channel_without_auth)
    with pytest.raises(grpc.RpcError) as err:
        stub.GetPublicClientConfig(auth_pb2.PublicClientAuthConfigRequest())
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


@pytest.fixture
def channel_without_auth(flyte_admin_emulator: FlyteAdminEmulator) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(flyte_admin_emulator.grpc_endpoint) as ch:
        yield ch


def test_unmodified_flytekit_client_credentials_flow(emu: FlyteAdminEmulator) -> None:
    """flytekit discovers the token endpoint, fetches a token, and refreshes it after expiry."""
    from flytekit.configuration import Config, PlatformConfig
    from flytekit.remote import FlyteRemote

    config = Config(
        platform=PlatformConfig(
            endpoint=emu.grpc_endpoint,
            insecure=True,
            auth_mode="ClientSecret",
            client_id="my-client",
            client_credentials_secret="s3cret:/x",
        )
    )
    remote = FlyteRemote(config, default_project=PROJECT, default_domain=DOMAIN)
    lp = remote.fetch_launch_plan(name=LAUNCH_PLAN)
    execution = remote.execute(lp, inputs={"seed": 1}, execution_name="via-flytekit-auth")
    assert emu.execution(PROJECT, DOMAIN, execution.id.name).spec.metadata.principal == "my-client"
    emu.expire_tokens()
    assert remote.client.get_execution(execution.id).id.name == "via-flytekit-auth"
    counters = emu.counters()
    assert counters["GetPublicClientConfig"] >= 1
    assert counters["GetOAuth2Metadata"] >= 1
