"""TLS to the emulator: CA file, skip-verify (server certificate fetched and trusted), untrusted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from flyte_async_provider.admin import NO_RETRY, get_admin_client
from flyte_async_provider.emulator import Advance, AuthSettings, FlyteAdminEmulator, Outcome, TlsSettings
from flyte_async_provider.exceptions import FlyteTransientError
from flyte_async_provider.phases import ExecutionPhase
from flyte_async_provider.tls_mismatch import FlyteTlsMismatchError
from support.flyte import DOMAIN, PROJECT, config_for, create_without_rpcs


@pytest.fixture
def certificate(tls_certificate: tuple[Path, Path]) -> tuple[str, str]:
    return str(tls_certificate[0]), str(tls_certificate[1])


@pytest.fixture
def tls_emu(
    flyte_admin_emulator_factory: Callable[..., FlyteAdminEmulator], certificate: tuple[str, str]
) -> FlyteAdminEmulator:
    emu = flyte_admin_emulator_factory(
        tls=TlsSettings(*certificate),
        auth=AuthSettings(client_id="c", client_secret="s"),
        default_outcome=Outcome.succeed(),
        default_advance=Advance.manual(),
    )
    create_without_rpcs(emu, ["alpha"])
    return emu


async def test_ca_file_with_client_credentials_over_https(
    tls_emu: FlyteAdminEmulator, certificate: tuple[str, str]
) -> None:
    config = config_for(
        tls_emu, insecure=False, ca_cert_file_path=certificate[0], client_id="c", client_secret="s"
    )
    status = await get_admin_client(config).get_execution(PROJECT, DOMAIN, "alpha")
    assert status.phase is ExecutionPhase.UNDEFINED


async def test_insecure_skip_verify_trusts_the_presented_certificate(tls_emu: FlyteAdminEmulator) -> None:
    config = config_for(tls_emu, insecure=False, insecure_skip_verify=True, client_id="c", client_secret="s")
    status = await get_admin_client(config).get_execution(PROJECT, DOMAIN, "alpha")
    assert status.phase is ExecutionPhase.UNDEFINED


async def test_untrusted_certificate_is_refused(tls_emu: FlyteAdminEmulator) -> None:
    config = config_for(tls_emu, insecure=False)
    with pytest.raises(FlyteTransientError):
        await get_admin_client(config).get_execution(PROJECT, DOMAIN, "alpha", retry=NO_RETRY, timeout=5)


# -- a connection whose TLS setting does not match the server: say so, name the field, never retry --
async def test_tls_connection_to_a_plaintext_admin_names_the_insecure_extra(
    emu: FlyteAdminEmulator, certificate: tuple[str, str]
) -> None:
    for tls in ({"ca_cert_file_path": certificate[0]}, {"insecure_skip_verify": True}):
        config = config_for(emu, insecure=False, **tls)
        with pytest.raises(FlyteTlsMismatchError) as info:
            await get_admin_client(config).get_execution(PROJECT, DOMAIN, "alpha", timeout=5)
        assert "answers in plaintext" in str(info.value)
        assert '"insecure": true' in str(info.value)
        assert not info.value.retryable


async def test_plaintext_connection_to_a_tls_admin_says_it_expects_tls(tls_emu: FlyteAdminEmulator) -> None:
    config = config_for(tls_emu, insecure=True, client_id="c", client_secret="s")
    with pytest.raises(FlyteTlsMismatchError) as info:
        await get_admin_client(config).get_execution(PROJECT, DOMAIN, "alpha", timeout=5)
    assert "expects TLS" in str(info.value)
    assert '"insecure" to false' in str(info.value)


async def test_a_plaintext_admin_that_is_down_is_still_an_outage(emu: FlyteAdminEmulator) -> None:
    """Only a server that really speaks TLS turns a closed socket into a mismatch."""
    emu.start_outage()
    with pytest.raises(FlyteTransientError) as info:
        await get_admin_client(config_for(emu)).get_execution(PROJECT, DOMAIN, "alpha", retry=NO_RETRY)
    assert not isinstance(info.value, FlyteTlsMismatchError)
