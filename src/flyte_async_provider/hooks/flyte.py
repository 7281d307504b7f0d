"""FlyteHook: the worker side's one gateway to Flyte.

Reads and plain-input launches run :class:`~flyte_async_provider.hooks.aio.FlyteAsyncHook` (the
triggers' gateway) on a private loop; flytekit's FlyteRemote does the rest. The connection is parsed
only by :func:`flyte_async_provider.config.parse_connection`, so both paths agree on endpoint, TLS and
credentials. flytekit does entity lookup and Python -> Flyte literal conversion; this hook adds
up-front input checks, execution options, and one translation of flytekit/gRPC failures into the
provider's typed errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from flyte_async_provider import connection_form
from flyte_async_provider.config import DEFAULT_CONN_ID, AuthMode, FlyteConnectionConfig, parse_connection
from flyte_async_provider.events import ended_event
from flyte_async_provider.exceptions import (
    FlyteAdminError,
    FlyteConfigError,
    FlyteExecutionError,
    FlyteNotFoundError,
    ended_before_terminate,
)
from flyte_async_provider.hooks.errors import grpc_status, translate
from flyte_async_provider.outcome import raise_for_event
from flyte_async_provider.phases import FlyteEventPayload
from flyte_async_provider.spec.options import ExecutionOptions
from flyte_async_provider.spec.values import check_inputs, literal_map_to_plain
from flyte_async_provider.tls_mismatch import FlyteTlsMismatchError, plaintext_to_tls_hint, tls_to_plaintext

if TYPE_CHECKING:
    from flytekit.configuration import Config
    from flytekit.remote import FlyteRemote

    from flyte_async_provider.admin.models import ExecutionStatus
    from flyte_async_provider.hooks.aio import FlyteAsyncHook

EXECUTION_NAME_RE = re.compile(r"^[a-z][a-z\-0-9]*$")
MAX_EXECUTION_NAME_LENGTH = 63


def validate_execution_name(name: Any) -> str:
    """Raise :class:`FlyteConfigError` unless Flyte Admin would accept ``name``."""
    if (
        not isinstance(name, str)
        or not EXECUTION_NAME_RE.match(name)
        or len(name) > MAX_EXECUTION_NAME_LENGTH
    ):
        raise FlyteConfigError(
            f"execution_name {name!r} is not valid for Flyte: it must match ^[a-z][a-z\\-0-9]*$ "
            f"(lowercase letters, digits, '-'; starting with a letter) and be at most "
            f"{MAX_EXECUTION_NAME_LENGTH} characters."
        )
    return name


@dataclass(frozen=True)
class ResolvedEntity:
    """A launchable Flyte entity with what input checks need."""

    kind: str
    name: str
    version: str
    entity: Any
    required: frozenset[str]
    fixed: frozenset[str]

    @property
    def label(self) -> str:
        """Human name, e.g. ``launch plan my.lp (version v1)``."""
        return f"{self.kind} {self.name} (version {self.version})"


class FlyteHook(BaseHook):
    """Launch, inspect and terminate Flyte executions through one ``flyte`` connection.

    :param flyte_conn_id: Airflow connection of type ``flyte``.
    :param project: Flyte project (default: the connection's ``project`` extra).
    :param domain: Flyte domain (default: the connection's ``domain`` extra).
    """

    conn_name_attr = "flyte_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "flyte"
    hook_name = "Flyte"

    def __init__(
        self, flyte_conn_id: str = DEFAULT_CONN_ID, project: str | None = None, domain: str | None = None
    ) -> None:
        super().__init__()
        self.flyte_conn_id = flyte_conn_id
        self._project = project
        self._domain = domain

    # ------------------------------------------------------------------ connection form (Airflow < 3.2)
    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form (Airflow >= 3.2 reads ``conn-fields`` instead)."""
        return connection_form.legacy_form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabel and hide standard fields (Airflow >= 3.2 reads ``ui-field-behaviour`` instead)."""
        return connection_form.legacy_field_behaviour()

    # ------------------------------------------------------------------ configuration
    @cached_property
    def config(self) -> FlyteConnectionConfig:
        """The parsed connection (raises :class:`FlyteConfigError` naming the bad field)."""
        try:
            conn = self.get_connection(self.flyte_conn_id)
        except Exception as exc:
            from flyte_async_provider._compat import connection_from_metadata_db

            # A Python shell: Airflow's own lookup does not read the database there (see the function).
            stored = connection_from_metadata_db(self.flyte_conn_id)
            if stored is None:
                raise FlyteConfigError(
                    f"Flyte connection {self.flyte_conn_id!r} could not be loaded: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            conn = stored
        return parse_connection(conn)

    def _translate(self, exc: BaseException, rpc: str, what: str = "") -> FlyteAdminError:
        """Typed error for a failed flytekit call; a TLS/plaintext mismatch says so (never an outage)."""
        err = translate(exc, rpc, what)
        return tls_to_plaintext(self.config, str(err), rpc) or err

    @property
    def project(self) -> str:
        """The Flyte project: hook argument, else the connection's extra."""
        value = self._project or self.config.project
        if not value:
            raise FlyteConfigError(
                "No Flyte project: pass project= or set extra 'project' on connection "
                f"{self.flyte_conn_id!r}."
            )
        return value

    @property
    def domain(self) -> str:
        """The Flyte domain: hook argument, else the connection's extra."""
        value = self._domain or self.config.domain
        if not value:
            raise FlyteConfigError(
                f"No Flyte domain: pass domain= or set extra 'domain' on connection {self.flyte_conn_id!r}."
            )
        return value

    def flytekit_config(self) -> Config:
        """flytekit ``Config`` for this connection (platform + legacy data/secrets/stats extras)."""
        from flytekit.configuration import Config, PlatformConfig

        from flyte_async_provider.flytekit_config import auth_plugin
        from flyte_async_provider.flytekit_config.legacy import legacy_config_kwargs

        c = self.config
        platform = PlatformConfig(
            endpoint=c.endpoint,
            insecure=c.insecure,
            insecure_skip_verify=c.insecure_skip_verify,
            ca_cert_file_path=c.ca_cert_file_path,
            console_endpoint=c.console_endpoint,
            command=list(c.command) or None,
            client_id=c.client_id,
            client_credentials_secret=c.client_secret,
            scopes=list(c.scopes),
            auth_mode=auth_plugin.register(c),
            audience=c.audience,
        )
        return Config(platform=platform, **legacy_config_kwargs(c))

    @cached_property
    def remote(self) -> FlyteRemote:
        """One FlyteRemote (and gRPC channel) per hook instance."""
        from flytekit.remote import FlyteRemote

        return FlyteRemote(
            config=self.flytekit_config(),
            default_project=self._project or self.config.project,
            default_domain=self._domain or self.config.domain,
        )

    def console_url(self, execution_name: str) -> str:
        """Flyte console URL of an execution."""
        return self.config.console_url(self.project, self.domain, execution_name)

    def async_hook(self) -> FlyteAsyncHook:
        """The async gateway on this hook's connection, project and domain (run it on a private loop)."""
        from flyte_async_provider.hooks.aio import FlyteAsyncHook

        return FlyteAsyncHook(self.flyte_conn_id, self.project, self.domain, config=self.config)

    def _execution_id(self, execution_name: str) -> Any:
        from flytekit.models.core.identifier import WorkflowExecutionIdentifier

        return WorkflowExecutionIdentifier(self.project, self.domain, execution_name)

    # ------------------------------------------------------------------ launch
    def resolve_entity(
        self,
        *,
        launchplan_name: str | None = None,
        task_name: str | None = None,
        workflow_name: str | None = None,
        version: str | None = None,
    ) -> ResolvedEntity:
        """Fetch the entity to launch (latest version when none is given) and its input rules."""
        given = [
            (k, v)
            for k, v in (("launch plan", launchplan_name), ("task", task_name), ("workflow", workflow_name))
            if v
        ]
        if len(given) != 1:
            raise FlyteConfigError(
                "Give exactly one of launchplan_name, task_name or workflow_name "
                f"(got {', '.join(k for k, _ in given) or 'none'})."
            )
        kind, name = given[0]
        project, domain = self.project, self.domain
        where = f"{kind} {project}/{domain}/{name} (version {version or 'latest'})"
        rpc = {"launch plan": "GetLaunchPlan", "task": "GetTask", "workflow": "GetWorkflow"}[kind]
        try:
            if kind == "task":
                entity = self.remote.fetch_task(project, domain, name, version)
                interface = entity.interface.inputs if entity.interface else {}
                return ResolvedEntity(
                    kind, name, entity.id.version, entity, frozenset(interface), frozenset()
                )
            if kind == "workflow":
                workflow = self.remote.fetch_workflow(project, domain, name, version)
                version = workflow.id.version  # launched through its default launch plan, as flytekit does
                rpc, where = "GetLaunchPlan", f"default launch plan of {where}"
            entity = self.remote.fetch_launch_plan(project, domain, name, version)
        except Exception as exc:
            err = self._translate(exc, rpc, where)
            if isinstance(err, FlyteNotFoundError):
                raise FlyteNotFoundError(
                    f"Flyte {where} was not found in Flyte Admin at {self.config.endpoint}. "
                    "Check the name, version, project and domain. Nothing was submitted.",
                    code=err.code,
                    rpc=rpc,
                ) from exc
            raise err from exc
        params = entity.default_inputs.parameters if entity.default_inputs else {}
        fixed = entity.fixed_inputs.literals if entity.fixed_inputs else {}
        required = frozenset(n for n, p in params.items() if p.required)
        return ResolvedEntity(kind, name, entity.id.version, entity, required, frozenset(fixed))

    def launch(
        self,
        execution_name: str,
        *,
        launchplan_name: str | None = None,
        task_name: str | None = None,
        workflow_name: str | None = None,
        version: str | None = None,
        inputs: dict[str, Any] | None = None,
        options: ExecutionOptions | None = None,
    ) -> str:
        """Create the execution and return its name; idempotent per name (ALREADY_EXISTS = ours).

        Everything checkable is checked before CreateExecution: name, options, entity, inputs.
        """
        validate_execution_name(execution_name)
        options = options or ExecutionOptions()
        options.validate()
        launched = self._launch_without_flytekit(
            execution_name,
            launchplan_name=launchplan_name,
            task_name=task_name,
            workflow_name=workflow_name,
            version=version,
            inputs=inputs or {},
            options=options,
        )
        if launched:
            return execution_name
        target = self.resolve_entity(
            launchplan_name=launchplan_name, task_name=task_name, workflow_name=workflow_name, version=version
        )
        interface = target.entity.interface.inputs if target.entity.interface else {}
        prepared = check_inputs(
            target.label, interface, inputs or {}, required=set(target.required), fixed=set(target.fixed)
        )
        try:
            with _notification_overrides(self.remote.client, options):
                execution = self.remote.execute(
                    target.entity,
                    inputs=prepared,
                    project=self.project,
                    domain=self.domain,
                    execution_name=execution_name,
                    options=options.to_flytekit(),
                    wait=False,
                    **options.execute_kwargs(),
                )
        except Exception as exc:
            if grpc_status(exc) is None and isinstance(exc, (TypeError, ValueError, AssertionError)):
                raise FlyteConfigError(
                    f"flytekit could not convert the inputs for {target.label}: {exc}. Nothing was submitted."
                ) from exc
            raise self._translate(
                exc, "CreateExecution", f"execution {execution_name} of {target.label}"
            ) from exc
        # No console URL here: the operator logs it once with the name (log lines stay short).
        self.log.info(
            "Submitted Flyte execution %s/%s/%s of %s",
            self.project,
            self.domain,
            execution.id.name,
            target.label,
        )
        return str(execution.id.name)

    def _launch_without_flytekit(
        self,
        execution_name: str,
        *,
        launchplan_name: str | None,
        task_name: str | None,
        workflow_name: str | None,
        version: str | None,
        inputs: dict[str, Any],
        options: ExecutionOptions,
    ) -> bool:
        """Launch through the async admin client when the inputs are plain (no flytekit import).

        False when flytekit is needed (non-plain inputs, or an event loop already runs here). The
        entity lookup, checks and errors are those of the flytekit path.
        """
        from flyte_async_provider.admin.launch import LaunchTarget
        from flyte_async_provider.admin.requests import NeedsFlytekit
        from flyte_async_provider.hooks.sync_admin import LoopRunning, run_admin

        target = LaunchTarget(launchplan_name, task_name, workflow_name, version)
        hook, project, domain = self.async_hook(), self.project, self.domain
        try:
            created, label = run_admin(
                lambda: hook.submit(execution_name, target, inputs, options, convert_with_flytekit=False)
            )
        except (NeedsFlytekit, LoopRunning):
            return False
        self.log.info(
            "Submitted Flyte execution %s/%s/%s of %s%s",
            project,
            domain,
            execution_name,
            label,
            "" if created else " (already submitted by an earlier attempt)",
        )
        return True

    # ------------------------------------------------------------------ inspect / terminate
    def get_execution_state(self, execution_name: str) -> ExecutionStatus:
        """Read the execution once (raises :class:`FlyteNotFoundError` if it does not exist).

        Through the async hook on a private loop (no flytekit import); flytekit's client where an event
        loop already runs in this thread.
        """
        from flyte_async_provider.hooks.sync_admin import LoopRunning, run_admin

        hook = self.async_hook()
        try:
            return run_admin(lambda: hook.get_execution(execution_name))
        except LoopRunning:
            return self._get_execution_state_flytekit(execution_name)

    def _get_execution_state_flytekit(self, execution_name: str) -> ExecutionStatus:
        from flyte_async_provider.admin.models import ExecutionStatus

        try:
            execution = self.remote.client.get_execution(self._execution_id(execution_name))
        except Exception as exc:
            raise self._translate(
                exc, "GetExecution", f"execution {self.project}/{self.domain}/{execution_name}"
            ) from exc
        return ExecutionStatus.from_flytekit(execution)

    def find_execution(self, execution_name: str) -> ExecutionStatus | None:
        """Like :meth:`get_execution_state`, but None when the execution does not exist."""
        try:
            return self.get_execution_state(execution_name)
        except FlyteNotFoundError:
            return None

    def event_for(self, state: ExecutionStatus) -> FlyteEventPayload:
        """The event the trigger yields for this (terminal) state: worker-side waits raise from it."""
        return ended_event(state, self.console_url(state.name))

    def terminate(self, execution_name: str, cause: str) -> bool:
        """Terminate the execution; False if it had already ended (:func:`ended_before_terminate`)."""
        try:
            self.remote.client.terminate_execution(self._execution_id(execution_name), cause)
        except Exception as exc:
            err = self._translate(
                exc, "TerminateExecution", f"execution {self.project}/{self.domain}/{execution_name}"
            )
            if ended_before_terminate(err):
                return False
            raise err from exc
        self.log.info(
            "Terminated Flyte execution %s/%s/%s: %s", self.project, self.domain, execution_name, cause
        )
        return True

    def get_outputs(self, execution_name: str) -> dict[str, Any]:
        """The execution's outputs as plain values (files and datasets as URIs)."""
        try:
            data = self.remote.client.get_execution_data(self._execution_id(execution_name))
            literal_map = self.remote._get_output_literal_map(data)
        except Exception as exc:
            raise self._translate(exc, "GetExecutionData", f"outputs of {execution_name}") from exc
        return literal_map_to_plain(literal_map)

    # ------------------------------------------------------------------ connection test
    def test_connection(self) -> tuple[bool, str]:
        """One authenticated round trip to Flyte Admin; the message says what failed."""
        try:
            config = self.config
        except FlyteConfigError as exc:
            return False, str(exc)
        project = self._project or config.project
        domain = self._domain or config.domain
        try:
            if project and domain:
                rpc = "ListExecutions"
                self.remote.client.list_executions_paginated(project, domain, limit=1)
                scope = f"listed executions of {project}/{domain}"
            else:
                rpc = "ListProjects"
                self.remote.client.list_projects_paginated(limit=1)
                scope = "listed projects"
        except Exception as exc:
            err = self._translate(exc, rpc)
            return False, _explain_test_failure(config, err)
        auth = (
            "without credentials" if config.auth_mode is AuthMode.NONE else f"with {config.auth_mode.value}"
        )
        return True, f"Connected to Flyte Admin at {config.endpoint} {auth}: {scope}."

    # ------------------------------------------------------------------ airflow-provider-flyte 0.0.5 API
    def create_flyte_remote(self) -> FlyteRemote:
        """Old name for :attr:`remote`."""
        return self.remote

    def execution_id(self, execution_name: str) -> Any:
        """Old helper: the flytekit ``WorkflowExecutionIdentifier`` of an execution."""
        return self._execution_id(execution_name)

    def trigger_execution(
        self,
        execution_name: str,
        launchplan_name: str | None = None,
        task_name: str | None = None,
        max_parallelism: int | None = None,
        raw_output_data_config: str | None = None,
        kubernetes_service_account: str | None = None,
        oauth2_client: dict[str, Any] | None = None,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        secrets: list[dict[str, Any]] | None = None,
        notifications: list[dict[str, Any]] | None = None,
        disable_notifications: bool | None = None,
        version: str | None = None,
        inputs: dict[str, Any] | None = None,
    ) -> str:
        """The 0.0.5 hook call, same arguments; returns the execution name."""
        return self.launch(
            execution_name,
            launchplan_name=launchplan_name,
            task_name=task_name,
            version=version,
            inputs=inputs,
            options=ExecutionOptions(
                raw_output_data_config=raw_output_data_config,
                kubernetes_service_account=kubernetes_service_account,
                oauth2_client=oauth2_client,
                labels=labels,
                annotations=annotations,
                secrets=secrets,
                notifications=notifications,
                disable_notifications=disable_notifications,
                max_parallelism=max_parallelism,
            ),
        )

    def execution_status(self, execution_name: str, remote: Any = None) -> bool:
        """The 0.0.5 check: True on success, False while running, typed error if it ended badly."""
        state = self.get_execution_state(execution_name)
        if not state.phase.is_terminal:
            return False
        raise_for_event(self.event_for(state))
        return True


@contextmanager
def _notification_overrides(client: Any, options: ExecutionOptions) -> Iterator[None]:
    """Send the notification override Flyte Admin should get, working around flytekit 1.16.

    flytekit puts both ``notifications`` and ``disable_all`` into the ExecutionSpec oneof, so with
    notifications and ``disable_notifications=False`` the list is dropped, and with neither it sends an
    empty list that replaces the launch plan's notifications. Here: our list, or ``disable_all``, or
    no override at all (the launch plan's notifications apply).
    """
    from flytekit.models.execution import NotificationList

    notifications = options.notification_models()
    disable = bool(options.disable_notifications) and not notifications
    original = client.create_execution

    def create_execution(project: str, domain: str, name: str, execution_spec: Any, inputs: Any) -> Any:
        execution_spec._notifications = NotificationList(notifications) if notifications else None
        execution_spec._disable_all = True if disable else None
        return original(project, domain, name, execution_spec, inputs)

    client.create_execution = create_execution
    try:
        yield
    finally:
        client.__dict__.pop("create_execution", None)


def _explain_test_failure(config: FlyteConnectionConfig, err: FlyteAdminError) -> str:
    if isinstance(err, FlyteTlsMismatchError):
        return str(err)
    where = f"Flyte Admin at {config.endpoint}"
    hints = {
        "UNAVAILABLE": f"could not reach {where} (check host, port and the insecure/TLS settings)",
        "DEADLINE_EXCEEDED": f"{where} did not answer in time",
        "UNAUTHENTICATED": f"{where} rejected the credentials of auth_mode {config.auth_mode.value}",
        "PERMISSION_DENIED": f"{where} accepted the credentials but denied access",
        "NOT_FOUND": f"{where} does not know the configured project/domain",
    }
    return f"{hints.get(err.code, where + ' call failed')}: {err}{plaintext_to_tls_hint(config, str(err))}"


__all__ = ["FlyteExecutionError", "FlyteHook", "ResolvedEntity", "validate_execution_name"]
