"""Run status sensors: a run that crashes or is terminated still ends in OpenMetadata.

The last op reports a run's final state; a run that never gets there (an op raised,
the process died, someone terminated it) is reported here, by the daemon, as `failed`
or `stopped`. Runs that already reported their end carry `om/status_reported`.
"""

from collections.abc import Callable
from pathlib import Path

from dagster import (
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunStatusSensorContext,
    SensorDefinition,
    run_failure_sensor,
    run_status_sensor,
)

from om_dagster import pipeline_status
from om_dagster.ops import STATUS_REPORTED_TAG
from om_dagster.recipe import RecipeError, load_recipe
from om_dagster.resources import OpenMetadataResource


def end_reporter(
    recipes: dict[str, Path], openmetadata: OpenMetadataResource
) -> Callable[[RunStatusSensorContext, DagsterRun, str], None]:
    """Report `state` as the end of `run`, if its job's recipe names an ingestion pipeline."""

    def report_end(context: RunStatusSensorContext, run: DagsterRun, state: str) -> None:
        path = recipes.get(run.job_name)
        if path is None or STATUS_REPORTED_TAG in run.tags:
            return
        try:
            recipe = load_recipe(path, strict_env=True)
        except RecipeError as err:
            context.log.warning(f"run {run.run_id}: cannot report its end to OpenMetadata: {err}")
            return
        if not recipe.workflow.ingestionPipelineFQN:
            return
        stats = context.instance.get_run_stats(run.run_id)
        started = int(stats.start_time * 1000) if stats.start_time else pipeline_status.now_ms()
        client = openmetadata.client(recipe)
        try:
            warning = pipeline_status.report(recipe, client, run.run_id, state, started, ended=True)
        finally:
            client.close()
        if warning:
            context.log.warning(warning)
        else:
            context.instance.add_run_tags(run.run_id, {STATUS_REPORTED_TAG: state})

    return report_end


def status_sensors(recipes: dict[str, Path], openmetadata: OpenMetadataResource) -> list[SensorDefinition]:
    """`recipes`: job name -> recipe file, for the jobs whose recipe has `ingestionPipelineFQN`."""
    report_end = end_reporter(recipes, openmetadata)

    @run_failure_sensor(
        name="openmetadata_failed_runs",
        default_status=DefaultSensorStatus.RUNNING,
        description="Marks crashed runs `failed` in OpenMetadata.",
    )
    def failed_runs(context: RunStatusSensorContext) -> None:
        report_end(context, context.dagster_run, "failed")

    @run_status_sensor(
        run_status=DagsterRunStatus.CANCELED,
        name="openmetadata_stopped_runs",
        default_status=DefaultSensorStatus.RUNNING,
        description="Marks terminated runs `stopped` in OpenMetadata.",
    )
    def stopped_runs(context: RunStatusSensorContext) -> None:
        report_end(context, context.dagster_run, "stopped")

    return [failed_runs, stopped_runs]
