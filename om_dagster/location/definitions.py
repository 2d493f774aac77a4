"""The code location: a job (and schedule) per recipe in the workflows folder, and the shared resources."""

import logging
import os
from pathlib import Path
from typing import Any

from dagster import Definitions, EnvVar, JobDefinition, ScheduleDefinition

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
from om_dagster.location.factory import MANAGED_JOB, broken_job, managed_job, recipe_job, recipe_schedule
from om_dagster.location.resources import PIPELINE_TAG, ManagedRecipeResource, OpenMetadataResource
from om_dagster.location.sensors import file_loader, managed_pipelines_sensor, status_sensors
from om_dagster.openmetadata.managed import pipeline_recipe

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
    """Every recipe of the folder, or its error; with `strict` the first error raises."""
    loaded: list[tuple[Path, Recipe | RecipeError]] = []
    for path in recipe_files(folder):
        try:
            recipe = load_recipe(path)
        except RecipeError as err:
            if strict:
                raise
            log.error(str(err))
            loaded.append((path, err))
            continue
        for warning in recipe.warnings:
            log.warning(warning)
        loaded.append((path, recipe))
    return loaded


def recipe_jobs(
    loaded: list[tuple[Path, Recipe | RecipeError]], resources: dict[str, Any], strict: bool = False
) -> tuple[list[JobDefinition], list[ScheduleDefinition]]:
    """A job per recipe (a broken recipe: a job that fails with its error), and the schedules
    of the recipes whose sidecar has one. Files that give one job name (`shop.yaml` and
    `shop.json`) make one broken job naming them all: which one runs must not be a guess."""
    by_name: dict[str, list[tuple[Path, Recipe | RecipeError]]] = {}
    for path, recipe in loaded:
        by_name.setdefault(job_name_for(path), []).append((path, recipe))
    jobs: list[JobDefinition] = []
    schedules: list[ScheduleDefinition] = []
    for same in by_name.values():
        if len(same) > 1:
            err = name_clash(same[0][0], [path for path, _ in same[1:]])
            if strict:
                raise err
            log.error(str(err))
            jobs.append(broken_job(same[0][0], err))
            continue
        path, recipe = same[0]
        if isinstance(recipe, RecipeError):
            jobs.append(broken_job(path, recipe))
            continue
        built = recipe_job(recipe, resources)
        jobs.append(built)
        if schedule := recipe_schedule(recipe, built):
            schedules.append(schedule)
    return jobs, schedules


def managed_server() -> OpenMetadataServerConfig:
    """The server whose ingestion pipelines run here, read from the environment when asked."""
    return ManagedRecipeResource(
        host_port=os.environ[SERVER_ENV], jwt_token=os.environ.get(TOKEN_ENV)
    ).server()


def build_definitions(folder: Path | None = None, strict: bool | None = None) -> Definitions:
    """The code location. `strict` (default: `OM_DAGSTER_STRICT`) stops on a bad recipe."""
    strict = os.environ.get(STRICT_ENV, "") not in ("", "0", "false") if strict is None else strict
    loaded = load_recipes(folder or workflows_dir(), strict)
    token = EnvVar(TOKEN_ENV) if os.environ.get(TOKEN_ENV) else None
    resources: dict[str, Any] = {"openmetadata": OpenMetadataResource(jwt_token=token)}
    if any(isinstance(recipe, Recipe) and recipe.uses_aws for _, recipe in loaded):
        from om_dagster.location.aws import AwsCredentials  # dagster-aws is slow to import: only when used

        resources["aws"] = AwsCredentials(
            **{field: EnvVar(var) for field, var in AWS_ENV.items() if os.environ.get(var)}
        )
    jobs, schedules = recipe_jobs(loaded, resources, strict)
    reporting = {
        recipe.job_name: file_loader(path)
        for path, recipe in loaded
        if isinstance(recipe, Recipe) and recipe.workflow.ingestionPipelineFQN
    }
    sensors = []
    if os.environ.get(SERVER_ENV):  # pipelines defined in OpenMetadata run here too
        jobs.append(
            managed_job(resources, ManagedRecipeResource(host_port=EnvVar(SERVER_ENV), jwt_token=token))
        )
        sensors.append(managed_pipelines_sensor(managed_server))
        reporting[MANAGED_JOB] = lambda run: pipeline_recipe(managed_server(), run.tags[PIPELINE_TAG])
    if reporting:
        sensors += status_sensors(reporting, resources["openmetadata"])
    return Definitions(jobs=jobs, schedules=schedules, sensors=sensors, resources=resources)
