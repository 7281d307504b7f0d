"""flytekit data/secrets/stats settings from the extras the old airflow-provider-flyte 0.0.5 accepted.

They do not matter for launching and watching executions, but migrated connections carry them and
flytekit uses them for data access (e.g. large outputs), so they are honoured, not just tolerated.
"""

from __future__ import annotations

import datetime
from typing import Any

from flyte_async_provider.config import FlyteConnectionConfig
from flyte_async_provider.exceptions import FlyteConfigError

_TRUE = {"true", "1", "yes", "on"}


def _bool(value: str) -> bool:
    return value.strip().lower() in _TRUE


def _int(conn_id: str, name: str, value: str) -> int:
    try:
        return int(float(value))
    except ValueError:
        raise FlyteConfigError(
            f"Connection {conn_id!r}: extra {name!r} must be a number, got {value!r}."
        ) from None


def legacy_config_kwargs(config: FlyteConnectionConfig) -> dict[str, Any]:
    """Keyword arguments for flytekit ``Config`` beyond ``platform`` (empty if no legacy extra is set)."""
    from flytekit.configuration import DataConfig, GCSConfig, S3Config, SecretsConfig, StatsConfig

    extras = dict(config.flytekit_extras)
    if not extras:
        return {}
    cid = config.conn_id
    secrets = SecretsConfig(
        env_prefix=extras.get("env_prefix", SecretsConfig.env_prefix),
        default_dir=extras.get("default_dir", SecretsConfig.default_dir),
        file_prefix=extras.get("file_prefix", SecretsConfig.file_prefix),
    )
    stats = StatsConfig(
        host=extras.get("statsd_host", StatsConfig.host),
        port=_int(cid, "statsd_port", extras["statsd_port"]) if "statsd_port" in extras else StatsConfig.port,
        disabled=_bool(extras["statsd_disabled"]) if "statsd_disabled" in extras else StatsConfig.disabled,
        disabled_tags=(
            _bool(extras["statsd_disabled_tags"])
            if "statsd_disabled_tags" in extras
            else StatsConfig.disabled_tags
        ),
    )
    s3 = S3Config(
        enable_debug=_bool(extras["s3_enable_debug"])
        if "s3_enable_debug" in extras
        else S3Config.enable_debug,
        endpoint=extras.get("s3_endpoint", S3Config.endpoint),
        retries=_int(cid, "s3_retries", extras["s3_retries"]) if "s3_retries" in extras else S3Config.retries,
        backoff=(
            datetime.timedelta(seconds=_int(cid, "s3_backoff", extras["s3_backoff"]))
            if "s3_backoff" in extras
            else S3Config.backoff
        ),
        access_key_id=extras.get("s3_access_key_id", S3Config.access_key_id),
        secret_access_key=extras.get("s3_secret_access_key", S3Config.secret_access_key),
    )
    gcs = GCSConfig(
        gsutil_parallelism=(
            _bool(extras["gsutil_parallelism"])
            if "gsutil_parallelism" in extras
            else GCSConfig.gsutil_parallelism
        )
    )
    kwargs: dict[str, Any] = {"secrets": secrets, "stats": stats, "data_config": DataConfig(s3=s3, gcs=gcs)}
    if extras.get("local_sandbox_path"):
        kwargs["local_sandbox_path"] = extras["local_sandbox_path"]
    return kwargs
