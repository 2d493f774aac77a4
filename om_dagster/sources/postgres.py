"""PostgreSQL (`type: postgres`, connection `Postgres`)."""

from collections.abc import Iterator
from typing import Any, Literal

import sqlalchemy
from sqlalchemy.engine import Engine, Inspector

from om_dagster.core.recipe import Recipe
from om_dagster.openmetadata.client import OpenMetadataClient
from om_dagster.sources import types
from om_dagster.sources.database import DatabaseSource
from om_dagster.sources.server import ServerConnection, named_types, native_display, teach_types

# PostgreSQL types by SQLAlchemy class name -> OpenMetadata dataType (generic names are in types.py).
types.register(
    {
        "INET": "INET",
        "CIDR": "CIDR",
        "MACADDR": "MACADDR",
        "MACADDR8": "MACADDR",
        "MONEY": "MONEY",
        "TSVECTOR": "TSVECTOR",
        "TSQUERY": "TSQUERY",
        "OID": "INT",
        "REGCLASS": "STRING",
        "REGCONFIG": "STRING",
        "HSTORE": "MAP",
        "CITEXT": "TEXT",
        "JSONPATH": "STRING",
        "DOMAIN": "UNKNOWN",
        "INT4RANGE": "UNKNOWN",
        "INT8RANGE": "UNKNOWN",
        "NUMRANGE": "UNKNOWN",
        "DATERANGE": "UNKNOWN",
        "TSRANGE": "UNKNOWN",
        "TSTZRANGE": "UNKNOWN",
    }
)
# Names SQLAlchemy's PostgreSQL dialect does not reflect (PostGIS's among them).
EXTRA_TYPES = named_types(
    {
        "xml": "XML",
        "pg_lsn": "PG_LSN",
        "pg_snapshot": "PG_SNAPSHOT",
        "txid_snapshot": "TXID_SNAPSHOT",
        "point": "POINT",
        "polygon": "POLYGON",
        "line": "GEOMETRY",
        "lseg": "GEOMETRY",
        "box": "GEOMETRY",
        "path": "GEOMETRY",
        "circle": "GEOMETRY",
        "geometry": "GEOMETRY",
        "geography": "GEOGRAPHY",
    }
)


# Tables of a schema with their kind, as OpenMetadata lists them: the partitions of a
# partitioned table are not tables of their own (a table with daily partitions would put
# thousands in the catalog); its parent is, as `Partitioned`.
RELATIONS = sqlalchemy.text(
    "SELECT c.relname, c.relkind FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'f', 'v', 'm') AND NOT c.relispartition "
    "ORDER BY c.relname"
)
RELKIND = {"r": "Regular", "p": "Partitioned", "f": "Foreign", "v": "View", "m": "MaterializedView"}
# Partition keys of the partitioned tables of a schema, in key order (an expression key has no column).
PARTITION_KEYS = sqlalchemy.text(
    "SELECT c.relname, p.partstrat, a.attname "
    "FROM pg_catalog.pg_partitioned_table p "
    "JOIN pg_catalog.pg_class c ON c.oid = p.partrelid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "CROSS JOIN LATERAL unnest(p.partattrs::int2[]) WITH ORDINALITY AS k(attnum, position) "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum AND NOT a.attisdropped "
    "WHERE n.nspname = :schema ORDER BY c.relname, k.position"
)
# `partstrat` -> `table.json#/definitions/partitionIntervalTypes`, as OpenMetadata's connector maps it.
INTERVAL_TYPES = {"r": "TIME-UNIT", "l": "COLUMN-VALUE", "h": "COLUMN-VALUE"}


class PostgresConnection(ServerConnection):
    """`entity/services/connections/database/postgresConnection.json`."""

    type: Literal["Postgres"] = "Postgres"
    scheme: Literal["postgresql+psycopg2"] = "postgresql+psycopg2"
    database: str
    ingestAllDatabases: bool = False
    sslMode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = None
    # For usage, lineage and tag workflows: no effect on metadata.
    classificationName: str | None = None
    queryStatementSource: str | None = None


class PostgresSource(DatabaseSource):
    type_name = "postgres"
    connection_model = PostgresConnection
    service_type = "Postgres"
    connection: PostgresConnection

    def __init__(self, config: dict[str, Any], metadata: OpenMetadataClient | None, recipe: Recipe) -> None:
        super().__init__(config, metadata, recipe)
        self.partitions: dict[str, list[dict[str, str]]] = {}  # partition keys of the current schema

    def engine_for(self, database: str) -> Engine:
        return self._engine(database)

    def _engine(self, database: str) -> Engine:
        args = {"sslmode": self.connection.sslMode} if self.connection.sslMode else {}
        engine = self.connection.engine(self.connection.scheme, database, **args)
        teach_types(engine, EXTRA_TYPES)
        return engine

    def databases(self) -> Iterator[tuple[str, Engine]]:
        if not self.connection.ingestAllDatabases:
            yield self.connection.database, self._engine(self.connection.database)
            return
        first = self._engine(self.connection.database)
        # No inspector call lists databases: ask the catalog, as OpenMetadata does.
        query = (
            "SELECT datname FROM pg_catalog.pg_database WHERE NOT datistemplate AND datallowconn ORDER BY 1"
        )
        try:
            with first.connect() as conn:
                names = list(conn.execute(sqlalchemy.text(query)).scalars())
        except sqlalchemy.exc.DBAPIError as err:
            raise self.connection_error(self.connection.database, err) from None
        finally:
            first.dispose()
        for name in names:
            yield name, self._engine(name)

    def list_tables(self, inspector: Inspector, schema: str) -> list[tuple[str, str]]:
        # SQLAlchemy lists partitions as tables and reflects no partitioning: ask the catalog.
        bind = inspector.bind
        self.partitions = {}
        for table, strategy, column in bind.execute(PARTITION_KEYS, {"schema": schema}):
            self.partitions.setdefault(table, []).append(
                {"columnName": column, "intervalType": INTERVAL_TYPES.get(strategy, "COLUMN-VALUE")}
            )
        return [(name, RELKIND[kind]) for name, kind in bind.execute(RELATIONS, {"schema": schema})]

    def table_extras(self, schema: str, name: str) -> dict[str, Any]:
        keys = self.partitions.get(name)
        return {"tablePartition": {"columns": keys}} if keys else {}

    def endpoint(self) -> str:
        return self.connection.endpoint()

    display_type = staticmethod(native_display)
