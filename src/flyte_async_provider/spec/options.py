"""Execution options: validate the operator's plain-dict arguments and build flytekit's models.

Validation is pure (no network, no flytekit import) so the operator can run it in ``__init__``
(DAG parse time) and again after templating, and fail before anything is submitted. Building the
flytekit ``Options`` happens on the worker, just before CreateExecution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from functools import cache
from typing import TYPE_CHECKING, Any

from flyte_async_provider.exceptions import FlyteConfigError
from flyte_async_provider.phases import TERMINAL_PHASES, ExecutionPhase

if TYPE_CHECKING:
    from flytekit.models.common import Notification
    from flytekit.models.security import SecurityContext
    from flytekit.remote.remote import Options

# One Flyte Notification carries exactly one channel (a protobuf oneof), so each channel given in a
# notification dict becomes its own Notification. "pagerduty" is accepted as the old provider spelled it.
NOTIFICATION_CHANNELS = {
    "email": "email",
    "slack": "slack",
    "pager_duty": "pager_duty",
    "pagerduty": "pager_duty",
}
SECRET_KEYS = frozenset({"group", "key", "group_version", "mount_requirement", "env_var"})
SECRET_MOUNTS = frozenset({"ANY", "ENV_VAR", "FILE"})


def _str_dict(name: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise FlyteConfigError(f"{name} must be a dict of strings to strings, got {value!r}.")
    return dict(value)


def _phase(index: int, value: Any) -> ExecutionPhase:
    try:
        phase = ExecutionPhase.parse(value) if isinstance(value, (int, str)) else None
    except (KeyError, ValueError):
        phase = None
    if phase is None or phase not in TERMINAL_PHASES:  # Flyte Admin notifies on terminal phases only
        allowed = ", ".join(sorted(p.name for p in TERMINAL_PHASES))
        raise FlyteConfigError(
            f"notifications[{index}]: phase {value!r} is not a terminal Flyte phase; use one of {allowed} "
            "(names or WorkflowExecutionPhase values)."
        )
    return phase


def validate_notifications(notifications: Any) -> list[tuple[tuple[int, ...], str, tuple[str, ...]]]:
    """Check the notifications list; return ``(phases, channel, recipients)`` per Flyte Notification."""
    if notifications is None:
        return []
    if not isinstance(notifications, Sequence) or isinstance(notifications, (str, bytes)):
        raise FlyteConfigError(f"notifications must be a list of dicts, got {notifications!r}.")
    result: list[tuple[tuple[int, ...], str, tuple[str, ...]]] = []
    for i, item in enumerate(notifications):
        if not isinstance(item, Mapping):
            raise FlyteConfigError(f"notifications[{i}] must be a dict, got {item!r}.")
        unknown = set(item) - {"phases", *NOTIFICATION_CHANNELS}
        if unknown:
            raise FlyteConfigError(
                f"notifications[{i}] has unknown keys {sorted(unknown)}; allowed: phases, email, slack, "
                "pager_duty."
            )
        phases_raw = item.get("phases")
        if not isinstance(phases_raw, Sequence) or isinstance(phases_raw, (str, bytes)) or not phases_raw:
            raise FlyteConfigError(f"notifications[{i}] needs a non-empty list 'phases', got {phases_raw!r}.")
        phases = tuple(sorted({int(_phase(i, p)) for p in phases_raw}))
        channels = [k for k in item if k in NOTIFICATION_CHANNELS]
        if not channels:
            raise FlyteConfigError(f"notifications[{i}] needs at least one of email, slack, pager_duty.")
        for key in channels:
            spec = item[key]
            recipients = spec.get("recipients_email") if isinstance(spec, Mapping) else None
            if (
                not isinstance(spec, Mapping)
                or set(spec) != {"recipients_email"}
                or not isinstance(recipients, Sequence)
                or isinstance(recipients, (str, bytes))
                or not recipients
                or not all(isinstance(r, str) and r for r in recipients)
            ):
                raise FlyteConfigError(
                    f"notifications[{i}][{key!r}] must be {{'recipients_email': [<address>, ...]}}, "
                    f"got {spec!r}."
                )
            result.append((phases, NOTIFICATION_CHANNELS[key], tuple(recipients)))
    return result


def validate_secrets(secrets: Any) -> list[dict[str, str]]:
    """Check the secrets list: dicts with a ``group`` and known keys only."""
    if secrets is None:
        return []
    if not isinstance(secrets, Sequence) or isinstance(secrets, (str, bytes)):
        raise FlyteConfigError(f"secrets must be a list of dicts, got {secrets!r}.")
    result = []
    for i, item in enumerate(secrets):
        result.append(_secret(f"secrets[{i}]", item))
    return result


def _secret(where: str, item: Any) -> dict[str, str]:
    if not isinstance(item, Mapping):
        raise FlyteConfigError(f"{where} must be a dict with at least 'group', got {item!r}.")
    unknown = set(item) - SECRET_KEYS
    if unknown:
        raise FlyteConfigError(f"{where} has unknown keys {sorted(unknown)}; allowed: {sorted(SECRET_KEYS)}.")
    if not isinstance(item.get("group"), str) or not item["group"]:
        raise FlyteConfigError(f"{where} needs a non-empty string 'group'.")
    for key in SECRET_KEYS - {"mount_requirement"}:
        if key in item and item[key] is not None and not isinstance(item[key], str):
            raise FlyteConfigError(f"{where}[{key!r}] must be a string, got {type(item[key]).__name__}.")
    mount = item.get("mount_requirement")
    if mount is not None and str(mount).upper() not in SECRET_MOUNTS:
        raise FlyteConfigError(
            f"{where}['mount_requirement'] must be one of {sorted(SECRET_MOUNTS)}, got {mount!r}."
        )
    return {k: str(v) for k, v in item.items() if v is not None}


def validate_oauth2_client(value: Any) -> tuple[str, dict[str, str]] | None:
    """Check ``{"client_id": ..., "client_secret": <secret ref>}``.

    Flyte's ``OAuth2Client.client_secret`` is a *reference* to a Flyte secret, never the value: a dict
    like a ``secrets`` entry, or a string naming the secret group.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) != {"client_id", "client_secret"}:
        raise FlyteConfigError(
            "oauth2_client must be a dict with exactly the keys 'client_id' and 'client_secret' "
            "(a Flyte secret reference such as {'group': 'my-group', 'key': 'client-secret'})."
        )
    client_id = value["client_id"]
    if not isinstance(client_id, str) or not client_id:
        raise FlyteConfigError("oauth2_client['client_id'] must be a non-empty string.")
    ref = value["client_secret"]
    secret = (
        {"group": ref} if isinstance(ref, str) and ref else _secret("oauth2_client['client_secret']", ref)
    )
    return client_id, secret


