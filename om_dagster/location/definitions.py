"""The code location: an asset (its check, job and schedule) per recipe in the workflows folder,
the sensors, and the shared resources."""

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetChecksDefinition,
    AssetsDefinition,
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    Definitions,
    EnvVar,
    JobDefinition,
    ScheduleDefinition,
    SensorDefinition,
    in_process_executor,
)

from om_dagster.core.loader import load_recipe
from om_dagster.core.recipe import (
    RECIPE_SUFFIXES,
    OpenMetadataServerConfig,
    Recipe,
    RecipeError,
    is_sidecar,
    job_name_for,
    name_clash,
)
from om_dagster.location.factory import (
    MANAGED_JOB,
    asset_keys,
    broken_job,
    managed_job,
    recipe_defs,
    upstream,
)
from om_dagster.location.logs import LOGGERS
from om_dagster.location.resources import (
    PIPELINE_TAG,
    ManagedRecipeResource,
    OpenMetadataResource,
    RecipeFiles,
)
from om_dagster.location.sensors import (
    dead_runs_sensor,
    file_loader,
    managed_pipelines_sensor,
    status_sensors,
)
from om_dagster.openmetadata.managed import pipeline_recipe

if TYPE_CHECKING:  # what define_asset_job returns
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

log = logging.getLogger(__name__)

WORKFLOWS_ENV = "OM_DAGSTER_WORKFLOWS_DIR"
STRICT_ENV = "OM_DAGSTER_STRICT"
TOKEN_ENV = "OM_DAGSTER_JWT_TOKEN"
SERVER_ENV = "OM_DAGSTER_SERVER_HOST_PORT"  # set: run OpenMetadata's own ingestion pipelines
# The `aws` resource's fields, each from an environment variable when it is set (by EnvVar:
# the UI shows the variable's name, never the value).
AWS_ENV = {
    "region_name": "OM_DAGSTER_AWS_REGION",
    "profile_name": "OM_DAGSTER_AWS_PROFILE",
    "endpoint_url": "OM_DAGSTER_AWS_ENDPOINT_URL",
    "aws_access_key_id": "OM_DAGSTER_AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "OM_DAGSTER_AWS_SECRET_ACCESS_KEY",
    "aws_session_token": "OM_DAGSTER_AWS_SESSION_TOKEN",
}
DEFAULT_WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


def workflows_dir() -> Path:
    return Path(os.environ.get(WORKFLOWS_ENV) or DEFAULT_WORKFLOWS)


def recipe_files(folder: Path) -> list[Path]:
    """Recipes are `*.yaml`, `*.yml` and `*.json` (`metadata ingest -c` reads both);
    `*.dagster.yaml` sidecars are not."""
    if not folder.is_dir():
        raise RecipeError(folder, "", f"no such folder: set {WORKFLOWS_ENV} to the folder of your recipes")
    return sorted(
        p for p in folder.iterdir() if p.suffix in RECIPE_SUFFIXES and p.is_file() and not is_sidecar(p)
    )


def load_recipes(folder: Path, strict: bool = False) -> list[tuple[Path, Recipe | RecipeError]]:
    """Every recipe of the folder, or its error; with `strict`, the errors raise, all of them
    in one (CI and `dagster definitions validate` name every broken recipe at once)."""
    loaded: list[tuple[Path, Recipe | RecipeError]] = []
    for path in recipe_files(folder):
        try:
            recipe = load_recipe(path)
        except RecipeError as err:
            log.error(str(err))
            loaded.append((path, err))
            continue
        for warning in recipe.warnings:
            log.warning(warning)
        loaded.append((path, recipe))
    errors = [err for _, err in loaded if isinstance(err, RecipeError)]
    if strict and len(errors) == 1:
        raise errors[0]
    if strict and errors:
        raise RecipeError(folder, "", f"{len(errors)} recipes do not load: " + " | ".join(map(str, errors)))
    return loaded


@dataclass
class RecipeDefinitions:
    """What the recipes of a folder put in the code location."""

    assets: list[AssetsDefinition] = field(default_factory=list)
    checks: list[AssetChecksDefinition] = field(default_factory=list)
    jobs: list["JobDefinition | UnresolvedAssetJobDefinition"] = field(default_factory=list)
    schedules: list[ScheduleDefinition] = field(default_factory=list)
    recipes: list[Recipe] = field(default_factory=list)  # those that became assets


