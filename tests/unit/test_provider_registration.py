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

from flyte_async_provider import get_provider_info
from flyte_async_provider.hooks import connection_form

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
    assert fields["auth_mode"]["schema"]["enum"][:3] == ["none", "client_credentials", "external_command"]


def test_every_listed_module_and_class_imports() -> None:
    info = get_provider_info()
    for section in ("operators", "sensors", "hooks", "triggers"):
        for entry in info[section]:
            for module in entry["python-modules"]:
                __import__(module)
    for path in [info["connection-types"][0]["hook-class-name"], *info["extra-links"]]:
        module, _, name = path.rpartition(".")
        assert getattr(__import__(module, fromlist=[name]), name)


def test_airflow_providers_manager_loads_hook_form_link_and_trigger() -> None:
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    assert pm.providers["airflow-provider-flyte-async"].version == "0.1.0"
    assert pm.hooks["flyte"].hook_class_name == "flyte_async_provider.hooks.flyte.FlyteHook"
    assert pm.field_behaviours["flyte"]["relabeling"]["login"] == "OAuth2 client id"
    assert "extra__flyte__project" in pm.connection_form_widgets
    assert "flyte_async_provider.links.flyte.FlyteExecutionLink" in pm.extra_links_class_names


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
    behaviour = FlyteHook.get_ui_field_behaviour()
    assert behaviour["hidden_fields"] == ["schema"]
    assert behaviour["relabeling"]["password"] == "OAuth2 client secret"
