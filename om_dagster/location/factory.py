"""One factory: a recipe becomes a software-defined asset computed by the shared ops
(`source -> [processor] -> sink`, or `-> stage -> bulk_sink`), the asset's check, its job
(named after the file) and its schedule; a recipe that does not load becomes a job that
reports its error.

Asset keys are `openmetadata/<service>/<workflow>` (`metadata`, `profiler`, `test_suite`,
`usage`, `lineage`...), characters outside [A-Za-z0-9_] as `_`. When several recipes of
a folder give one key (two metadata recipes of a service with other filters), each gets
its job name appended: `openmetadata/<service>/<workflow>/<job>`.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    AutomationCondition,
    DefaultScheduleStatus,
    GraphIn,
    JobDefinition,
    MetadataValue,
    ScheduleDefinition,
    asset_check,
    define_asset_job,
    graph,
    in_process_executor,
    job,
)

from om_dagster.core.recipe import JOB_NAME_UNSAFE, Recipe, RecipeError, job_name_for, sidecar_path
from om_dagster.location.logs import LOGGER_CONFIG, LOGGERS
from om_dagster.location.ops import (
    aws_source,
    bulk_sink,
    managed_processor,
    processor,
    recipe_asset_key,
    recipe_error,
    sink,
    source,
    stage,
)
from om_dagster.location.quality import test_case_checks
from om_dagster.location.resources import PIPELINE_TAG, RECIPE_TAG, ManagedRecipeResource

if TYPE_CHECKING:  # what define_asset_job returns
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

CHECK = "ingestion_failures"
ASSET_TAG_KEY = re.compile(r"^([A-Za-z0-9_.-]{1,63}/)?[A-Za-z0-9_.-]{1,63}$")
ASSET_TAG_VALUE = re.compile(r"^[A-Za-z0-9_.-]{0,63}$")
POOL_TAG = "dagster/concurrency_key"  # an op invocation's pool (the ops are shared definitions)


@dataclass
class RecipeDefs:
    """What one recipe puts in the code location."""

    asset: AssetsDefinition
    checks: list[AssetChecksDefinition]
    job: "UnresolvedAssetJobDefinition"
    schedule: ScheduleDefinition | None


def job_tags(recipe: Recipe) -> dict[str, str]:
    """Tags on the job and so on every run: filter runs by recipe, service or pipeline."""
    tags = {"om/recipe": recipe.path.name, "om/service": recipe.service_name}
    if recipe.workflow.ingestionPipelineFQN:
        tags[PIPELINE_TAG] = recipe.workflow.ingestionPipelineFQN
    return {**tags, **recipe.sidecar.tags}


def pool(recipe: Recipe) -> str:
    """The concurrency pool of a recipe's ops: one per source service, so runs that collide
    (schedules, backfills) never hit one database with more steps at once than it allows."""
    return f"openmetadata_{JOB_NAME_UNSAFE.sub('_', recipe.service_name)}"


def asset_keys(recipes: Iterable[Recipe]) -> dict[Path, AssetKey]:
    """Each recipe's key: `openmetadata/<service>/<workflow>`, with the job name appended
    for every recipe that shares it with another."""
    by_key: dict[AssetKey, list[Recipe]] = {}
    for recipe in recipes:
        by_key.setdefault(recipe_asset_key(recipe), []).append(recipe)
    return {
        recipe.path: key if len(same) == 1 else AssetKey([*key.path, recipe.job_name])
        for key, same in by_key.items()
        for recipe in same
    }


def upstream(recipe: Recipe, keys: dict[Path, AssetKey], recipes: dict[str, Recipe]) -> list[AssetKey]:
    """The assets a recipe's asset comes after: for a profiler, test-suite, usage or lineage
    recipe, the metadata assets of its service in the folder; plus the sidecar's `deps`."""
    found = []
    if recipe.workflow_kind != "metadata":
        found = [
            keys[other.path]
            for other in recipes.values()
            if other.workflow_kind == "metadata" and other.service_name == recipe.service_name
        ]
    for stem in recipe.sidecar.deps:
        other = recipes.get(job_name_for(Path(stem)))
        if other is None:
            raise RecipeError(
                sidecar_path(recipe.path),
                "deps",
                f"no recipe {stem!r} in {recipe.path.parent}: name the file stem of another recipe",
            )
        found.append(keys[other.path])
    return list(dict.fromkeys(found))


def asset_tags(recipe: Recipe) -> dict[str, str]:
    """Kinds `openmetadata` and the source type (Dagster shows their icons), and the sidecar's
    tags that fit Dagster's rules for asset tags (all of them go on the runs)."""
    kinds = {f"dagster/kind/{kind}": "" for kind in ("openmetadata", recipe.workflow.source.type)}
    fitting = {
        k: v for k, v in recipe.sidecar.tags.items() if ASSET_TAG_KEY.match(k) and ASSET_TAG_VALUE.match(v)
    }
    return kinds | fitting


def automation(recipe: Recipe) -> AutomationCondition | None:
    """The sidecar's `automation`: `eager` runs after upstream materializes; `on_cron` once
    a tick has passed and upstream has materialized since. Both need the daemon."""
    chosen = recipe.sidecar.automation
    if chosen is None:
        return None
    if chosen == "eager":
        return AutomationCondition.eager()
    return AutomationCondition.on_cron(chosen.on_cron, cron_timezone=recipe.sidecar.timezone)


