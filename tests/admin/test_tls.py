"""TLS to the emulator: CA file, skip-verify (server certificate fetched and trusted), untrusted."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Callable
from pathlib import Path

import pytest
from admin_support import DOMAIN, PROJECT, config_for, create

from flyte_async_provider.admin import NO_RETRY, get_admin_client
from flyte_async_provider.emulator import Advance, AuthSettings, FlyteAdminEmulator, Outcome, TlsSettings
from flyte_async_provider.exceptions import FlyteTransientError
from flyte_async_provider.phases import ExecutionPhase


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder: Path = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_file), str(key_file)


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
    create(emu, ["alpha"])
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