def recipe_definitions(
    loaded: list[tuple[Path, Recipe | RecipeError]], strict: bool = False
) -> RecipeDefinitions:
    """An asset, its check, its job and schedule per recipe; a job that fails with its error
    per broken one. Files that give one job name (`shop.yaml` and `shop.json`) make one broken
    job naming them all: which one runs must not be a guess."""
    out = RecipeDefinitions()
    by_name: dict[str, list[tuple[Path, Recipe | RecipeError]]] = {}
    for path, recipe in loaded:
        by_name.setdefault(job_name_for(path), []).append((path, recipe))
    good: dict[str, Recipe] = {}
    for name, same in by_name.items():
        path, recipe = same[0]
        if len(same) > 1:
            recipe = name_clash(path, [other for other, _ in same[1:]])
            if strict:
                raise recipe
            log.error(str(recipe))
        if isinstance(recipe, RecipeError):
            out.jobs.append(broken_job(path, recipe))
        else:
            good[name] = recipe
    keys = asset_keys(good.values())
    for recipe in good.values():
        try:
            deps = upstream(recipe, keys, good)
        except RecipeError as err:
            if strict:
                raise
            log.error(str(err))
            out.jobs.append(broken_job(recipe.path, err))
            continue
        built = recipe_defs(recipe, keys[recipe.path], deps)
        out.assets.append(built.asset)
        out.checks.extend(built.checks)
        out.jobs.append(built.job)
        out.schedules += [built.schedule] if built.schedule else []
        out.recipes.append(recipe)
    return out


def shared_resources(uses_aws: bool) -> dict[str, Any]:
    """The resources recipe assets need: `recipe`, `openmetadata`, and `aws` when a recipe
    uses AWS (importing dagster-aws costs seconds at every start-up). Secrets by `EnvVar`."""
    token = EnvVar(TOKEN_ENV) if os.environ.get(TOKEN_ENV) else None
    resources: dict[str, Any] = {
        "recipe": RecipeFiles(),
        "openmetadata": OpenMetadataResource(jwt_token=token),
    }
    if uses_aws:
        from om_dagster.location.aws import AwsCredentials

        resources["aws"] = AwsCredentials(
            **{field: EnvVar(var) for field, var in AWS_ENV.items() if os.environ.get(var)}
        )
    return resources


def automation_sensor() -> AutomationConditionSensorDefinition:
    """Evaluates the sidecars' `automation` (eager, on_cron): running, since a sidecar that
    sets it asks for it; the daemon ticks it."""
    return AutomationConditionSensorDefinition(
        "openmetadata_automation",
        target=AssetSelection.all(),
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=15,
        description="Materializes recipe assets as their sidecar's `automation` says.",
    )


def managed_server() -> OpenMetadataServerConfig:
    """The server whose ingestion pipelines run here, read from the environment when asked."""
    return ManagedRecipeResource(
        host_port=os.environ[SERVER_ENV], jwt_token=os.environ.get(TOKEN_ENV)
    ).server()


def build_definitions(folder: Path | None = None, strict: bool | None = None) -> Definitions:
    """The code location. `strict` (default: `OM_DAGSTER_STRICT`) stops on a bad recipe."""
    strict = os.environ.get(STRICT_ENV, "") not in ("", "0", "false") if strict is None else strict
    loaded = load_recipes(folder or workflows_dir(), strict)
    uses_aws = any(isinstance(recipe, Recipe) and recipe.uses_aws for _, recipe in loaded)
    resources = shared_resources(uses_aws)
    token = resources["openmetadata"].jwt_token
    built = recipe_definitions(loaded, strict)
    reporting = {
        recipe.job_name: file_loader(recipe.path)
        for recipe in built.recipes
        if recipe.workflow.ingestionPipelineFQN
    }
    sensors: list[SensorDefinition] = [dead_runs_sensor()]  # a killed run ends FAILURE, not STARTED for good
    if any(recipe.sidecar.automation for recipe in built.recipes):
        sensors.append(automation_sensor())
    if os.environ.get(SERVER_ENV):  # pipelines defined in OpenMetadata run here too
        built.jobs.append(
            managed_job(resources, ManagedRecipeResource(host_port=EnvVar(SERVER_ENV), jwt_token=token))
        )
        sensors.append(managed_pipelines_sensor())
        reporting[MANAGED_JOB] = lambda run: pipeline_recipe(managed_server(), run.tags[PIPELINE_TAG])
    if reporting:
        by_asset = {
            key: reporting[recipe.job_name]
            for recipe, asset in zip(built.recipes, built.assets, strict=True)
            if recipe.job_name in reporting
            for key in asset.keys
        }
        sensors += status_sensors(reporting, by_asset, resources["openmetadata"])
    return Definitions(
        assets=built.assets,
        asset_checks=built.checks,
        jobs=built.jobs,
        schedules=built.schedules,
        sensors=sensors,
        resources=resources,
        loggers=LOGGERS,  # the asset jobs' `console`: a failure we raise prints as its one line
        executor=in_process_executor,  # asset graph runs too: steps are sequential, processes cost start-up
    )
