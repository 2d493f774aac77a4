"""One factory: a recipe file becomes a Dagster job (or a job that reports its error)."""

from pathlib import Path
from typing import Any

from dagster import DefaultScheduleStatus, JobDefinition, ScheduleDefinition, in_process_executor, job

from om_dagster.core.recipe import Recipe, RecipeError, job_name_for
from om_dagster.location.ops import aws_source, bulk_sink, processor, recipe_error, sink, source, stage
from om_dagster.location.resources import PIPELINE_TAG, ManagedRecipeResource, RecipeResource


def job_tags(recipe: Recipe) -> dict[str, str]:
    """Tags on the job and so on every run: filter runs by recipe, service or pipeline."""
    tags = {"om/recipe": recipe.path.name, "om/service": recipe.service_name}
    if recipe.workflow.ingestionPipelineFQN:
        tags[PIPELINE_TAG] = recipe.workflow.ingestionPipelineFQN
    return {**tags, **recipe.sidecar.tags}


def recipe_job(recipe: Recipe, resources: dict[str, Any]) -> JobDefinition:
    """`source -> [processor] -> sink`, or `source -> [processor] -> stage -> bulk_sink`.

    `resources` are the code location's shared ones; the job adds its `recipe`.
    """
    wf = recipe.workflow
    steps = [f"{wf.source.type}"]
    steps += [wf.processor.type] if wf.processor else []
    steps += [wf.sink.type] if wf.sink else [wf.stage.type, wf.bulkSink.type]
    description = (
        recipe.sidecar.description or f"OpenMetadata recipe {recipe.path.name}: {' -> '.join(steps)}"
    )
    options = {
        "name": recipe.job_name,
        "description": description,
        "tags": job_tags(recipe),
        "resource_defs": {**resources, "recipe": RecipeResource(path=str(recipe.path))},
        "executor_def": in_process_executor,  # the steps are sequential; processes only add start-up time
    }
    chain = [processor] if wf.processor else []
    chain += [sink] if wf.sink else [stage, bulk_sink]

    read = aws_source if recipe.uses_aws else source

    @job(**options)
    def recipe_graph() -> None:
        records = read()
        for node in chain:
            records = node(records)

    return recipe_graph


def broken_job(path: Path, error: RecipeError) -> JobDefinition:
    """A job for a recipe that does not load: its description and its run give the error."""

    @job(
        name=job_name_for(path),
        description=f"This recipe does not load: {error}",
        tags={"om/recipe": path.name, "om/error": "true"},
        resource_defs={"recipe": RecipeResource(path=str(path))},
        executor_def=in_process_executor,
    )
    def broken() -> None:
        recipe_error()

    return broken


def recipe_schedule(recipe: Recipe, recipe_job: JobDefinition) -> ScheduleDefinition | None:
    """The sidecar's `schedule`, if any: stopped unless `enabled`, so nothing runs by surprise."""
    side = recipe.sidecar
    if side.schedule is None:
        return None
    return ScheduleDefinition(
        name=f"{recipe_job.name}_schedule",
        job=recipe_job,
        cron_schedule=side.schedule,
        execution_timezone=side.timezone,
        default_status=DefaultScheduleStatus.RUNNING if side.enabled else DefaultScheduleStatus.STOPPED,
        description=f"{recipe.path.name} at '{side.schedule}' ({side.timezone})",
    )


MANAGED_JOB = "openmetadata_ingestion_pipeline"


def managed_job(resources: dict[str, Any], recipe: ManagedRecipeResource) -> JobDefinition:
    """One job for every ingestion pipeline defined in OpenMetadata: the run's
    `om/pipeline_fqn` tag says which."""

    @job(
        name=MANAGED_JOB,
        description=f"Runs an ingestion pipeline defined in OpenMetadata (the run tag {PIPELINE_TAG}).",
        resource_defs={**resources, "recipe": recipe},
        executor_def=in_process_executor,
    )
    def managed() -> None:
        sink(source())

    return managed
