"""The command line's real-run and data-proxy options become the emulator's settings and rules."""

from __future__ import annotations

from pathlib import Path

from flyte_async_provider.emulator import Outcome
from flyte_async_provider.emulator.cli import build_parser, emulator_from_args


def test_run_options_set_the_default_outcome_the_rules_and_the_pool(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        [
            "--default-outcome",
            "run",
            "--run",
            "flows.wf",
            "--run",
            "other.*",
            "--run-workers",
            "3",
            "--run-time-limit",
            "12.5",
            "--blob-dir",
            str(tmp_path / "blobs"),
        ]
    )
    emu = emulator_from_args(args)
    rules = emu.rules()
    assert [(r.outcome, r.launch_plan) for r in rules[:-1]] == [
        (Outcome.run(), "flows.wf"),
        (Outcome.run(), "other.*"),
    ]
    assert rules[-1].outcome == Outcome.run()  # the default
    assert (emu.runs.max_workers, emu.runs.time_limit) == (3, 12.5)
    assert emu.state.blobs.root == (tmp_path / "blobs").resolve()
    assert emu.runs.worker_pids() == []  # nothing starts before a real run


def test_without_run_options_nothing_runs_for_real() -> None:
    emu = emulator_from_args(build_parser().parse_args([]))
    assert [r.outcome.kind for r in emu.rules()] == ["succeed"]


def test_the_control_client_scripts_real_runs_from_another_process(flyte_admin_emulator: object) -> None:
    """``Outcome.run()`` travels over the HTTP control API like any outcome (``{"kind": "run"}``)."""
    from flyte_async_provider.emulator import EmulatorControlClient, FlyteAdminEmulator

    assert isinstance(flyte_admin_emulator, FlyteAdminEmulator)
    control = EmulatorControlClient(flyte_admin_emulator.http_url)
    rule = control.script(Outcome.run(), launch_plan="flows.*")
    assert rule.outcome == Outcome.run()
    assert flyte_admin_emulator.rules()[0].outcome.kind == "run"
