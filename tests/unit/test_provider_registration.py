"""Provider registration: the dict validates against Airflow's own schemas and Airflow finds every part."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import airflow
import jsonschema
import pytest
from packaging.version import Version

from flyte_async_provider import connection_form, get_provider_info

AIRFLOW_DIR = Path(airflow.__file__).parent


def test_provider_info_matches_airflows_schema() -> None:
    schema = json.loads((AIRFLOW_DIR / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    assert info["package-name"] == "airflow-provider-flyte-async"
    assert info["triggers"][0]["python-modules"] == ["flyte_async_provider.triggers.flyte"]
    assert info["extra-links"] == ["flyte_async_provider.links.flyte.FlyteExecutionLink"]


def test_connection_form_matches_the_3_2_provider_yaml_schema() -> None:
    """conn-fields / ui-field-behaviour are only described in provider.yaml's schema; check them there."""
    yaml_schema = json.loads((AIRFLOW_DIR / "provider.yaml.schema.json").read_text())
    item_schema = yaml_schema["properties"]["connection-types"]["items"]
    (conn_type,) = get_provider_info()["connection-types"]
    jsonschema.validate(conn_type, item_schema)
    fields = conn_type["conn-fields"]
    for extra in (
        "project",
        "domain",
        "insecure",
        "auth_mode",
        "scopes",
        "console_endpoint",
        "max_admin_calls_per_second",
    ):
        assert extra in fields
    assert fields["auth_mode"]["schema"]["enum"] == ["none", "client_credentials", "external_command"]


def test_every_listed_module_and_class_imports() -> None:
    info = get_provider_info()
    for section in ("operators", "sensors", "hooks", "triggers"):
        for entry in info[section]:
            for module in entry["python-modules"]:
                __import__(module)
    for path in [info["connection-types"][0]["hook-class-name"], *info["extra-links"]]:
        module, _, name = path.rpartition(".")
        assert getattr(__import__(module, fromlist=[name]), name)


# Airflow >= 3.2 reads the form from conn-fields / ui-field-behaviour; 3.1 only from the hook methods.
AIRFLOW_READS_CONN_FIELDS = Version(airflow.__version__).release >= (3, 2)

# What the API server sends the UI's connection form (run in a child process: HookMetaService puts
# MagicMock wtforms/flask modules into sys.modules for good and fills the ProvidersManager singleton).
_HOOK_META_SCRIPT = """
import json
from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
(meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "flyte"]
print("HOOK_META " + meta.model_dump_json())
"""


def test_airflow_providers_manager_loads_hook_form_link_and_trigger() -> None:
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    assert pm.providers["airflow-provider-flyte-async"].version == "0.1.0"
    assert pm.hooks["flyte"].hook_class_name == "flyte_async_provider.hooks.flyte.FlyteHook"
    assert "flyte_async_provider.links.flyte.FlyteExecutionLink" in pm.extra_links_class_names
    if AIRFLOW_READS_CONN_FIELDS:
        assert pm.field_behaviours["flyte"]["relabeling"]["login"] == "OAuth2 client id"
        assert "extra__flyte__project" in pm.connection_form_widgets
    else:
        # 3.1's ProvidersManager imports wtforms for every hook's form and skips all forms without FAB
        # (not installed here); its API server mocks FAB instead: see the test below.
        assert "flyte" not in pm.field_behaviours


@pytest.mark.slow
def test_airflow_api_server_serves_the_connection_form() -> None:
    """The form the UI renders, on every supported version (3.1: from the hook methods, mocked FAB)."""
    out = subprocess.run(
        [sys.executable, "-c", _HOOK_META_SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    (line,) = [ln for ln in out.stdout.splitlines() if ln.startswith("HOOK_META ")]
    meta = json.loads(line.removeprefix("HOOK_META "))
    assert meta["hook_class_name"] == "flyte_async_provider.hooks.flyte.FlyteHook"
    standard = meta["standard_fields"]
    assert standard["login"]["title"] == "OAuth2 client id"
    assert standard["host"]["placeholder"] == "flyte.example.com"
    assert standard["url_schema"]["hidden"] is True
    extra = meta["extra_fields"]
    assert list(extra) == [f.name for f in connection_form.EXTRA_FIELDS]
    assert extra["project"]["schema"]["title"] == "Default project"
    assert extra["insecure"]["schema"]["type"] == ["boolean", "null"]
    assert extra["insecure"]["value"] is False
    assert extra["max_admin_calls_in_flight"]["schema"]["type"] == ["integer", "null"]
    # The drop-down offers the three modes, none of them a literal "null", and pre-selects nothing
    # (empty: inferred from login/password/command).
    auth_mode = extra["auth_mode"]
    assert auth_mode["schema"]["enum"] == ["none", "client_credentials", "external_command"]
    assert auth_mode["value"] is None
    if AIRFLOW_READS_CONN_FIELDS:  # 3.1 builds the form from wtforms fields: no examples or labels there
        assert set(auth_mode["schema"]["values_display"]) == set(auth_mode["schema"]["enum"])
        # String extras carry examples: the UI's suggestions and placeholder hint, like the standard fields'.
        strings = [f.name for f in connection_form.EXTRA_FIELDS if f.type == "string" and not f.choices]
        assert [n for n in strings if not extra[n]["schema"].get("examples")] == []
        assert "http://127.0.0.1:8090" in extra["console_endpoint"]["schema"]["examples"]


@pytest.mark.slow
def test_airflow_providers_list_shows_the_package() -> None:
    out = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "providers", "list", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    (line,) = [ln for ln in out.stdout.splitlines() if ln.startswith("[{")]
    listed = {p["package_name"]: p for p in json.loads(line)}
    assert listed["airflow-provider-flyte-async"]["version"] == "0.1.0"


def test_legacy_hook_form_for_airflow_before_3_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Older 3.x calls the hook methods (its API server mocks FAB/WTForms the same way)."""
    from flyte_async_provider.hooks.flyte import FlyteHook

    class Field:
        def __init__(self, label: str, **kwargs: Any) -> None:
            self.label, self.kwargs = label, kwargs

    class BooleanField(Field): ...

    class IntegerField(Field): ...

    class PasswordField(Field): ...

    class StringField(Field): ...

    fake = {
        "wtforms": types.SimpleNamespace(
            BooleanField=BooleanField,
            IntegerField=IntegerField,
            PasswordField=PasswordField,
            StringField=StringField,
        ),
        "wtforms.validators": types.SimpleNamespace(any_of=lambda values: ("any_of", values)),
        "flask_babel": types.SimpleNamespace(lazy_gettext=lambda s: s),
        "flask_appbuilder": types.SimpleNamespace(),
        "flask_appbuilder.fieldwidgets": types.SimpleNamespace(
            BS3TextFieldWidget=object, BS3PasswordFieldWidget=object
        ),
    }
    for name, module in fake.items():
        monkeypatch.setitem(sys.modules, name, module)
    widgets = FlyteHook.get_connection_form_widgets()
    assert set(widgets) == {f.name for f in connection_form.EXTRA_FIELDS}
    assert isinstance(widgets["insecure"], BooleanField)
    assert isinstance(widgets["max_admin_calls_in_flight"], IntegerField)
    assert widgets["project"].label == "Default project"
    assert widgets["auth_mode"].kwargs["validators"] == [
        ("any_of", ["none", "client_credentials", "external_command"])
    ]
    behaviour = FlyteHook.get_ui_field_behaviour()
    assert behaviour["hidden_fields"] == ["schema"]
    assert behaviour["relabeling"]["password"] == "OAuth2 client secret"
