"""Test helpers shared by this provider's tests (hooks, operators, sensors, DAGs, TLS set-ups).

tests/conftest.py puts this directory on ``sys.path``, so every test folder can import it.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT = "flytesnacks"
DOMAIN = "development"
LAUNCH_PLAN = "ml_training.pima_diabetes.diabetes.diabetes_xgboost_model"
GOOD_INPUTS = {"test_split_ratio": 0.66, "seed": 5}


def connection_json(emulator: Any, **extra: Any) -> str:
    """``AIRFLOW_CONN_*`` JSON for a connection to ``emulator`` (insecure gRPC)."""
    host, port = emulator.grpc_endpoint.rsplit(":", 1)
    extras: dict[str, Any] = {"insecure": True, "project": PROJECT, "domain": DOMAIN}
    extras.update(extra.pop("extra", {}))
    body: dict[str, Any] = {"conn_type": "flyte", "host": host, "port": int(port), "extra": extras}
    body.update(extra)
    return json.dumps(body)


@dataclass
class FakeTI:
    """The task-instance surface the operator and sensor use outside a task runner."""

    dag_id: str = "dag"
    task_id: str = "task"
    run_id: str = "manual__2026-01-01T00:00:00+00:00"
    map_index: int = -1
    try_number: int = 1
    xcoms: dict[str, Any] = field(default_factory=dict)
    stats_tags: dict[str, str] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        json.dumps(value)  # XCom values must be JSON-serializable
        self.xcoms[key] = value


class FakeStateStore:
    """``task_state_store`` stand-in: survives across tries of one task like the real one."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, **_: Any) -> None:
        self.values[key] = value


@dataclass
class FakeDagRun:
    """The dag-run surface the operator reads: ``clear_number`` grows when a user clears the run."""

    run_id: str = "manual__2026-01-01T00:00:00+00:00"
    clear_number: int = 0


def make_context(
    ti: FakeTI | None = None, store: FakeStateStore | None = None, clear_number: int = 0
) -> dict[str, Any]:
    """A minimal task context (``ti``, ``dag_run``, ``task_state_store``)."""
    ti = ti or FakeTI()
    context: dict[str, Any] = {
        "ti": ti,
        "task_instance": ti,
        "run_id": ti.run_id,
        "dag_run": FakeDagRun(ti.run_id, clear_number),
    }
    if store is not None:
        context["task_state_store"] = store
    return context


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed CA certificate for ``localhost`` and 127.0.0.1, and its key: ``(cert.pem, key.pem)``."""
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
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file
