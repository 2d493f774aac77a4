"""Database metadata on SQLAlchemy's inspector: service -> database -> schema -> tables.

A dialect is a small subclass: its connection model, its URL, and the databases it
holds. Tables are reflected a chunk at a time with the inspector's multi-table calls
(one query per chunk where the dialect implements them, a loop where it does not);
a chunk that fails is retried table by table, so one bad table is one failure.
"""

import re
from abc import abstractmethod
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, ClassVar, Literal

import sqlalchemy
from sqlalchemy.engine import Engine, Inspector
from sqlalchemy.engine.reflection import ObjectKind

from om_dagster.core.recipe import FilterPattern, Legacy, Model, Recipe, field_warnings, parse_model
from om_dagster.core.steps import Failure, Kind, Record, Result, Source, StepError, first_line
from om_dagster.openmetadata import fqn
from om_dagster.openmetadata.client import OpenMetadataClient
from om_dagster.sources.types import ColumnType, column_type

CHUNK = 200
VIEW_TYPES = frozenset({"View", "MaterializedView", "SecureView"})  # what includeViews covers
CONNECTION = "source.serviceConnection.config"
# Connections an engine keeps for reuse (none is opened ahead): the profiler holds up to two
# a worker; with SQLAlchemy's default of 5, the ones past it closed on return and were opened
# again, table after table (1,000 narrow PostgreSQL tables: 28.4 s, 24.5 s kept).
POOL_SIZE = 32
SOURCE_CONFIG = "source.sourceConfig.config"


class DatabaseMetadataConfig(Model):
    """`sourceConfig.config` of type DatabaseMetadata (`databaseServiceMetadataPipeline.json`)."""

    unsupported = frozenset(
        {
            "markDeletedStoredProcedures",
            "markDeletedSchemas",
            "markDeletedDatabases",
            "includeTags",
            "includeOwners",
            "ownerConfig",
            "includeStoredProcedures",
            "includeDDL",
            "overrideMetadata",
            "queryLogDuration",
            "queryParsingTimeoutLimit",
            "storedProcedureFilterPattern",
            "threads",
            "incremental",
            "extractJsonSchema",
            "jsonSchemaSampleSize",
        }
    )

    legacy = {
        "enableDataProfiler": Legacy(
            "removed in 0.11, the profiler is a workflow of its own: run a Profiler recipe for this "
            "service (sourceConfig.config.type: Profiler)"
        ),
        "generateSampleData": Legacy(
            "removed in 0.11, sample data comes from another workflow (AutoClassification, "
            "storeSampleData), ignored"
        ),
        "sampleDataQuery": Legacy("removed in 0.11 with generateSampleData, ignored"),
        "dbtConfigSource": Legacy(
            "removed in 0.13.1, dbt is a workflow of its own (sourceConfig.config.type: DBT), ignored"
        ),
    }

    type: Literal["DatabaseMetadata"] = "DatabaseMetadata"
    markDeletedTables: bool = True
    includeTables: bool = True
    includeViews: bool = True
    useFqnForFiltering: bool = False
    schemaFilterPattern: FilterPattern | None = None
    tableFilterPattern: FilterPattern | None = None
    databaseFilterPattern: FilterPattern | None = None
    # Accepted, not acted on yet (warned when set to something else than the default).
    markDeletedStoredProcedures: bool = True
    markDeletedSchemas: bool = False
    markDeletedDatabases: bool = False
    includeTags: bool = True
    includeOwners: bool = False
    ownerConfig: Any = None
    includeStoredProcedures: bool = True
    includeDDL: bool = False
    overrideMetadata: bool = False
    queryLogDuration: int = 1
    queryParsingTimeoutLimit: int = 300
    storedProcedureFilterPattern: FilterPattern | None = None
    threads: int = 1
    incremental: Any = None
    extractJsonSchema: bool = False
    jsonSchemaSampleSize: int = 10


