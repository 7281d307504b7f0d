"""ExecutionOptions: bad options are named before anything is submitted; good ones build flytekit models."""

from __future__ import annotations

from typing import Any

import pytest

from flyte_async_provider.exceptions import FlyteConfigError
from flyte_async_provider.spec.options import (
    ExecutionOptions,
    validate_notifications,
    validate_oauth2_client,
    validate_secrets,
)


def test_one_flyte_notification_per_channel_not_all_three_per_entry() -> None:
    notes = validate_notifications(
        [
            {
                "phases": ["SUCCEEDED", 6],
                "email": {"recipients_email": ["a@x.io"]},
                "slack": {"recipients_email": ["#c"]},
            },
            {"phases": [8], "pagerduty": {"recipients_email": ["oncall@x.io"]}},
        ]
    )
    assert notes == [
        ((4, 6), "email", ("a@x.io",)),
        ((4, 6), "slack", ("#c",)),
        ((8,), "pager_duty", ("oncall@x.io",)),
    ]
    models = ExecutionOptions(notifications=[{"phases": [4], "pager_duty": {"recipients_email": ["p"]}}])
    (only,) = models.notification_models()
    idl = only.to_flyte_idl()
    assert idl.WhichOneof("type") == "pager_duty"
    assert list(idl.pager_duty.recipients_email) == ["p"]


@pytest.mark.parametrize(
    ("notifications", "fragment"),
    [
        ({"phases": [4]}, "list of dicts"),
        (["email"], "must be a dict"),
        ([{"email": {"recipients_email": ["a"]}}], "non-empty list 'phases'"),
        ([{"phases": ["RUNNING"], "email": {"recipients_email": ["a"]}}], "not a terminal Flyte phase"),
        ([{"phases": ["NOPE"], "email": {"recipients_email": ["a"]}}], "not a terminal Flyte phase"),
        ([{"phases": [4]}], "at least one of email"),
        ([{"phases": [4], "email": {"recipients": ["a"]}}], "recipients_email"),
        ([{"phases": [4], "email": {"recipients_email": "a@x.io"}}], "recipients_email"),
        ([{"phases": [4], "sms": {"recipients_email": ["a"]}}], "unknown keys ['sms']"),
    ],
)
def test_bad_notifications_name_the_problem(notifications: Any, fragment: str) -> None:
    with pytest.raises(FlyteConfigError, match=None) as err:
        ExecutionOptions(notifications=notifications).validate()
    assert fragment in str(err.value)


def test_secrets_need_a_group_and_known_keys() -> None:
    assert validate_secrets([{"group": "g", "key": "k", "mount_requirement": "env_var"}]) == [
        {"group": "g", "key": "k", "mount_requirement": "env_var"}
    ]
    for bad, fragment in [
        ({"group": "g"}, "list of dicts"),
        (["g"], "at least 'group'"),
        ([{"key": "k"}], "non-empty string 'group'"),
        ([{"group": "g", "value": "s3cr3t"}], "unknown keys ['value']"),
        ([{"group": "g", "mount_requirement": "disk"}], "mount_requirement"),
        ([{"group": "g", "key": 3}], "must be a string"),
    ]:
        with pytest.raises(FlyteConfigError) as err:
            validate_secrets(bad)
        assert fragment in str(err.value)


def test_oauth2_client_secret_is_a_reference_never_a_value() -> None:
    assert validate_oauth2_client({"client_id": "c", "client_secret": "grp"}) == ("c", {"group": "grp"})
    assert validate_oauth2_client({"client_id": "c", "client_secret": {"group": "g", "key": "k"}}) == (
        "c",
        {"group": "g", "key": "k"},
    )
    with pytest.raises(FlyteConfigError, match="exactly the keys"):
        validate_oauth2_client({"client_id": "c"})
    with pytest.raises(FlyteConfigError, match="client_id"):
        validate_oauth2_client({"client_id": "", "client_secret": "g"})


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"labels": {"a": 1}}, "labels must be a dict"),
        ({"annotations": ["a"]}, "annotations must be a dict"),
        ({"envs": {"A": None}}, "envs must be a dict"),
        ({"tags": "x"}, "tags must be a list"),
        ({"max_parallelism": -1}, "max_parallelism"),
        ({"max_parallelism": True}, "max_parallelism"),
        ({"interruptible": "yes"}, "interruptible"),
        ({"raw_output_data_config": 3}, "raw_output_data_config"),
        (
            {
                "disable_notifications": True,
                "notifications": [{"phases": [4], "email": {"recipients_email": ["a"]}}],
            },
            "disable_notifications=True",
        ),
    ],
)
def test_bad_options(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(FlyteConfigError) as err:
        ExecutionOptions(**kwargs).validate()
    assert fragment in str(err.value)


def test_flytekit_options_carry_everything() -> None:
    options = ExecutionOptions(
        raw_output_data_config="s3://bucket/raw",
        kubernetes_service_account="runner",
        oauth2_client={"client_id": "cid", "client_secret": {"group": "oauth", "key": "secret"}},
        labels={"team": "ml"},
        annotations={"owner": "me"},
        secrets=[{"group": "db", "key": "password"}],
        max_parallelism=3,
        overwrite_cache=True,
        envs={"MODE": "fast"},
        tags=["nightly"],
        interruptible=False,
        cluster_pool="gpu",
    )
    built = options.to_flytekit()
    assert built.raw_output_data_config.output_location_prefix == "s3://bucket/raw"
    assert built.labels.values == {"team": "ml"}
    assert built.annotations.values == {"owner": "me"}
    assert built.max_parallelism == 3
    ctx = built.security_context.to_flyte_idl()
    assert ctx.run_as.k8s_service_account == "runner"
    assert ctx.run_as.oauth2_client.client_id == "cid"
    assert (ctx.run_as.oauth2_client.client_secret.group, ctx.run_as.oauth2_client.client_secret.key) == (
        "oauth",
        "secret",
    )
    assert [(s.group, s.key) for s in ctx.secrets] == [("db", "password")]
    assert options.execute_kwargs() == {
        "overwrite_cache": True,
        "interruptible": False,
        "envs": {"MODE": "fast"},
        "tags": ["nightly"],
        "cluster_pool": "gpu",
    }


def test_no_security_context_keeps_the_launch_plans() -> None:
    assert ExecutionOptions().security_context() is None
    assert ExecutionOptions().to_flytekit().security_context is None
