"""The ``flyte`` connection form, declared once.

Airflow >= 3.2 reads ``conn-fields`` / ``ui-field-behaviour`` from the provider info without
importing the hook; older 3.x calls the hook's ``get_connection_form_widgets`` /
``get_ui_field_behaviour``. Both are generated from :data:`EXTRA_FIELDS` so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

FieldType = Literal["string", "boolean", "number", "integer"]


@dataclass(frozen=True)
class ExtraField:
    """One connection extra shown in the form (stored under its plain name in ``extra``)."""

    name: str
    label: str
    description: str
    type: FieldType = "string"
    default: Any = None
    choices: tuple[str, ...] = ()
    sensitive: bool = False
    # Suggestions the UI offers while typing (Airflow's form shows them in place of a placeholder).
    examples: tuple[str, ...] = ()
    # Labels for ``choices`` in the drop-down (JSON Schema ``values_display``, read by Airflow's UI).
    choice_labels: tuple[str, ...] = ()


EXTRA_FIELDS: tuple[ExtraField, ...] = (
    ExtraField(
        "project", "Default project", "Flyte project used when a task gives none.", examples=("flytesnacks",)
    ),
    ExtraField(
        "domain",
        "Default domain",
        "Flyte domain used when a task gives none, e.g. development.",
        examples=("development", "staging", "production"),
    ),
    ExtraField("insecure", "Insecure (plaintext gRPC)", "Talk to Flyte Admin without TLS.", "boolean", False),
    ExtraField(
        "insecure_skip_verify",
        "Skip TLS verification",
        "Use TLS but do not verify the certificate.",
        "boolean",
        False,
    ),
    ExtraField(
        "ca_cert_file_path",
        "CA certificate file",
        "PEM file of the CA that signed Flyte Admin's cert.",
        examples=("/etc/ssl/certs/flyte-ca.pem",),
    ),
    ExtraField(
        "auth_mode",
        "Auth mode",
        "none; client_credentials (login/password = OAuth2 client id/secret); external_command. "
        "Empty: inferred from what is set.",
        choices=("none", "client_credentials", "external_command"),
        choice_labels=(
            "none (no credentials)",
            "client_credentials (OAuth2 client id/secret in login/password)",
            "external_command (a program prints the token)",
        ),
    ),
    ExtraField(
        "command",
        "Token command",
        "external_command: program (and args) that prints an access token.",
        examples=("/usr/local/bin/print-flyte-token --audience flyte",),
    ),
    ExtraField(
        "scopes",
        "Scopes",
        "OAuth2 scopes to request, comma or space separated (default: server's).",
        examples=("all",),
    ),
    ExtraField(
        "audience",
        "Audience",
        "OAuth2 audience to request (default: server's).",
        examples=("https://flyte.example.com",),
    ),
    ExtraField(
        "authorization_metadata_key",
        "Authorization metadata key",
        "gRPC metadata key carrying the token (default: what Flyte Admin publishes).",
        examples=("flyte-authorization", "authorization"),
    ),
    ExtraField(
        "token_endpoint",
        "Token endpoint",
        "OAuth2 token URL (default: discovered from Flyte Admin).",
        examples=("https://auth.example.com/oauth2/token",),
    ),
    ExtraField(
        "console_endpoint",
        "Console URL",
        "Base URL of the Flyte console for links (default: the admin host). With the emulator: its HTTP "
        "address, e.g. http://127.0.0.1:8090.",
        examples=("https://flyte.example.com", "http://127.0.0.1:8090"),
    ),
    ExtraField(
        "max_admin_calls_per_second",
        "Max Admin calls per second",
        "Rate limit of status reads from the triggerer towards this Flyte Admin.",
        "number",
    ),
    ExtraField(
        "max_admin_calls_in_flight",
        "Max Admin calls in flight",
        "Concurrent status calls from one triggerer process (default 64).",
        "integer",
    ),
)

RELABELING = {
    "host": "Flyte Admin host",
    "port": "Flyte Admin gRPC port",
    "login": "OAuth2 client id",
    "password": "OAuth2 client secret",
}
PLACEHOLDERS = {
    "host": "flyte.example.com",
    "port": "443",
    "login": "client id (client_credentials only)",
    "password": "client secret (client_credentials only)",
}
HIDDEN_FIELDS = ["schema"]


def conn_fields() -> dict[str, dict[str, Any]]:
    """``conn-fields`` for the provider info (Airflow >= 3.2)."""
    fields: dict[str, dict[str, Any]] = {}
    for f in EXTRA_FIELDS:
        schema: dict[str, Any] = {"type": [f.type, "null"]}
        if f.default is not None:
            schema["default"] = f.default
        if f.choices:
            # No None in the enum: Airflow's UI would offer (and pre-select) a literal "null" choice.
            # The drop-down can be cleared, and an empty value means "inferred" (the schema allows null).
            schema["enum"] = list(f.choices)
        if f.choice_labels:
            schema["values_display"] = dict(zip(f.choices, f.choice_labels, strict=True))
        if f.examples:
            schema["examples"] = list(f.examples)
        if f.sensitive:
            schema["format"] = "password"
        fields[f.name] = {"label": f.label, "description": f.description, "schema": schema}
    return fields


def ui_field_behaviour() -> dict[str, Any]:
    """``ui-field-behaviour`` for the provider info (kebab-case keys)."""
    return {
        "hidden-fields": list(HIDDEN_FIELDS),
        "relabeling": dict(RELABELING),
        "placeholders": dict(PLACEHOLDERS),
    }


def legacy_field_behaviour() -> dict[str, Any]:
    """The same, in the hook-method format older Airflow 3.x expects."""
    return {
        "hidden_fields": list(HIDDEN_FIELDS),
        "relabeling": dict(RELABELING),
        "placeholders": dict(PLACEHOLDERS),
    }


def legacy_form_widgets() -> dict[str, Any]:
    """WTForms fields for Airflow < 3.2 (its API server mocks these imports when FAB is absent)."""
    import importlib

    from flask_appbuilder.fieldwidgets import (  # type: ignore[import-not-found]
        BS3PasswordFieldWidget,
        BS3TextFieldWidget,
    )
    from flask_babel import lazy_gettext  # type: ignore[import-not-found]
    from wtforms import BooleanField, IntegerField, PasswordField, StringField  # type: ignore[import-untyped]

    # Airflow 3.1's API server mocks wtforms and patches ``wtforms.validators.any_of``; Python 3.10's
    # mock.patch patches the ``validators`` attribute of the ``wtforms`` mock, 3.11+ the
    # ``sys.modules`` entry. Use both (the same function with real wtforms) so either gets the drop-down.
    module = importlib.import_module("wtforms.validators")
    attribute = getattr(importlib.import_module("wtforms"), "validators", module)
    any_ofs = list({id(f): f for f in (module.any_of, attribute.any_of)}.values())

    widgets: dict[str, Any] = {}
    for f in EXTRA_FIELDS:
        label = lazy_gettext(f.label)
        if f.choices:  # the API server turns any_of into the same enum (a drop-down) as conn-fields
            widgets[f.name] = StringField(
                label,
                description=f.description,
                validators=[any_of(list(f.choices)) for any_of in any_ofs],
                widget=BS3TextFieldWidget(),
            )
        elif f.type == "boolean":
            widgets[f.name] = BooleanField(label, description=f.description, default=bool(f.default))
        elif f.type == "integer":
            widgets[f.name] = IntegerField(label, description=f.description, widget=BS3TextFieldWidget())
        elif f.sensitive:
            widgets[f.name] = PasswordField(label, description=f.description, widget=BS3PasswordFieldWidget())
        else:
            widgets[f.name] = StringField(label, description=f.description, widget=BS3TextFieldWidget())
    return widgets
