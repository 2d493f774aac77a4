"""Schedules from a recipe's sidecar `NAME.dagster.yaml`."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from dagster import DefaultScheduleStatus, RunRequest, build_schedule_context

from om_dagster.location.definitions import build_definitions
from tests.conftest import ROOT, recipe_dict, write_recipe


def folder_with(tmp_path: Path, sidecar: dict) -> Path:
    folder = tmp_path / "wf"
    write_recipe(folder / "nightly.yaml", recipe_dict("x.db", sink={"type": "console"}))
    write_recipe(folder / "nightly.dagster.yaml", sidecar)
    return folder


def test_a_sidecar_schedule_is_a_stopped_schedule_of_the_job(tmp_path):
    defs = build_definitions(folder_with(tmp_path, {"schedule": "0 3 * * *", "timezone": "Europe/Paris"}))
    schedule = defs.resolve_schedule_def("nightly_schedule")
    assert (schedule.job_name, schedule.cron_schedule, schedule.execution_timezone) == (
        "nightly",
        "0 3 * * *",
        "Europe/Paris",
    )
    assert schedule.default_status == DefaultScheduleStatus.STOPPED  # nothing runs by surprise
    context = build_schedule_context(scheduled_execution_time=dt.datetime(2026, 11, 22, 3, tzinfo=dt.UTC))
    [request] = list(schedule.evaluate_tick(context).run_requests)
    assert isinstance(request, RunRequest)


def test_enabled_schedules_start_running(tmp_path):
    defs = build_definitions(folder_with(tmp_path, {"schedule": "*/15 * * * *", "enabled": True}))
    assert defs.resolve_schedule_def("nightly_schedule").default_status == DefaultScheduleStatus.RUNNING


def test_recipes_without_schedule_have_none(tmp_path):
    defs = build_definitions(folder_with(tmp_path, {"description": "by hand only"}))
    assert list(defs.schedules or []) == []


def test_dagster_schedule_list_shows_it(tmp_path):
    folder = folder_with(tmp_path, {"schedule": "0 3 * * *"})
    env = dict(os.environ, OM_DAGSTER_WORKFLOWS_DIR=str(folder), DAGSTER_HOME=str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "schedule", "list", "-m", "om_dagster"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Schedule: nightly_schedule [STOPPED]" in done.stdout, done.stdout + done.stderr[-2000:]
    assert "Cron Schedule: 0 3 * * *" in done.stdout
