"""The code location: a job per recipe in the workflows folder, and the shared resources."""

import logging
import os
from pathlib import Path
from typing import Any

from dagster import Definitions, EnvVar, JobDefinition

from om_dagster.jobs import broken_job, recipe_job
from om_dagster.recipe import RecipeError, load_recipe
from om_dagster.resources import AwsCredentials, OpenMetadataResource

log = logging.getLogger(__name__)

WORKFLOWS_ENV = "OM_DAGSTER_WORKFLOWS_DIR"
STRICT_ENV = "OM_DAGSTER_STRICT"
TOKEN_ENV = "OM_DAGSTER_JWT_TOKEN"
DEFAULT_WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"


def workflows_dir() -> Path:
    return Path(os.environ.get(WORKFLOWS_ENV) or DEFAULT_WORKFLOWS)


def recipe_files(folder: Path) -> list[Path]:
    """Recipes are `*.yaml` / `*.yml`; `*.dagster.yaml` sidecars are not."""
    if not folder.is_dir():
        raise RecipeError(folder, "", f"no such folder: set {WORKFLOWS_ENV} to the folder of your recipes")
    files = [p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()]
    return sorted(p for p in files if not p.name.endswith((".dagster.yaml", ".dagster.yml")))


def recipe_jobs(folder: Path, resources: dict[str, Any], strict: bool = False) -> list[JobDefinition]:
    """A job per recipe. A broken recipe becomes a job that fails with its error,
    unless `strict`, where loading stops on it.
    """
    jobs: dict[str, JobDefinition] = {}
    for path in recipe_files(folder):
        try:
            recipe = load_recipe(path)
            for warning in recipe.warnings:
                log.warning(warning)
            built = recipe_job(recipe, resources)
        except RecipeError as err:
            if strict:
                raise
            log.error(str(err))
            built = broken_job(path, err)
        if built.name in jobs:
            err = RecipeError(
                path, "", f"job name {built.name!r} is taken by another recipe: rename the file"
            )
            if strict:
                raise err
            log.error(str(err))
            continue
        jobs[built.name] = built
    return list(jobs.values())


def build_definitions(folder: Path | None = None, strict: bool | None = None) -> Definitions:
    strict = os.environ.get(STRICT_ENV, "") not in ("", "0", "false") if strict is None else strict
    token = EnvVar(TOKEN_ENV) if os.environ.get(TOKEN_ENV) else None
    resources = {"openmetadata": OpenMetadataResource(jwt_token=token), "aws": AwsCredentials()}
    return Definitions(
        jobs=recipe_jobs(folder or workflows_dir(), resources, strict=strict), resources=resources
    )
