"""A recipe that names its service but not its connection, as OpenMetadata's lineage and
usage examples print them, runs on the connection the server stores for that service."""

import json

from om_dagster.core.recipe import Recipe, ServiceConnection
from om_dagster.core.status import Status
from om_dagster.core.steps import StepError
from om_dagster.openmetadata import fqn
from om_dagster.openmetadata.client import OpenMetadataClient, OpenMetadataError
from om_dagster.openmetadata.managed import MASK, NOT_A_BOT


def from_server(recipe: Recipe, client: OpenMetadataClient | None, status: Status) -> None:
    """Give `recipe` its service's stored connection when it has none (a bot's token sees
    its secrets, masked from then on in `status` too); nothing when it has one."""
    if recipe.workflow.source.serviceConnection is not None:
        return
    where = f"{recipe.path}: source.serviceConnection"
    if client is None:
        raise StepError(f"{where}: none in the recipe, and no OpenMetadata server to read it from")
    try:
        service = client.get_by_name(
            "services/databaseServices", fqn.quote_name(recipe.service_name), fields="connection"
        )
    except OpenMetadataError as err:
        raise StepError(f"{where}: none in the recipe, and the server's could not be read: {err}") from None
    config = ((service or {}).get("connection") or {}).get("config")
    if not config:
        raise StepError(
            f"{where}: none in the recipe, and OpenMetadata holds none for service {recipe.service_name!r}: "
            "add serviceConnection.config to the recipe"
        )
    if MASK in json.dumps(config):
        raise StepError(f"{where}: {NOT_A_BOT}")
    recipe.workflow.source.serviceConnection = ServiceConnection(config=config)
    recipe.__dict__.pop("secrets", None)  # the cached secrets now include the connection's
    status.secrets = recipe.secrets
