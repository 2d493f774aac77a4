"""The profiler's source: the tables OpenMetadata holds for the service, filtered by the recipe.

As in OpenMetadata's profiler workflow, what to profile comes from the server (the metadata
workflow put it there), so each table arrives with its id, its columns' types and its own
`tableProfilerConfig`; the database is read later, by the `orm-profiler` processor, through
the dialect of the recipe's `source.type`.
"""

from collections.abc import Iterator
from functools import cache
from typing import Any, ClassVar

from om_dagster.core.recipe import FilterPattern, Recipe, field_warnings, parse_model
from om_dagster.core.steps import Kind, Record, Result, Source, StepError
from om_dagster.openmetadata.client import AuthError, OpenMetadataClient, OpenMetadataError
from om_dagster.profiler.config import ProfilerSourceConfig
from om_dagster.sources.database import DatabaseSource, filtered_out

SOURCE_CONFIG = "source.sourceConfig.config"
VIEWS = frozenset({"View", "MaterializedView", "SecureView"})
TABLE_FIELDS = "columns,tableProfilerConfig"


class ProfilerSource(Source):
    """Tables to profile, from the server; `dialect` is the metadata source of `source.type`."""

    dialect: ClassVar[type[DatabaseSource]]
    needs_server = True

    def __init__(self, config: dict[str, Any], metadata: OpenMetadataClient | None, recipe: Recipe) -> None:
        super().__init__(config, metadata, recipe)
        if metadata is None:
            raise StepError("the profiler source lists tables from OpenMetadata: it needs the server")
        self.client = metadata
        self.source_config = parse_config(recipe)
        self.service = recipe.service_name

    @classmethod
    def service_connection(cls, recipe: Recipe) -> dict[str, Any] | None:
        return cls.dialect.service_connection(recipe)

    @classmethod
    def check(cls, recipe: Recipe) -> list[str]:
        connection = cls.dialect.parse_connection(recipe)
        return field_warnings(recipe.path, connection, "source.serviceConnection.config") + field_warnings(
            recipe.path, parse_config(recipe), SOURCE_CONFIG
        )

    def iter_results(self) -> Iterator[Result]:
        cfg = self.source_config
        try:
            service = self.client.get_by_name("services/databaseServices", self.service)
            if service is None:
                raise StepError(
                    f"{self.recipe.path}: source.serviceName: OpenMetadata has no database service "
                    f"{self.service!r}: run the service's metadata recipe first"
                )
            for database in self.client.list("databases", {"service": service["fullyQualifiedName"]}):
                db_fqn = database["fullyQualifiedName"]
                if filtered_out(
                    cfg.databaseFilterPattern, db_fqn if cfg.useFqnForFiltering else database["name"]
                ):
                    self.status.filter(db_fqn, "Database Filtered Out")
                    continue
                yield from self._tables(db_fqn)
        except AuthError as err:
            raise StepError(str(err)) from None
        except OpenMetadataError as err:
            raise StepError(f"could not list the tables to profile: {err}") from None

    def _tables(self, db_fqn: str) -> Iterator[Result]:
        cfg = self.source_config
        query = {"database": db_fqn, "fields": TABLE_FIELDS, "include": "non-deleted"}
        skipped_schemas: set[str] = set()
        for table in self.client.list("tables", query):
            schema = table["databaseSchema"]
            schema_fqn = schema["fullyQualifiedName"]
            table_fqn = table["fullyQualifiedName"]
            if schema_fqn in skipped_schemas:
                continue
            if filtered_out(
                cfg.schemaFilterPattern, schema_fqn if cfg.useFqnForFiltering else schema["name"]
            ):
                skipped_schemas.add(schema_fqn)
                self.status.filter(schema_fqn, "Schema Filtered Out")
                continue
            if self._out(cfg.tableFilterPattern, table_fqn, table["name"]):
                self.status.filter(table_fqn, "Table Filtered Out")
                continue
            if table.get("tableType") in VIEWS and not cfg.includeViews:
                self.status.filter(table_fqn, "View Filtered Out (includeViews is false)")
                continue
            yield Record(
                Kind.TABLE_ENTITY,
                {
                    "id": table["id"],
                    "fqn": table_fqn,
                    "database": table["database"]["name"],
                    "schema": schema["name"],
                    "name": table["name"],
                    "columns": [{"name": c["name"], "dataType": c.get("dataType")} for c in table["columns"]],
                    "tableProfilerConfig": table.get("tableProfilerConfig"),
                },
            )

    def _out(self, pattern: FilterPattern | None, full: str, name: str) -> bool:
        return filtered_out(pattern, full if self.source_config.useFqnForFiltering else name)


def parse_config(recipe: Recipe) -> ProfilerSourceConfig:
    return parse_model(
        ProfilerSourceConfig, recipe.workflow.source.sourceConfig.config, recipe.path, SOURCE_CONFIG
    )


@cache
def for_dialect(dialect: type) -> type[ProfilerSource]:
    """The profiler source of a metadata source class (`sqlite`, `mysql`, `postgres`...)."""
    return type(
        f"{dialect.__name__.removesuffix('Source')}ProfilerSource",
        (ProfilerSource,),
        {"dialect": dialect, "type_name": dialect.type_name},
    )


def profiler_source(dialect: type, recipe: Recipe) -> type[ProfilerSource]:
    """The source of a Profiler recipe, or its one-line error when `source.type` has no SQL
    engine to profile with."""
    if not (isinstance(dialect, type) and issubclass(dialect, DatabaseSource)):
        raise recipe.error(
            "source.type",
            f"{recipe.workflow.source.type!r} has no query engine om-dagster can profile with: profile "
            "these tables through the engine that queries them (its service's own Profiler recipe), "
            "or run a metadata recipe for this source",
        )
    return for_dialect(dialect)