def _opt_str(name: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise FlyteConfigError(f"{name} must be a string, got {value!r}.")
    return value


@dataclass(frozen=True)
class ExecutionOptions:
    """Per-execution overrides passed to CreateExecution; plain values only (safe to template/log)."""

    raw_output_data_config: str | None = None
    kubernetes_service_account: str | None = None
    oauth2_client: Mapping[str, Any] | None = None
    labels: Mapping[str, str] | None = None
    annotations: Mapping[str, str] | None = None
    secrets: Sequence[Mapping[str, Any]] | None = None
    notifications: Sequence[Mapping[str, Any]] | None = None
    disable_notifications: bool | None = None
    max_parallelism: int | None = None
    overwrite_cache: bool | None = None
    envs: Mapping[str, str] | None = None
    tags: Sequence[str] | None = None
    interruptible: bool | None = None
    cluster_pool: str | None = None

    def validate(self) -> None:
        """Raise :class:`FlyteConfigError` naming the first bad option."""
        _opt_str("raw_output_data_config", self.raw_output_data_config)
        _opt_str("kubernetes_service_account", self.kubernetes_service_account)
        _opt_str("cluster_pool", self.cluster_pool)
        _str_dict("labels", self.labels)
        _str_dict("annotations", self.annotations)
        _str_dict("envs", self.envs)
        if self.tags is not None and (
            isinstance(self.tags, (str, bytes)) or not all(isinstance(t, str) for t in self.tags)
        ):
            raise FlyteConfigError(f"tags must be a list of strings, got {self.tags!r}.")
        if self.max_parallelism is not None and (
            isinstance(self.max_parallelism, bool)
            or not isinstance(self.max_parallelism, int)
            or self.max_parallelism < 0
        ):
            raise FlyteConfigError(
                f"max_parallelism must be a non-negative integer, got {self.max_parallelism!r}."
            )
        for name in ("disable_notifications", "overwrite_cache", "interruptible"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise FlyteConfigError(f"{name} must be true, false or None, got {value!r}.")
        notes = validate_notifications(self.notifications)
        if notes and self.disable_notifications:
            raise FlyteConfigError("notifications were given but disable_notifications=True turns them off.")
        validate_secrets(self.secrets)
        validate_oauth2_client(self.oauth2_client)

    def security_context(self) -> SecurityContext | None:
        """Run-as identity and secrets, or None to keep the launch plan's."""
        from flytekit.models.security import Identity, SecurityContext

        oauth = validate_oauth2_client(self.oauth2_client)
        secrets = validate_secrets(self.secrets)
        if not (self.kubernetes_service_account or oauth or secrets):
            return None
        run_as = None
        if self.kubernetes_service_account or oauth:
            run_as = Identity(
                k8s_service_account=self.kubernetes_service_account or None,
                oauth2_client=_oauth2_client_model(*oauth) if oauth else None,
            )
        return SecurityContext(run_as=run_as, secrets=[_secret_model(s) for s in secrets] or None)

    def notification_models(self) -> list[Notification]:
        """One flytekit Notification per channel (the old provider set all three on each)."""
        from flytekit.models.common import (
            EmailNotification,
            Notification,
            PagerDutyNotification,
            SlackNotification,
        )

        built: list[Notification] = []
        for phases, channel, recipients in validate_notifications(self.notifications):
            if channel == "email":
                built.append(Notification(list(phases), email=EmailNotification(list(recipients))))
            elif channel == "slack":
                built.append(Notification(list(phases), slack=SlackNotification(list(recipients))))
            else:
                built.append(Notification(list(phases), pager_duty=PagerDutyNotification(list(recipients))))
        return built

    def to_flytekit(self) -> Options:
        """flytekit ``Options`` for ``FlyteRemote.execute``."""
        from flytekit.models.common import Annotations, Labels, RawOutputDataConfig
        from flytekit.remote.remote import Options

        self.validate()
        # Notifications are applied by FlyteHook (see hooks.flyte._notification_overrides): flytekit
        # 1.16 either drops them or sends an empty list that silences the launch plan's own.
        return Options(
            labels=Labels(dict(self.labels)) if self.labels else None,
            annotations=Annotations(dict(self.annotations)) if self.annotations else None,
            raw_output_data_config=(
                RawOutputDataConfig(self.raw_output_data_config) if self.raw_output_data_config else None
            ),
            security_context=self.security_context(),
            max_parallelism=self.max_parallelism,
        )

    def execute_kwargs(self) -> dict[str, Any]:
        """The options ``FlyteRemote.execute`` takes as keyword arguments rather than in ``Options``."""
        return {
            "overwrite_cache": self.overwrite_cache,
            "interruptible": self.interruptible,
            "envs": dict(self.envs) if self.envs else None,
            "tags": list(self.tags) if self.tags else None,
            "cluster_pool": self.cluster_pool or None,
        }


def _secret_model(spec: Mapping[str, str]) -> Any:
    from flytekit.models.security import Secret

    mount = spec.get("mount_requirement")
    return Secret(
        group=spec["group"],
        key=spec.get("key"),
        group_version=spec.get("group_version"),
        mount_requirement=Secret.MountType[mount.upper()] if mount else Secret.MountType.ANY,
        env_var=spec.get("env_var"),
    )


@cache
def _oauth2_client_class() -> type[Any]:
    """flytekit's ``OAuth2Client`` model sends ``client_secret`` as a string where flyteidl wants a
    ``Secret`` message (so CreateExecution fails client-side); this subclass sends the reference."""
    from flyteidl.core import security_pb2
    from flytekit.models.security import OAuth2Client

    class SecretRefOAuth2Client(OAuth2Client):  # type: ignore[misc]
        secret_ref: Any = None

        def to_flyte_idl(self) -> security_pb2.OAuth2Client:
            return security_pb2.OAuth2Client(
                client_id=self.client_id, client_secret=self.secret_ref.to_flyte_idl()
            )

    return SecretRefOAuth2Client


def _oauth2_client_model(client_id: str, secret: Mapping[str, str]) -> Any:
    model = _oauth2_client_class()(client_id=client_id, client_secret=secret["group"])
    model.secret_ref = _secret_model(secret)
    return model


# The operator arguments that become execution options, taken flat under the operator's names (the
# start-from-trigger path passes them so, for the triggerer to render the templated ones).
OPTION_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ExecutionOptions))
# The operator arguments that say what to run and where.
TARGET_FIELDS = (
    "flyte_conn_id",
    "project",
    "domain",
    "launchplan_name",
    "task_name",
    "workflow_name",
    "version",
    "inputs",
    "execution_name",
)
# Every operator argument the launch trigger takes under the same name and meaning.
LAUNCH_FIELDS = (*TARGET_FIELDS, *OPTION_FIELDS)
