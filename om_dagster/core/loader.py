"""Loading a recipe: its file and sidecar parsed, then each step resolved by `type` and
checked. Apart from `recipe` (the models), which the registry and the steps read."""

from pathlib import Path
from typing import Any

from om_dagster.core.recipe import (
    Recipe,
    Sidecar,
    Workflow,
    expand_env,
    field_warnings,
    parse_model,
    read_document,
    sidecar_path,
)
from om_dagster.core.registry import resolve


def load_recipe(path: Path, strict_env: bool = False) -> Recipe:
    """Parse and check a recipe file and its sidecar: the envelope, then each step's config.

    At definition load `strict_env` is False: an unset `${VAR}` stays literal (it may only
    exist where runs execute). A run loads with `strict_env=True`.
    """
    path = Path(path)
    raw = expand_env(read_document(path), path, strict=strict_env)
    side_file = sidecar_path(path)
    sidecar = parse_model(Sidecar, read_document(side_file), side_file) if side_file.exists() else Sidecar()
    return build_recipe(raw, path, sidecar)


def build_recipe(raw: dict[str, Any], origin: Path, sidecar: Sidecar | None = None) -> Recipe:
    """Check a recipe's data (from a file, or built from an OpenMetadata ingestion pipeline);
    `origin` names it in errors."""
    workflow = parse_model(Workflow, raw, origin)
    warnings = field_warnings(origin, workflow, "")
    recipe = Recipe(origin, workflow, sidecar or Sidecar(), warnings)

    has_sink = workflow.sink is not None
    has_bulk = workflow.stage is not None or workflow.bulkSink is not None
    if has_sink and has_bulk:
        raise recipe.error("sink", "a recipe has either `sink` or `stage` + `bulkSink`, not both")
    if not has_sink and not has_bulk:
        raise recipe.error("sink", "required: add `sink` (e.g. type: metadata-rest), or `stage` + `bulkSink`")
    if has_bulk and (workflow.stage is None or workflow.bulkSink is None):
        missing = "stage" if workflow.stage is None else "bulkSink"
        raise recipe.error(missing, "required with the other half of `stage` + `bulkSink`")

    for role in ("source", "processor", "stage", "sink", "bulkSink"):
        section = getattr(workflow, role)
        if section is not None:
            recipe.steps[role] = resolve(role, section.type, recipe)
            recipe.warnings.extend(recipe.steps[role].check(recipe))
    return recipe
