"""What networked SQL sources share: host, user, password, options, and the engine."""

from typing import Any

import sqlalchemy
from pydantic import SecretStr, field_validator
from sqlalchemy.engine import URL, Dialect, Engine
from sqlalchemy.types import TypeEngine, UserDefinedType

from om_dagster.core.recipe import Legacy, Model
from om_dagster.sources import types
from om_dagster.sources.database import POOL_SIZE, DatabaseConnection
from om_dagster.sources.types import ColumnType


class BasicAuth(Model):
    """`authType` as `common/basicAuth.json`: a password."""

    password: SecretStr | None = None


class ServerConnection(DatabaseConnection):
    """Fields every server connection has (`mysqlConnection.json`, `postgresConnection.json`...)."""

    unsupported = frozenset({"sslConfig", "sampleDataStorageConfig"})
    legacy = {"password": Legacy("moved in 1.1: read as authType.password", successor="authType.password")}

    username: str
    authType: BasicAuth | None = None
    hostPort: str
    connectionOptions: dict[str, str] | None = None
    connectionArguments: dict[str, Any] | None = None
    sslConfig: Any = None
    sampleDataStorageConfig: Any = None

    @field_validator("authType", mode="before")
    @classmethod
    def _only_basic_auth(cls, value: Any) -> Any:
        if isinstance(value, dict) and ({"awsConfig", "azureConfig"} & set(value)):
            raise ValueError("IAM and Azure authentication are not supported yet: use authType.password")
        return value

    @field_validator("hostPort")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"expected host:port (e.g. localhost:5432), got {value!r}")
        return value

    def endpoint(self) -> str:
        return f"{self.hostPort} as {self.username}"

    def engine(self, scheme: str, database: str | None, **connect_args: Any) -> Engine:
        """An engine; the password goes into the URL object only (SQLAlchemy masks it in text)."""
        host, _, port = self.hostPort.rpartition(":")
        password = (
            self.authType.password.get_secret_value() if self.authType and self.authType.password else None
        )
        url = URL.create(
            scheme,
            username=self.username,
            password=password,
            host=host,
            port=int(port),
            database=database,
            query=self.connectionOptions or {},
        )
        args = {**connect_args, **(self.connectionArguments or {})}
        return sqlalchemy.create_engine(url, connect_args=args, pool_pre_ping=False, pool_size=POOL_SIZE)


def native_display(sa_type: TypeEngine, mapped: ColumnType, dialect: Dialect) -> str:
    """The type as the database writes it (`varchar(120)`, `integer[]`), as OpenMetadata shows
    server types; the mapped rendering when the dialect cannot compile it.
    """
    try:
        return sa_type.compile(dialect=dialect).lower().replace(", ", ",")
    except Exception:  # e.g. a type reflected without the arguments it needs to render
        return mapped.display


def named_types(names: dict[str, str]) -> dict[str, type[TypeEngine]]:
    """Reflection types for names a dialect does not know (SQLAlchemy would warn and drop the
    name), each mapped to its OpenMetadata `dataType`.
    """
    made = {
        name: type(
            name.upper(), (UserDefinedType,), {"cache_ok": True, "get_col_spec": lambda self, n=name: n}
        )
        for name in names
    }
    types.register({cls.__name__: names[name] for name, cls in made.items()})
    return made


def teach_types(engine: Engine, extra: dict[str, type[TypeEngine]]) -> None:
    """Let this engine's dialect reflect the `extra` type names."""
    engine.dialect.ischema_names = {**engine.dialect.ischema_names, **extra}
