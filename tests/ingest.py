"""Run a recipe's steps without Dagster: what the ops do, minus the spool."""

from pathlib import Path

from om_dagster.core.loader import load_recipe
from om_dagster.core.registry import resolve
from om_dagster.core.status import Status
from om_dagster.openmetadata.client import ClientSettings, OpenMetadataClient


def ingest(path: Path, retries: int = 5) -> tuple[Status, Status, OpenMetadataClient]:
    """Source into sink; returns both statuses and the sink's client (for request counts)."""
    recipe = load_recipe(path, strict_env=True)
    source = resolve("source", recipe.workflow.source.type, recipe).create(
        recipe.workflow.source.sourceConfig.config, None, recipe
    )
    client = OpenMetadataClient(recipe.server, ClientSettings(retries=retries, backoff_factor=0.01))
    sink = resolve("sink", recipe.workflow.sink.type, recipe).create(
        recipe.workflow.sink.config or {}, client, recipe
    )
    with source, sink:
        sink.run(source.run())
    return source.status, sink.status, client
