"""SQLite (`type: sqlite`, connection `SQLite`): a file, or `:memory:`."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import sqlalchemy
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from om_dagster.recipe import FilterPattern, Model
from om_dagster.sources.database import CONNECTION, DatabaseSource
from om_dagster.steps import StepError


class SQLiteConnection(Model):
    """`entity/services/connections/database/sqliteConnection.json`."""

    unsupported = frozenset({"connectionOptions", "sampleDataStorageConfig"})

    type: Literal["SQLite"] = "SQLite"
    scheme: Literal["sqlite+pysqlite"] = "sqlite+pysqlite"
    databaseMode: str = ":memory:"
    database: str | None = None
    connectionArguments: dict[str, Any] | None = None
    connectionOptions: dict[str, str] | None = None
    sampleDataStorageConfig: Any = None
    # Meaningless for an embedded database; accepted as the schema allows them.
    username: str | None = None
    password: SecretStr | None = None
    hostPort: str | None = None
    # Defaults for the OpenMetadata UI and capability flags: no effect on a run.
    schemaFilterPattern: FilterPattern | None = None
    tableFilterPattern: FilterPattern | None = None
    databaseFilterPattern: FilterPattern | None = None
    supportsMetadataExtraction: bool | None = None
    supportsDBTExtraction: bool | None = None
    supportsProfiler: bool | None = None
    supportsQueryComment: bool | None = None
    supportsViewLineageExtraction: bool | None = None


class SqliteSource(DatabaseSource):
    type_name = "sqlite"
    connection_model = SQLiteConnection
    service_type = "SQLite"
    connection: SQLiteConnection

    def databases(self) -> Iterator[tuple[str, Engine]]:
        mode = self.connection.databaseMode
        args = dict(self.connection.connectionArguments or {})
        if mode == ":memory:":
            url = "sqlite+pysqlite:///:memory:"
        else:
            path = Path(mode).expanduser()
            if not path.is_file():
                # sqlite would create an empty file, and markDeletedTables would then
                # soft-delete the whole catalog on the server: refuse instead.
                raise StepError(
                    f"{self.recipe.path}: {CONNECTION}.databaseMode: no SQLite file at "
                    f"{str(path)!r}: give the path of an existing database file"
                )
            url = f"sqlite+pysqlite:///file:{quote(str(path.resolve()))}?mode=ro&uri=true"
        # OpenMetadata's rule for single-database engines: `database`, else "default".
        yield self.connection.database or "default", sqlalchemy.create_engine(url, connect_args=args)
