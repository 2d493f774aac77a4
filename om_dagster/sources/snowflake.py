"""Snowflake (`type: snowflake`, connection `Snowflake`).

Needs the `snowflake` extra (snowflake-sqlalchemy), installed apart from the rest:
its pins (SQLAlchemy < 2.1, snowflake-connector-python < 5) must not hold the project
back, so the driver is imported only when a Snowflake run starts.
"""

from collections.abc import Iterator
from typing import Any, Literal

import sqlalchemy
from pydantic import SecretStr
from sqlalchemy.engine import URL, Engine

from om_dagster.core.steps import StepError
from om_dagster.sources import types
from om_dagster.sources.database import CONNECTION, POOL_SIZE, DatabaseConnection, DatabaseSource
from om_dagster.sources.server import native_display

# snowflake-sqlalchemy's type classes -> OpenMetadata dataType (generic names are in types.py).
types.register(
    {
        "VARIANT": "VARIANT",
        "OBJECT": "JSON",
        "ARRAY": "ARRAY",
        "GEOGRAPHY": "GEOGRAPHY",
        "GEOMETRY": "GEOMETRY",
        "TIMESTAMP_TZ": "TIMESTAMPZ",
        "TIMESTAMP_LTZ": "TIMESTAMPZ",
        "TIMESTAMP_NTZ": "TIMESTAMP",
        "BYTEINT": "BYTEINT",
        "FIXED": "FIXED",
        "DECFLOAT": "DECIMAL",
        "VECTOR": "ARRAY",
        "MAP": "MAP",
    }
)


class SnowflakeConnection(DatabaseConnection):
    """`entity/services/connections/database/snowflakeConnection.json`."""

    unsupported = frozenset(
        {
            "includeStreams",
            "includeStages",
            "clientSessionKeepAlive",
            "sampleDataStorageConfig",
            "accountUsageSchema",
        }
    )

    type: Literal["Snowflake"] = "Snowflake"
    scheme: Literal["snowflake"] = "snowflake"
    username: str
    password: SecretStr | None = None
    account: str
    role: str | None = None
    database: str | None = None
    warehouse: str
    queryTag: str | None = None
    privateKey: SecretStr | None = None
    snowflakePrivatekeyPassphrase: SecretStr | None = None
    includeTransientTables: bool = True
    includeStreams: bool = False
    includeStages: bool = False
    clientSessionKeepAlive: bool = False
    connectionOptions: dict[str, str] | None = None
    connectionArguments: dict[str, Any] | None = None
    accountUsageSchema: str = "SNOWFLAKE.ACCOUNT_USAGE"
    sampleDataStorageConfig: Any = None
    # For usage and cost reports, UI defaults and capability flags: no effect on metadata.
    creditCost: float | None = None
    snowflakeSourceHost: str | None = None


class SnowflakeSource(DatabaseSource):
    type_name = "snowflake"
    connection_model = SnowflakeConnection
    service_type = "Snowflake"
    connection: SnowflakeConnection

    def engine_for(self, database: str | None) -> Engine:
        return self._engine(database)

    def _engine(self, database: str | None) -> Engine:
        try:
            import snowflake.sqlalchemy  # noqa: F401  (registers the dialect)
        except ImportError:
            raise StepError(
                f"{self.recipe.path}: source.type: snowflake needs the driver: "
                "pip install 'om-dagster[snowflake]' (in its own environment)"
            ) from None
        c = self.connection
        query = {k: v for k, v in {"warehouse": c.warehouse, "role": c.role}.items() if v}
        args: dict[str, Any] = {"session_parameters": {"QUERY_TAG": c.queryTag}} if c.queryTag else {}
        if c.password is None and c.privateKey is not None:
            args["private_key"] = private_key_der(c.privateKey, c.snowflakePrivatekeyPassphrase)
        url = URL.create(
            "snowflake",
            username=c.username,
            password=c.password.get_secret_value() if c.password else None,
            host=c.account,
            database=database,
            query={**query, **(c.connectionOptions or {})},
        )
        engine = sqlalchemy.create_engine(
            url, connect_args={**args, **(c.connectionArguments or {})}, pool_size=POOL_SIZE
        )
        engine.dialect.normalize_name = as_stored  # type: ignore[method-assign]
        return engine

    def databases(self) -> Iterator[tuple[str, Engine]]:
        if self.connection.database:
            yield self.connection.database, self._engine(self.connection.database)
            return
        first = self._engine(None)
        try:
            with first.connect() as conn:  # no inspector call lists databases
                names = [row[1] for row in conn.execute(sqlalchemy.text("SHOW DATABASES"))]
        except sqlalchemy.exc.DBAPIError as err:
            raise self.connection_error("(all)", err) from None
        finally:
            first.dispose()
        for name in names:
            yield name, self._engine(name)

    def endpoint(self) -> str:
        return f"account {self.connection.account} as {self.connection.username}"

    def display_type(self, sa_type: Any, mapped: types.ColumnType, dialect: Any) -> str:
        return native_display(sa_type, mapped, dialect)


def as_stored(name: str | None) -> str | None:
    """A name as Snowflake stores it (`ORDERS`), not as SQLAlchemy lower-cases it (`orders`):
    OpenMetadata's Snowflake connector keeps them so, and the same catalog must get the same
    FQNs from either client. The dialect then quotes the upper-case names it is given, which
    Snowflake reads as the names it stores."""
    return name


def private_key_der(key: SecretStr, passphrase: SecretStr | None) -> bytes:
    """The PEM private key as the connector takes it (DER, unencrypted in memory)."""
    from cryptography.hazmat.primitives import serialization

    try:
        loaded = serialization.load_pem_private_key(
            key.get_secret_value().encode(), passphrase.get_secret_value().encode() if passphrase else None
        )
    except (ValueError, TypeError) as err:
        raise StepError(
            f"{CONNECTION}.privateKey: not a PEM private key this passphrase opens ({err})"
        ) from None
    return loaded.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
