"""`om_dagster.RecipeComponent`: a recipe in a `dg` project, configured in YAML.

```yaml
# defs/shop/defs.yaml
type: om_dagster.RecipeComponent
attributes:
  recipe: shop.yaml            # beside defs.yaml, as `metadata ingest -c` reads it
  schedule: "0 3 * * *"        # any sidecar setting: schedule, timezone, enabled,
  automation: eager            #   description, tags, owners, automation, deps, severity
  deps: [openmetadata/shop/metadata]   # here: asset keys, as components see no folder
```

It builds, through the same factory as the workflows folder, the recipe's asset, its
check, its job and its schedule. Settings given here win over the recipe's sidecar file;
a recipe that does not load becomes a job that fails with its one-line error.
"""

import functools
import logging
from pathlib import Path
from typing import Any, Literal

from dagster import AssetKey, Definitions
from dagster.components import Component, ComponentLoadContext, Model, Resolvable

from om_dagster.core.loader import load_recipe
from om_dagster.core.recipe import RecipeError, Sidecar, parse_model
from om_dagster.location.definitions import automation_sensor, shared_resources
from om_dagster.location.factory import broken_job, recipe_defs
from om_dagster.location.logs import LOGGERS
from om_dagster.location.ops import recipe_asset_key

log = logging.getLogger(__name__)


class RecipeComponent(Component, Resolvable, Model):
    """An OpenMetadata ingestion recipe as a software-defined asset."""

    recipe: str
    schedule: str | None = None
    timezone: str | None = None
    enabled: bool | None = None
    description: str | None = None
    tags: dict[str, str] | None = None
    owners: list[str] | None = None
    automation: Literal["eager"] | dict[str, str] | None = None
    deps: list[str] | None = None
    severity: Literal["ERROR", "WARN"] | None = None

    def build_defs(self, context: ComponentLoadContext) -> Definitions:
        path = Path(context.path) / self.recipe
        try:
            recipe = load_recipe(path)
            given = self.model_dump(exclude_none=True, exclude={"recipe", "deps"})
            settings = {**recipe.sidecar.model_dump(exclude_defaults=True), **given}
            sidecar = parse_model(Sidecar, settings, Path(context.path) / "defs.yaml")
        except RecipeError as err:  # as in the workflows folder: a job that reports it, never a failed load
            log.error(str(err))
            return Definitions(jobs=[broken_job(path, err)], resources=_resources(False))
        recipe.sidecar = sidecar
        deps = [AssetKey.from_user_string(key) for key in self.deps or []]
        built = recipe_defs(recipe, recipe_asset_key(recipe), deps)
        return Definitions(
            assets=[built.asset],
            asset_checks=built.checks,
            jobs=[built.job],
            schedules=[built.schedule] if built.schedule else [],
            sensors=[_automation_sensor()] if sidecar.automation else [],
            resources=_resources(recipe.uses_aws),
            loggers=LOGGERS,
        )


def _resources(uses_aws: bool) -> dict[str, Any]:
    """The same objects for every component of a project, so their definitions merge."""
    return {key: _shared(key) for key in ("recipe", "openmetadata", *(("aws",) if uses_aws else ()))}


@functools.cache
def _shared(key: str) -> Any:
    return shared_resources(uses_aws=key == "aws")[key]


@functools.cache
def _automation_sensor() -> Any:
    return automation_sensor()
