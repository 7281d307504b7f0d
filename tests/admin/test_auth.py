"""Token sources against the emulator's OAuth2 server: discovery, sharing, refresh, refusals, commands."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable

import pytest

from flyte_async_provider.admin import get_admin_client
from flyte_async_provider.admin.auth import ClientCredentialsTokenSource, get_token_source
from flyte_async_provider.config import AuthMode
from flyte_async_provider.emulator import Advance, AuthSettings, FlyteAdminEmulator, Outcome
from flyte_async_provider.exceptions import FlyteAuthError
from flyte_async_provider.phases import ExecutionPhase
from support.flyte import DOMAIN, PROJECT, config_for, create_without_rpcs

CLIENT_ID, SECRET = "airflow", "s3cr3t-Value"


@pytest.fixture
def auth_emu(flyte_admin_emulator_factory: Callable[..., FlyteAdminEmulator]) -> FlyteAdminEmulator:
    return flyte_admin_emulator_factory(
        auth=AuthSettings(client_id=CLIENT_ID, client_secret=SECRET, metadata_key="flyte-authorization"),
        default_outcome=Outcome.succeed(),
        default_advance=Advance.manual(),
    )


async def test_thousand_callers_share_one_token_request(auth_emu: FlyteAdminEmulator) -> None:
    create_without_rpcs(auth_emu, ["alpha"])
    config = config_for(auth_emu, client_id=CLIENT_ID, client_secret=SECRET)
    client = get_admin_client(config)
    results = await asyncio.gather(*(client.get_execution(PROJECT, DOMAIN, "alpha") for _ in range(1000)))
    assert {r.phase for r in results} == {ExecutionPhase.UNDEFINED}
    source = get_token_source(config)
    assert isinstance(source, ClientCredentialsTokenSource)
    assert source.fetch_count == 1
    counters = auth_emu.counters()
    # Discovery (unauthenticated) once per process, and every call accepted with the published key.
    assert counters["GetOAuth2Metadata"] == counters["GetPublicClientConfig"] == 1
    assert counters["GetExecution"] == 1000


async def test_expired_token_is_refreshed_once_and_the_call_resent(auth_emu: FlyteAdminEmulator) -> None:
    create_without_rpcs(auth_emu, ["alpha"])
    config = config_for(auth_emu, client_id=CLIENT_ID, client_secret=SECRET)
    client = get_admin_client(config)
    await client.get_execution(PROJECT, DOMAIN, "alpha")
    auth_emu.expire_tokens()  # the server now refuses the cached token before its stated expiry
    auth_emu.reset_counters()
    status = await client.get_execution(PROJECT, DOMAIN, "alpha")
    assert status.phase is ExecutionPhase.UNDEFINED
    assert get_token_source(config).fetch_count == 2  # type: ignore[attr-defined]
    assert auth_emu.counters()["GetExecution"] == 2  # refused once, re-sent once


async def test_persistent_unauthenticated_fails_after_one_refresh(auth_emu: FlyteAdminEmulator) -> None:
    create_without_rpcs(auth_emu, ["alpha"])
    config = config_for(auth_emu, client_id=CLIENT_ID, client_secret=SECRET)
    auth_emu.inject_fault("GetExecution", error_rate=1.0, code="UNAUTHENTICATED")
    with pytest.raises(FlyteAuthError) as info:
        await get_admin_client(config).get_execution(PROJECT, DOMAIN, "alpha")
    assert info.value.code == "UNAUTHENTICATED"
    assert auth_emu.counters()["GetExecution"] == 2
    assert get_token_source(config).fetch_count == 2  # type: ignore[attr-defined]


async def test_token_expiring_mid_watch_is_refreshed_before_expiry(
    flyte_admin_emulator_factory: Callable[..., FlyteAdminEmulator],
) -> None:
    emu = flyte_admin_emulator_factory(
        auth=AuthSettings(client_id=CLIENT_ID, client_secret=SECRET, token_ttl_seconds=1.0),
        default_outcome=Outcome.succeed(),
        default_advance=Advance.after_seconds(0.4),
    )
    create_without_rpcs(emu, ["alpha"])
    config = config_for(emu, client_id=CLIENT_ID, client_secret=SECRET)
    from flyte_async_provider.admin import get_status_poller

    phases = [
        s.phase async for s in get_status_poller(config, PROJECT, DOMAIN).watch("alpha", poll_interval=0.1)
    ]
    assert phases[-1] is ExecutionPhase.SUCCEEDED
    assert get_token_source(config).fetch_count >= 2  # type: ignore[attr-defined]


async def test_wrong_secret_is_a_quick_auth_error_naming_the_connection(auth_emu: FlyteAdminEmulator) -> None:
    create_without_rpcs(auth_emu, ["alpha"])
    wrong = "not-the-Secret-42"
    config = config_for(auth_emu, client_id=CLIENT_ID, client_secret=wrong)
    client = get_admin_client(config)
    started = time.monotonic()
    with pytest.raises(FlyteAuthError) as info:
        await client.get_execution(PROJECT, DOMAIN, "alpha")
    assert time.monotonic() - started < 5.0  # no retry loop
    message = str(info.value)
    assert "flyte_test" in message
    assert auth_emu.token_url in message
    assert "invalid_client" in message
    assert wrong not in message
    assert SECRET not in message
    # Many callers right after: same error from the negative cache, no new token request.
    for _ in range(5):
        with pytest.raises(FlyteAuthError):
            await client.get_execution(PROJECT, DOMAIN, "alpha")
    assert get_token_source(config).fetch_count == 1  # type: ignore[attr-defined]
    assert "GetExecution" not in auth_emu.counters()


async def test_wrong_secret_fails_every_watcher_of_the_poller(auth_emu: FlyteAdminEmulator) -> None:
    from flyte_async_provider.admin import get_status_poller

    names = create_without_rpcs(auth_emu, ["alpha", "beta", "gamma"])
    poller = get_status_poller(
        config_for(auth_emu, client_id=CLIENT_ID, client_secret="wrong"), PROJECT, DOMAIN
    )

    async def watch(name: str) -> BaseException | None:
        try:
            async for _ in poller.watch(name, poll_interval=0.1):
                pass
        except FlyteAuthError as exc:
            return exc
        return None

    errors = await asyncio.wait_for(asyncio.gather(*(watch(n) for n in names)), 10)
    assert all(isinstance(e, FlyteAuthError) for e in errors)
    assert poller.stats()["watchers"] == 0


async def test_configured_token_endpoint_and_key_skip_discovery(auth_emu: FlyteAdminEmulator) -> None:
    create_without_rpcs(auth_emu, ["alpha"])
    config = config_for(
        auth_emu,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        token_endpoint=auth_emu.token_url,
        authorization_metadata_key="flyte-authorization",
        scopes=("all",),
    )
    await get_admin_client(config).get_execution(PROJECT, DOMAIN, "alpha")
    assert "GetOAuth2Metadata" not in auth_emu.counters()


_FETCH_TOKEN = """
import base64, json, sys, urllib.parse, urllib.request
url, cid, secret = sys.argv[1:4]
req = urllib.request.Request(url, data=b"grant_type=client_credentials", headers={
    "Authorization": "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode()})
print(json.load(urllib.request.urlopen(req))["access_token"])
"""


async def test_external_command_token(auth_emu: FlyteAdminEmulator) -> None:
    create_without_rpcs(auth_emu, ["alpha"])
    command = (sys.executable, "-c", _FETCH_TOKEN, auth_emu.token_url, CLIENT_ID, SECRET)
    config = config_for(auth_emu, auth_mode=AuthMode.EXTERNAL_COMMAND, command=command)
    client = get_admin_client(config)
    results = await asyncio.gather(*(client.get_execution(PROJECT, DOMAIN, "alpha") for _ in range(20)))
    assert len(results) == 20
    assert get_token_source(config).fetch_count == 1  # type: ignore[attr-defined]
    auth_emu.expire_tokens()
    await client.get_execution(PROJECT, DOMAIN, "alpha")  # UNAUTHENTICATED -> command re-run once
    assert get_token_source(config).fetch_count == 2  # type: ignore[attr-defined]


async def test_failing_external_command_is_an_auth_error(auth_emu: FlyteAdminEmulator) -> None:
    command = (sys.executable, "-c", "import sys; sys.exit(3)")
    config = config_for(auth_emu, auth_mode=AuthMode.EXTERNAL_COMMAND, command=command)
    with pytest.raises(FlyteAuthError, match=r"flyte_test.*exited with 3"):
        await get_admin_client(config).get_execution(PROJECT, DOMAIN, "alpha")