class DatabaseConnection(Model):
    """What every database connection schema has that cannot change what a run ingests:
    the OpenMetadata UI's default filter patterns and the capability flags."""

    schemaFilterPattern: FilterPattern | None = None
    tableFilterPattern: FilterPattern | None = None
    databaseFilterPattern: FilterPattern | None = None
    storedProcedureFilterPattern: FilterPattern | None = None
    supportsMetadataExtraction: bool | None = None
    supportsIncrementalMetadataExtraction: bool | None = None
    supportsDBTExtraction: bool | None = None
    supportsProfiler: bool | None = None
    supportsQueryComment: bool | None = None
    supportsViewLineageExtraction: bool | None = None
    supportsDataDiff: bool | None = None
    supportsUsageExtraction: bool | None = None
    supportsLineageExtraction: bool | None = None
    supportsDatabase: bool | None = None
    supportsSystemProfile: bool | None = None


def filtered_out(pattern: FilterPattern | None, name: str) -> bool:
    """OpenMetadata's rule: case-insensitive `re.match`; excludes win over includes."""
    if pattern is None:
        return False
    if pattern.includes and not any(re.match(p, name, re.IGNORECASE) for p in pattern.includes):
        return True
    return any(re.match(p, name, re.IGNORECASE) for p in pattern.excludes)


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


class MetadataSource(Source):
    """A `DatabaseMetadata` source: its connection model, its `sourceConfig`, its service."""

    connection_model: ClassVar[type[Model]]
    #: `serviceType` of the database service (enum in `entity/services/databaseService.json`).
    service_type: ClassVar[str]

    def __init__(self, config: dict[str, Any], metadata: OpenMetadataClient | None, recipe: Recipe) -> None:
        super().__init__(config, metadata, recipe)
        self.connection, self.source_config = self.parse(recipe)
        self.service = recipe.service_name

    @classmethod
    def connector(cls, recipe: Recipe) -> "MetadataSource":
        """The dialect's connection alone, for workflows that read the tables the server lists
        (profiler, data quality): the recipe's `sourceConfig` is theirs, not a metadata one."""
        source = cls.__new__(cls)
        Source.__init__(source, {}, None, recipe)
        source.connection = cls.parse_connection(recipe)
        source.service = recipe.service_name
        return source

    @classmethod
    def parse(cls, recipe: Recipe) -> tuple[Any, DatabaseMetadataConfig]:
        source = recipe.workflow.source
        connection = cls.parse_connection(recipe)
        kind = source.sourceConfig.config.get("type", "DatabaseMetadata")
        if kind != "DatabaseMetadata":
            raise recipe.error(
                f"{SOURCE_CONFIG}.type",
                f"{kind!r} is not supported yet for source type {source.type!r}; supported: DatabaseMetadata",
            )
        config = parse_model(DatabaseMetadataConfig, source.sourceConfig.config, recipe.path, SOURCE_CONFIG)
        return connection, config

    @classmethod
    def parse_connection(cls, recipe: Recipe) -> Any:
        source = recipe.workflow.source
        if source.serviceConnection is None:
            raise recipe.error(
                "source.serviceConnection",
                "required: om-dagster reads the connection from the recipe (add serviceConnection.config)",
            )
        return parse_model(cls.connection_model, source.serviceConnection.config, recipe.path, CONNECTION)

    @classmethod
    def service_connection(cls, recipe: Recipe) -> dict[str, Any] | None:
        # a connection of older docs, e.g. Glue's `storageServiceName`: the server refuses it
        connection = super().service_connection(recipe)
        return cls.connection_model.upgrade(connection)[0] if connection is not None else None

    @classmethod
    def check(cls, recipe: Recipe) -> list[str]:
        connection, config = cls.parse(recipe)
        return field_warnings(recipe.path, connection, CONNECTION) + field_warnings(
            recipe.path, config, SOURCE_CONFIG
        )


