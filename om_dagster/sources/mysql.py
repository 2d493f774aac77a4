"""MySQL and MariaDB (`type: mysql`, connection `Mysql`).

MySQL has no catalog level: OpenMetadata files its schemas under one database named
`databaseName` (default "default"), and `databaseSchema` narrows the run to one schema.
"""

from collections.abc import Iterator
from typing import Any, Literal

from sqlalchemy.engine import Engine, Inspector

from om_dagster.core.recipe import Legacy
from om_dagster.sources import types
from om_dagster.sources.database import DatabaseSource
from om_dagster.sources.server import ServerConnection, named_types, teach_types
from om_dagster.sources.types import ColumnType

types.register({"LONGTEXT": "TEXT", "TINYTEXT": "TEXT", "MEDIUMINT": "INT", "YEAR": "YEAR"})
# Spatial types SQLAlchemy's MySQL dialect does not reflect.
EXTRA_TYPES = named_types(
    {
        "geometry": "GEOMETRY",
        "point": "POINT",
        "linestring": "GEOMETRY",
        "polygon": "POLYGON",
        "multipoint": "GEOMETRY",
        "multilinestring": "GEOMETRY",
        "multipolygon": "POLYGON",
        "geometrycollection": "GEOMETRY",
        "geomcollection": "GEOMETRY",
    }
)


class MysqlConnection(ServerConnection):
    """`entity/services/connections/database/mysqlConnection.json`."""

    unsupported = ServerConnection.unsupported | {"useSlowLogs"}
    legacy = ServerConnection.legacy | {
        "database": Legacy("renamed databaseSchema in 0.11: read as databaseSchema", "databaseSchema")
    }

    type: Literal["Mysql"] = "Mysql"
    scheme: Literal["mysql+pymysql"] = "mysql+pymysql"
    databaseName: str | None = None
    databaseSchema: str | None = None
    useSlowLogs: bool = False


class MysqlSource(DatabaseSource):
    type_name = "mysql"
    connection_model = MysqlConnection
    service_type = "Mysql"
    connection: MysqlConnection

    def databases(self) -> Iterator[tuple[str, Engine]]:
        engine = self.connection.engine(self.connection.scheme, self.connection.databaseSchema)
        teach_types(engine, EXTRA_TYPES)
        yield self.connection.databaseName or "default", engine

    def schema_names(self, inspector: Inspector) -> list[str]:
        if self.connection.databaseSchema:
            return [self.connection.databaseSchema]
        return inspector.get_schema_names()

    def endpoint(self) -> str:
        return self.connection.endpoint()

    def display_type(self, sa_type: Any, mapped: ColumnType, dialect: Any) -> str:
        # OpenMetadata shows MySQL types in lower case, without integer display widths
        return mapped.display.lower()
