"""PostgreSQL (`type: postgres`, connection `Postgres`)."""

from collections.abc import Iterator
from typing import Literal

import sqlalchemy
from sqlalchemy.engine import Engine, Inspector

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


PARTITIONED = sqlalchemy.text(
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = :schema AND c.relkind = 'p'"
)


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
        # SQLAlchemy lists partitioned tables with the others and reflects no partitioning: ask.
        partitioned = set(inspector.bind.execute(PARTITIONED, {"schema": schema}).scalars())
        return [
            *(
                (n, "Partitioned" if n in partitioned else "Regular")
                for n in inspector.get_table_names(schema)
            ),
            *((n, "View") for n in inspector.get_view_names(schema)),
            *((n, "MaterializedView") for n in inspector.get_materialized_view_names(schema)),
            *((n, "Foreign") for n in inspector.get_foreign_table_names(schema)),
        ]

    def endpoint(self) -> str:
        return self.connection.endpoint()

    display_type = staticmethod(native_display)
