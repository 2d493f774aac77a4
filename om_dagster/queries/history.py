"""What the query sources reading a database's own history share (the MySQL general log,
pg_stat_statements, Snowflake's QUERY_HISTORY): the recipe's query settings, and the
connection of the recipe, or the one the server stores for the service when the recipe has
none (as OpenMetadata's usage and lineage examples print them)."""

from typing import Any, ClassVar

from om_dagster.core.recipe import Recipe, field_warnings
from om_dagster.core.steps import Source
from om_dagster.openmetadata.client import OpenMetadataClient
from om_dagster.openmetadata.connection import from_server
from om_dagster.queries.config import SOURCE_CONFIG, query_config
from om_dagster.sources.database import CONNECTION, DatabaseSource


class DatabaseQueryLog(Source):
    """A query source over the history `source` (the metadata source of that database) reads."""

    source: ClassVar[type[DatabaseSource]]

    def __init__(self, config: dict[str, Any], metadata: OpenMetadataClient | None, recipe: Recipe) -> None:
        super().__init__(config, metadata, recipe)
        self.query_config = query_config(recipe)
        from_server(recipe, metadata, self.status)
        self.connector = self.source.connector(recipe)

    @classmethod
    def check(cls, recipe: Recipe) -> list[str]:
        warnings = field_warnings(recipe.path, query_config(recipe), SOURCE_CONFIG) + cls.config_warnings(
            recipe
        )
        if recipe.workflow.source.serviceConnection is None:  # the server's, at run time
            return warnings
        connection = cls.source.parse_connection(recipe)
        return cls.connection_warnings(recipe, connection) + warnings

    @classmethod
    def config_warnings(cls, recipe: Recipe) -> list[str]:
        """The query settings this history cannot honour."""
        return []

    @classmethod
    def connection_warnings(cls, recipe: Recipe, connection: Any) -> list[str]:
        """The connection's fields unsupported here (a bad one raises)."""
        return field_warnings(recipe.path, connection, CONNECTION)