class DatabaseSource(MetadataSource):
    """What every SQLAlchemy dialect shares; subclasses give the connection specifics."""

    # --- dialect hooks ------------------------------------------------------------------

    @abstractmethod
    def databases(self) -> Iterator[tuple[str, Engine]]:
        """Each database the connection reaches, with an engine for it."""

    def engine_for(self, database: str) -> Engine:
        """An engine on `database` as the catalog names it (the profiler's and the test
        runner's way in); dialects that reach any database by name say so faster."""
        for name, engine in self.databases():
            if name == database:
                return engine
            engine.dispose()
        raise StepError(
            f"{self.recipe.path}: database {database!r} of the catalog is not reachable with "
            f"{CONNECTION} (it reaches {', '.join(n for n, _ in self.databases()) or 'none'})"
        )

    def schema_names(self, inspector: Inspector) -> list[str]:
        return inspector.get_schema_names()

    def list_tables(self, inspector: Inspector, schema: str) -> list[tuple[str, str]]:
        """Names in a schema with their OpenMetadata `tableType` as listing tells it."""
        return [(n, "Regular") for n in inspector.get_table_names(schema)] + [
            (n, "View") for n in inspector.get_view_names(schema)
        ]

    def display_type(self, sa_type: Any, mapped: ColumnType, dialect: Any) -> str:
        """`dataTypeDisplay`: OpenMetadata's rendering of the mapped type (SQLite's way)."""
        return mapped.display

    def endpoint(self) -> str:
        """Where the connection goes, for error messages (never a secret)."""
        return ""

    def prefetch(self, inspector: Inspector, schema: str, names: list[str]) -> None:
        """Read ahead what a dialect needs for a chunk of tables (default: nothing)."""

    def table_extras(self, schema: str, name: str) -> dict[str, Any]:
        """Fields of the create request that SQLAlchemy does not reflect (default: none)."""
        return {}

    def connection_error(self, database: str, err: Exception) -> StepError:
        """One line: which recipe, which database where, what the driver said."""
        where = f" at {self.endpoint()}" if self.endpoint() else ""
        said = first_line(err)
        return StepError(
            f"{self.recipe.path}: cannot read {self.service_type} database {database!r}{where}: {said}"
        )

    # --- the walk -----------------------------------------------------------------------

    def iter_results(self) -> Iterator[Result]:
        yield Record(Kind.DATABASE_SERVICE, {"name": self.service, "serviceType": self.service_type})
        for database, engine in self.databases():
            db_fqn = fqn.build(self.service, database)
            if filtered_out(
                self.source_config.databaseFilterPattern,
                db_fqn if self.source_config.useFqnForFiltering else database,
            ):
                self.status.filter(db_fqn, "Database Filtered Out")
                continue
            try:
                with engine.connect() as conn:
                    inspector = sqlalchemy.inspect(conn)
                    schemas = self.schema_names(inspector)
                    yield Record(Kind.DATABASE, {"name": database, "service": fqn.build(self.service)})
                    for schema in schemas:
                        yield from self._schema(inspector, database, schema)
            except sqlalchemy.exc.DBAPIError as err:
                raise self.connection_error(database, err) from None
            finally:
                engine.dispose()

    def _schema(self, inspector: Inspector, database: str, schema: str) -> Iterator[Result]:
        schema_fqn = fqn.build(self.service, database, schema)
        cfg = self.source_config
        if filtered_out(cfg.schemaFilterPattern, schema_fqn if cfg.useFqnForFiltering else schema):
            self.status.filter(schema_fqn, "Schema Filtered Out")
            return
        yield Record(Kind.DATABASE_SCHEMA, {"name": schema, "database": fqn.build(self.service, database)})

        # (schema, table) -> columns unique on their own, for foreign keys' relationship; per schema
        self.unique_cache: dict[tuple[str, str], frozenset[str]] = {}
        names: list[tuple[str, str]] = []
        keep: list[str] = []  # tables the source still has but does not emit this run
        for name, listed_type in self.list_tables(inspector, schema):
            if not (cfg.includeViews if listed_type in VIEW_TYPES else cfg.includeTables):
                keep.append(name)  # still in the source: never marked deleted for being left out
                continue
            try:
                table_fqn = fqn.build(self.service, database, schema, name)
            except fqn.FqnError as err:
                yield Failure(f"{schema_fqn}.{name}", str(err))
                keep.append(name)
                continue
            if filtered_out(cfg.tableFilterPattern, table_fqn if cfg.useFqnForFiltering else name):
                self.status.filter(table_fqn, "Table Filtered Out")
                keep.append(name)
                continue
            names.append((name, listed_type))

        for chunk in chunks(names, CHUNK):
            yield from self._chunk(inspector, database, schema, chunk, keep)
            inspector.info_cache.clear()  # the inspector caches every reflection: keep memory flat
        yield Record(
            Kind.SCHEMA_DONE,
            {
                "databaseSchema": schema_fqn,
                "markDeletedTables": cfg.markDeletedTables,
                "keep": keep,
            },
        )

    def _reflect(self, inspector: Inspector, schema: str, names: list[str]) -> dict[str, dict[str, Any]]:
        """Columns and constraints of many tables in one pass of multi-table reflection.

        Columns are the table: if they fail, the caller isolates the table. Keys, foreign
        keys and comments that cannot be read are a warning naming the tables, which are
        ingested without them.
        """
        kw = {"schema": schema, "filter_names": names, "kind": ObjectKind.ANY}
        optional = {
            "pk": (inspector.get_multi_pk_constraint, "primary keys"),
            "fks": (inspector.get_multi_foreign_keys, "foreign keys"),
            "uniques": (inspector.get_multi_unique_constraints, "unique constraints"),
        }
        if inspector.dialect.supports_comments:
            optional["comment"] = (inspector.get_multi_table_comment, "comments")
        parts = {"columns": inspector.get_multi_columns(**kw)}
        for part, (read, what) in optional.items():
            try:
                parts[part] = read(**kw)
            except Exception as err:
                shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
                self.status.warning(
                    f"{schema}: {shown}",
                    f"{what} could not be read, ingested without them: "
                    f"{type(err).__name__}: {first_line(err)}",
                )
        out: dict[str, dict[str, Any]] = {}
        for part, found in parts.items():
            for (_, name), value in found.items():
                out.setdefault(name, {})[part] = value
        return out

    def _chunk(
        self, inspector: Inspector, database: str, schema: str, chunk: list[tuple[str, str]], keep: list[str]
    ) -> Iterator[Result]:
        """Records for a chunk of tables; a table that fails is a Failure, added to `keep`."""
        try:
            self.prefetch(inspector, schema, [n for n, _ in chunk])
            reflected = self._reflect(inspector, schema, [n for n, _ in chunk])
            pending = [(name, listed, reflected.get(name)) for name, listed in chunk]
        except Exception:  # isolate the table that breaks the chunk
            pending = [(name, listed, None) for name, listed in chunk]
        for name, listed, info in pending:
            table_fqn = fqn.build(self.service, database, schema, name)
            try:
                if info is None:
                    info = self._reflect(inspector, schema, [name]).get(name)
                if info is None or "columns" not in info:
                    raise LookupError("the database returned no columns for it")
                yield Record(Kind.TABLE, self._table(inspector, database, schema, name, listed, info))
            except Exception as err:
                keep.append(name)
                yield Failure(table_fqn, f"cannot read table: {type(err).__name__}: {first_line(err)}")

    def _unique_columns(self, inspector: Inspector, schema: str, table: str) -> frozenset[str]:
        """Columns of a referred table that are unique on their own, read once per schema walk."""
        if (schema, table) not in self.unique_cache:
            try:
                info = self._reflect(inspector, schema, [table]).get(table, {})
            except Exception:  # a referred table we cannot read: its keys are unknown
                info = {}
            self.unique_cache[(schema, table)] = unique_columns(info)
        return self.unique_cache[(schema, table)]

    def _table(
        self, inspector: Inspector, database: str, schema: str, name: str, listed: str, info: dict[str, Any]
    ) -> dict[str, Any]:
        table_fqn = fqn.build(self.service, database, schema, name)
        pk = (info.get("pk") or {}).get("constrained_columns") or []
        uniques = [u["column_names"] for u in info.get("uniques") or []]
        single_unique = {cols[0] for cols in uniques if len(cols) == 1}
        self.unique_cache[(schema, name)] = own_unique = unique_columns(info)
        constraints: list[dict[str, Any]] = []
        if len(pk) > 1:
            constraints.append({"constraintType": "PRIMARY_KEY", "columns": pk})
        constraints += [{"constraintType": "UNIQUE", "columns": cols} for cols in uniques if len(cols) > 1]
        for fk in info.get("fks") or []:
            # SQLAlchemy's None is "the connection's default schema" (PostgreSQL leaves out a
            # schema on the search path, e.g. `public`), not the foreign key's own schema.
            ref_schema = fk.get("referred_schema") or inspector.default_schema_name or schema
            ref_table = fk["referred_table"]
            ref_unique = self._unique_columns(inspector, ref_schema, ref_table)
            constraint = {
                "constraintType": "FOREIGN_KEY",
                "columns": fk["constrained_columns"],
                "referredColumns": [
                    fqn.build(self.service, database, ref_schema, ref_table, col)
                    for col in fk["referred_columns"]
                ],
            }
            constraint["relationshipType"] = relationship(
                fk["constrained_columns"][0] in own_unique, fk["referred_columns"][0] in ref_unique
            )
            constraints.append(constraint)

        columns = []
        for position, col in enumerate(info["columns"], start=1):
            mapped = column_type(col["type"])
            if not mapped.known:
                self.status.warning(
                    f"{table_fqn}.{col['name']}", f"unknown column type {col['type']!r}, ingested as UNKNOWN"
                )
            column: dict[str, Any] = {
                "name": col["name"] or " ",
                "dataType": mapped.data_type,
                "dataTypeDisplay": self.display_type(col["type"], mapped, inspector.dialect),
                "dataLength": mapped.length,
                "ordinalPosition": position,
            }
            if mapped.precision is not None:
                column["precision"], column["scale"] = mapped.precision, mapped.scale
            if mapped.array_type:
                column["arrayDataType"] = mapped.array_type
            if col["name"] in pk:
                if len(pk) == 1:  # a composite key is a table constraint only, as OpenMetadata has it
                    column["constraint"] = "PRIMARY_KEY"
            elif col["name"] in single_unique:
                column["constraint"] = "UNIQUE"
            else:
                column["constraint"] = "NULL" if col.get("nullable", True) else "NOT_NULL"
            if col.get("comment"):
                column["description"] = col["comment"]
            columns.append(column)

        body: dict[str, Any] = {
            "name": name,
            "tableType": listed,
            "columns": columns,
            "tableConstraints": constraints,
            "databaseSchema": fqn.build(self.service, database, schema),
        }
        comment = (info.get("comment") or {}).get("text")
        if comment:
            body["description"] = comment
        body.update(self.table_extras(schema, name))
        if listed in VIEW_TYPES:
            definition = inspector.get_view_definition(name, schema)
            if definition and not definition.lstrip().lower().startswith("create"):
                # some dialects give the query alone: make it DDL, as OpenMetadata does
                definition = f"create view {schema}.{name} as {definition}"
            if definition:
                body["schemaDefinition"] = definition
        return body


def unique_columns(info: dict[str, Any]) -> frozenset[str]:
    """Columns unique on their own: a single-column primary key or unique constraint."""
    pk = (info.get("pk") or {}).get("constrained_columns") or []
    single = {u["column_names"][0] for u in info.get("uniques") or [] if len(u["column_names"]) == 1}
    return frozenset(single | (set(pk) if len(pk) == 1 else set()))


def relationship(unique_here: bool, unique_there: bool) -> str:
    """OpenMetadata's reading of a foreign key: uniqueness of its first column on each side."""
    if unique_here and unique_there:
        return "ONE_TO_ONE"
    if unique_here:
        return "ONE_TO_MANY"
    return "MANY_TO_ONE" if unique_there else "MANY_TO_MANY"
