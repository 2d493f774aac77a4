"""Sensors. Run status: a run that crashes or is terminated still ends in OpenMetadata.
Ingestion pipelines: the pipelines defined in OpenMetadata run on their schedules.

The last op reports a run's final state; a run that never gets there (an op raised,
the process died, someone terminated it) is reported here, by the daemon, as `failed`
or `stopped`. Runs that already reported their end carry `om/status_reported`.
"""

import datetime as dt
import json
import os
import re
import socket
from collections.abc import Callable
from pathlib import Path

from dagster import (
    AssetKey,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    RunStatusSensorContext,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    run_status_sensor,
    sensor,
)
from sqlalchemy.exc import SQLAlchemyError

from om_dagster.core.loader import load_recipe
from om_dagster.core.recipe import Recipe, RecipeError
from om_dagster.core.steps import first_line
from om_dagster.location.factory import MANAGED_JOB
from om_dagster.location.ops import PROCESS_TAG, STATUS_REPORTED_TAG, send_status
from om_dagster.location.resources import PIPELINE_TAG, OpenMetadataResource, pipeline_tags
from om_dagster.openmetadata.deployed import Store, default_url, nothing_deployed, shown
from om_dagster.openmetadata.managed import due_runs

RecipeLoader = Callable[[DagsterRun], Recipe]
PATTERN_ENV = "OM_DAGSTER_PIPELINE_PATTERN"  # regex on pipeline FQNs the sensor runs
# a pipeline's runs that count against its `maxActiveRuns`
ACTIVE = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def end_reporter(
    loaders: dict[str, RecipeLoader],
    by_asset: dict[AssetKey, RecipeLoader],
    openmetadata: OpenMetadataResource,
) -> Callable[[RunStatusSensorContext, DagsterRun, str], None]:
    """Report `state` as the end of `run`, if its recipe names an ingestion pipeline. The
    recipe is its job's, or, for a run of selected assets (`dagster asset materialize`, the
    asset graph), its asset's."""

    def report_end(context: RunStatusSensorContext, run: DagsterRun, state: str) -> None:
        # the sensors see every run of the instance (see below): only ours carry these tags
        ours = "om/recipe" in run.tags or PIPELINE_TAG in run.tags
        loader = (loaders.get(run.job_name) if ours else None) or next(
            (by_asset[key] for key in run.asset_selection or () if key in by_asset), None
        )
        if loader is None or STATUS_REPORTED_TAG in run.tags:
            return
        try:
            recipe = loader(run)
        except RecipeError as err:
            context.log.warning(f"run {run.run_id}: cannot report its end to OpenMetadata: {err}")
            return
        if warning := send_status(context.instance, run.run_id, recipe, openmetadata, state):
            context.log.warning(warning)

    return report_end


def file_loader(path: Path) -> RecipeLoader:
    return lambda run: load_recipe(path, strict_env=True)


def status_sensors(
    loaders: dict[str, RecipeLoader],
    by_asset: dict[AssetKey, RecipeLoader],
    openmetadata: OpenMetadataResource,
) -> list[SensorDefinition]:
    """`loaders`: job name (`by_asset`: asset key) -> how to read a run's recipe, for the
    recipes that report to OpenMetadata."""
    report_end = end_reporter(loaders, by_asset, openmetadata)

    # `dagster job execute` runs have no code location origin: Dagster shows them only to
    # sensors that monitor all code locations
    @run_failure_sensor(
        name="openmetadata_failed_runs",
        monitor_all_code_locations=True,
        default_status=DefaultSensorStatus.RUNNING,
        description="Marks crashed runs `failed` in OpenMetadata.",
    )
    def failed_runs(context: RunStatusSensorContext) -> None:
        report_end(context, context.dagster_run, "failed")

    @run_status_sensor(
        run_status=DagsterRunStatus.CANCELED,
        name="openmetadata_stopped_runs",
        monitor_all_code_locations=True,
        default_status=DefaultSensorStatus.RUNNING,
        description="Marks terminated runs `stopped` in OpenMetadata.",
    )
    def stopped_runs(context: RunStatusSensorContext) -> None:
        report_end(context, context.dagster_run, "stopped")

    return [failed_runs, stopped_runs]


def dead_runs_sensor() -> SensorDefinition:
    """Marks FAILURE the started runs whose process is gone (kill -9, out of memory): Dagster's
    run monitoring watches runs its launchers started, not `dagster job execute` ones. The
    run-failure sensor then reports them `failed` to OpenMetadata."""

    @sensor(
        name="openmetadata_dead_runs",
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description="Marks runs whose process died FAILURE, so that they end in OpenMetadata too.",
    )
    def dead_runs(context: SensorEvaluationContext) -> SkipReason:
        here = socket.gethostname()
        started = context.instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED]))
        dead = [run for run in started if _process_gone(run.tags.get(PROCESS_TAG, ""), here)]
        for run in dead:
            context.instance.report_run_failed(
                run, message="its process died: marked failed by openmetadata_dead_runs"
            )
        return SkipReason(f"{len(dead)} dead run(s) marked failed" if dead else "no dead run")

    return dead_runs


def _process_gone(where: str, here: str) -> bool:
    """Whether `host:pid` names a process of this host that no longer runs."""
    host, _, pid = where.rpartition(":")
    if host != here or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)  # PermissionError: it runs, as another user
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    return False


def managed_pipelines_sensor() -> SensorDefinition:
    """Launches the ingestion pipelines OpenMetadata deployed through the bridge on their
    cron ticks: the bridge's store says what runs when and whether it is paused (one source
    of truth; nothing is asked of the server for each pipeline)."""

    @sensor(
        name="openmetadata_ingestion_pipelines",
        job_name=MANAGED_JOB,
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.RUNNING,
        description="Runs the pipelines OpenMetadata deployed (the bridge's store) on their schedules "
        "(airflowConfig.scheduleInterval, pipelineTimezone), once a tick, never when disabled; "
        "startDate/endDate, maxActiveRuns and workflowTimeout as Airflow reads them.",
    )
    def ingestion_pipelines(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        if nothing_deployed(url := default_url()):
            return SkipReason(f"no pipeline deployed through the bridge yet (no store at {shown(url)})")
        try:
            store = Store(url)
            try:
                deployed = store.all()
            finally:
                store.close()
        except SQLAlchemyError as err:
            return SkipReason(f"cannot read the bridge's store ({shown(url)}): {first_line(err)}")
        if pattern := os.environ.get(PATTERN_ENV):  # e.g. "^prod_.*" : only some of the pipelines
            deployed = [p for p in deployed if re.search(pattern, p.fqn)]
        listed = [
            {
                "fullyQualifiedName": p.fqn,
                "airflowConfig": (p.entity.get("airflowConfig") or {})
                | {"scheduleInterval": p.schedule, "pipelineTimezone": p.timezone},
                "enabled": p.enabled,
            }
            for p in deployed
        ]
        timeouts = {p.fqn: p.timeout for p in deployed}

        def active(fqn: str) -> int:
            runs = RunsFilter(tags={PIPELINE_TAG: fqn}, statuses=ACTIVE)
            return context.instance.get_runs_count(runs)

        cursor = json.loads(context.cursor) if context.cursor else {}
        due, seen = due_runs(listed, cursor, dt.datetime.now(dt.UTC), active)
        requests = [
            RunRequest(run_key=f"{fqn}@{tick.isoformat()}", tags=pipeline_tags(fqn, timeouts.get(fqn)))
            for fqn, tick in due
        ]
        return SensorResult(run_requests=requests, cursor=json.dumps(seen))

    return ingestion_pipelines
