"""What AWS sources share: `awsConfig`, a boto3 session from it, and the walk's skeleton.

Credentials come from the recipe's `awsConfig` field by field, then from the `aws`
resource (dagster-aws), then from boto3's default chain (environment, profile, role).
`assumeRoleArn` goes through STS. Keys never leave the session: not in records, errors
or logs.
"""

from abc import abstractmethod
from collections.abc import Iterator
from typing import Any, ClassVar

import boto3
import botocore.exceptions
from pydantic import SecretStr

from om_dagster.core.recipe import Legacy, Model, Recipe
from om_dagster.core.steps import Failure, Kind, Record, Result, StepError
from om_dagster.openmetadata import fqn
from om_dagster.openmetadata.client import OpenMetadataClient
from om_dagster.sources.database import CONNECTION, DatabaseConnection, MetadataSource, filtered_out


class AwsConfig(Model):
    """`security/credentials/awsCredentials.json`."""

    unsupported = frozenset({"assumeRoleSourceIdentity", "enabled"})

    awsAccessKeyId: str | None = None
    awsSecretAccessKey: SecretStr | None = None
    awsSessionToken: SecretStr | None = None
    awsRegion: str | None = None
    endPointURL: str | None = None
    profileName: str | None = None
    assumeRoleArn: str | None = None
    assumeRoleSessionName: str = "OpenMetadataSession"
    assumeRoleSourceIdentity: str | None = None
    enabled: bool | None = None


class AwsConnection(DatabaseConnection):
    """Fields Glue and DynamoDB connections share."""

    unsupported = frozenset({"connectionOptions", "connectionArguments"})
    legacy = {
        "database": Legacy(
            "renamed databaseName (the database's name in OpenMetadata): read as databaseName",
            successor="databaseName",
        )
    }

    awsConfig: AwsConfig
    databaseName: str | None = None
    connectionOptions: dict[str, str] | None = None
    connectionArguments: dict[str, Any] | None = None


def session(aws: AwsConfig, defaults: dict[str, Any]) -> tuple[boto3.Session, str | None]:
    """A boto3 session and endpoint: the recipe's values, else the resource's, else boto3's."""
    given = {k: v for k, v in aws.model_dump().items() if v is not None}
    merged = {**defaults, **given}

    def secret(key: str) -> str | None:
        value = merged.get(key)
        return value.get_secret_value() if isinstance(value, SecretStr) else value

    base = boto3.Session(
        aws_access_key_id=merged.get("awsAccessKeyId"),
        aws_secret_access_key=secret("awsSecretAccessKey"),
        aws_session_token=secret("awsSessionToken"),
        region_name=merged.get("awsRegion"),
        profile_name=merged.get("profileName"),
    )
    endpoint = merged.get("endPointURL")
    if not aws.assumeRoleArn:
        return base, endpoint
    role = base.client("sts", endpoint_url=endpoint).assume_role(
        RoleArn=aws.assumeRoleArn, RoleSessionName=aws.assumeRoleSessionName
    )["Credentials"]
    assumed = boto3.Session(
        aws_access_key_id=role["AccessKeyId"],
        aws_secret_access_key=role["SecretAccessKey"],
        aws_session_token=role["SessionToken"],
        region_name=base.region_name,
    )
    return assumed, endpoint


class AwsSource(MetadataSource):
    """A source over a boto3 client: one database, schemas, tables, with OpenMetadata's filters."""

    uses_aws = True
    connection: AwsConnection
    #: The boto3 service name.
    client_name: ClassVar[str]

    def __init__(self, config: dict[str, Any], metadata: OpenMetadataClient | None, recipe: Recipe) -> None:
        super().__init__(config, metadata, recipe)
        try:
            boto, endpoint = session(self.connection.awsConfig, recipe.aws_defaults)
            self.client = boto.client(self.client_name, endpoint_url=endpoint)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
            raise StepError(f"{recipe.path}: {CONNECTION}.awsConfig: {self._say(err)}") from None

    @staticmethod
    def _say(err: Exception) -> str:
        """botocore's message, which names the call and the error code, never a key."""
        return str(err).splitlines()[0]

    def aws_call_failed(self, what: str, err: Exception) -> StepError:
        return StepError(f"{self.recipe.path}: {self.service_type}: {what} failed: {self._say(err)}")

    # --- the walk -----------------------------------------------------------------------

    def databases(self) -> Iterator[str]:
        yield self.connection.databaseName or "default"

    def schemas(self, database: str) -> Iterator[str]:
        yield "default"

    @abstractmethod
    def tables(self, schema: str) -> Iterator[tuple[str, Any]]:
        """(name, whatever `table()` needs) for each table of a schema that the run includes;
        excluded ones (e.g. views with includeViews off) as (name, None)."""

    @abstractmethod
    def table(self, schema_fqn: str, name: str, item: Any) -> dict[str, Any]:
        """The create request of one table."""

    def iter_results(self) -> Iterator[Result]:
        cfg = self.source_config
        yield Record(Kind.DATABASE_SERVICE, {"name": self.service, "serviceType": self.service_type})
        try:
            for database in self.databases():
                db_fqn = fqn.build(self.service, database)
                if filtered_out(cfg.databaseFilterPattern, db_fqn if cfg.useFqnForFiltering else database):
                    self.status.filter(db_fqn, "Database Filtered Out")
                    continue
                yield Record(Kind.DATABASE, {"name": database, "service": fqn.build(self.service)})
                for schema in self.schemas(database):
                    yield from self._schema(database, schema)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
            raise self.aws_call_failed("listing", err) from None

    def _schema(self, database: str, schema: str) -> Iterator[Result]:
        cfg = self.source_config
        schema_fqn = fqn.build(self.service, database, schema)
        if filtered_out(cfg.schemaFilterPattern, schema_fqn if cfg.useFqnForFiltering else schema):
            self.status.filter(schema_fqn, "Schema Filtered Out")
            return
        yield Record(Kind.DATABASE_SCHEMA, {"name": schema, "database": fqn.build(self.service, database)})
        keep: list[str] = []
        for name, item in self.tables(schema):
            try:
                table_fqn = fqn.build(self.service, database, schema, name)
            except fqn.FqnError as err:
                keep.append(name)
                yield Failure(f"{schema_fqn}.{name}", str(err))
                continue
            if item is None or filtered_out(
                cfg.tableFilterPattern, table_fqn if cfg.useFqnForFiltering else name
            ):
                if item is not None:
                    self.status.filter(table_fqn, "Table Filtered Out")
                keep.append(name)
                continue
            try:
                yield Record(Kind.TABLE, self.table(schema_fqn, name, item))
            except Exception as err:
                keep.append(name)
                yield Failure(table_fqn, f"cannot read table: {type(err).__name__}: {self._say(err)}")
        yield Record(
            Kind.SCHEMA_DONE,
            {"databaseSchema": schema_fqn, "markDeletedTables": cfg.markDeletedTables, "keep": keep},
        )