def recipe_defs(recipe: Recipe, key: AssetKey, deps: list[AssetKey]) -> RecipeDefs:
    wf = recipe.workflow
    steps = [wf.source.type, *([wf.processor.type] if wf.processor else [])]
    steps += [wf.sink.type] if wf.sink else [wf.stage.type, wf.bulkSink.type]
    flow = " -> ".join(steps)
    description = recipe.sidecar.description or (
        f"OpenMetadata {recipe.workflow_kind} of {recipe.service_name}: {recipe.path.name} ({flow})"
    )
    tags = {RECIPE_TAG: str(recipe.path), POOL_TAG: pool(recipe)}
    chain = [processor] if wf.processor else []
    chain += [sink] if wf.sink else [stage, bulk_sink]
    read = aws_source if recipe.uses_aws else source
    inputs = [f"after_{i}" for i in range(len(deps))]
    condition = automation(recipe)

    # not the job's name: an asset job's own graph has it
    @graph(name=f"{recipe.job_name}_steps", ins={name: GraphIn() for name in inputs})
    def computed(**after: Any) -> Any:
        records = read.tag(tags)(after=list(after.values())) if after else read.tag(tags)()
        for node in chain:
            records = node.tag(tags)(records)
        return records

    asset = AssetsDefinition.from_graph(
        computed,
        keys_by_output_name={"result": key},
        keys_by_input_name=dict(zip(inputs, deps, strict=True)),
        group_name=JOB_NAME_UNSAFE.sub("_", recipe.service_name),
        descriptions_by_output_name={"result": description},
        metadata_by_output_name={
            "result": {
                "recipe": MetadataValue.path(str(recipe.path)),
                "service": recipe.service_name,
                "workflow": recipe.workflow_kind,
                "pool": pool(recipe),
            }
        },
        # kinds: Dagster shows their icons
        # kinds: Dagster shows their icons
        tags_by_output_name={"result": asset_tags(recipe)},
        owners_by_output_name={"result": recipe.sidecar.owners} if recipe.sidecar.owners else None,
        automation_conditions_by_output_name={"result": condition} if condition else None,
    )
    asset_job = define_asset_job(
        name=recipe.job_name,
        selection=AssetSelection.assets(key),
        description=description,
        tags=job_tags(recipe),
        config=LOGGER_CONFIG,  # the `console` logger of the definitions: our failures in one line
        executor_def=in_process_executor,  # the steps are sequential; processes only add start-up time
    )
    checks = [failures_check(key)]
    if cases := test_case_checks(recipe, key):
        checks.append(cases)
    return RecipeDefs(asset, checks, asset_job, recipe_schedule(recipe, asset_job))


def failures_check(key: AssetKey) -> AssetChecksDefinition:
    """Fails (WARN), naming the failed entities, when a step of the latest ingestion recorded
    failures, even when the run passed under `successThreshold`."""

    @asset_check(
        asset=key,
        name=CHECK,
        description="Every entity of the latest ingestion was read and written.",
    )
    def ingestion_failures(context: AssetCheckExecutionContext) -> AssetCheckResult:
        event = context.instance.get_latest_materialization_event(key)
        metadata = event.asset_materialization.metadata if event and event.asset_materialization else {}
        failures = metadata["failures"].value if "failures" in metadata else 0
        result: dict[str, Any] = {"failures": failures}
        if "failed entities" in metadata:
            result["failed entities"] = metadata["failed entities"]
        return AssetCheckResult(
            passed=failures == 0,
            severity=AssetCheckSeverity.WARN,
            description=f"{failures} failed: see `failed entities`" if failures else "no entity failed",
            metadata=result,
        )

    return ingestion_failures


def broken_job(path: Path, error: RecipeError) -> JobDefinition:
    """A job for a recipe that does not load: its description and its run give the error."""

    @job(
        name=job_name_for(path),
        description=f"This recipe does not load: {error}",
        tags={"om/recipe": path.name, "om/error": "true"},
        config=LOGGER_CONFIG,
        logger_defs=LOGGERS,
        executor_def=in_process_executor,
    )
    def broken() -> None:
        recipe_error.tag({RECIPE_TAG: str(path)})()

    return broken


def recipe_schedule(recipe: Recipe, recipe_job: "UnresolvedAssetJobDefinition") -> ScheduleDefinition | None:
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
    `om/pipeline_fqn` tag says which; its type says, when the run starts, which of the
    branches after the source runs (a processor or not, then the sink, or the stage and bulk
    sink). Its runs materialize `openmetadata/<service>/<workflow>`, the key a recipe file of
    that service and workflow has."""

    @job(
        name=MANAGED_JOB,
        description=f"Runs an ingestion pipeline defined in OpenMetadata (the run tag {PIPELINE_TAG}).",
        resource_defs={**resources, "recipe": recipe},
        config=LOGGER_CONFIG,
        logger_defs=LOGGERS,
        executor_def=in_process_executor,
    )
    def managed() -> None:
        to_sink, to_stage = managed_processor(source())
        sink(to_sink)
        bulk_sink(stage(to_stage))

    return managed
