"""`snowflake-usage` and `snowflake-lineage`: queries from Snowflake's query history.

Reads `<accountUsageSchema>.QUERY_HISTORY` (the connection's `accountUsageSchema`, by default
`SNOWFLAKE.ACCOUNT_USAGE`), which the connection's role must be able to read: `GRANT
IMPORTED PRIVILEGES ON DATABASE SNOWFLAKE TO ROLE <role>` (or the database role
`SNOWFLAKE.GOVERNANCE_VIEWER`). Snowflake fills the view up to 45 minutes late.

Usage counts whole days: the last `queryLogDuration` days before today and today so far,
from midnight UTC, read a day at a time, each day at most `resultLimit` statements in the
order they started (as OpenMetadata reads it). The bulk sink sends each day's count in place
of the server's, so a rerun gives the same counts. Left out by the query itself:

- statements that did not succeed (`EXECUTION_STATUS` other than `SUCCESS`);
- OpenMetadata's and dbt's own, which open with their `/* {"app": ...} */` header (as this
  source's reading of the history does), and om-dagster's other statements (its metadata and
  profiler runs) when the connection sets `queryTag`, by their sessions' `QUERY_TAG`;
- the statement types OpenMetadata leaves out: for usage, session, account and file
  statements and DDL (`USE`, `SHOW`, `DESCRIBE`, `COMMIT`, `CREATE_TABLE`, `COPY`...); for
  lineage, all but those that move data between tables (`INSERT ... SELECT`, `MERGE`,
  `UPDATE`, `CREATE TABLE ... AS SELECT`, ...);
- and what `filterCondition` excludes: it is added as `AND (<condition>)`, on the view's
  columns (`QUERY_TEXT`, `USER_NAME`, `WAREHOUSE_NAME`, `ROLE_NAME`...).

A query's database and schema are `DATABASE_NAME` and `SCHEMA_NAME` as the metadata
workflow names them (the dialect's spelling of a schema, the connection's of its database),
its session `SESSION_ID` (temporary tables are followed within it), its duration
`TOTAL_ELAPSED_TIME` (ms), its time `START_TIME` in UTC. A recipe without a connection (as
OpenMetadata's lineage example) runs on the one the server stores for its service.
"""

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any, ClassVar

import sqlalchemy

from om_dagster.core.recipe import Recipe
from om_dagster.core.steps import Result, StepError, first_line
from om_dagster.openmetadata.client import OpenMetadataClient
from om_dagster.queries.config import query_record
from om_dagster.queries.history import DatabaseQueryLog
from om_dagster.sources.database import CONNECTION
from om_dagster.sources.snowflake import SnowflakeConnection, SnowflakeSource

# Our own statements, marked as OpenMetadata marks its (and as postgres.py marks ours there)
MARK = '/* {"app": "OpenMetadata", "client": "om-dagster"} */ '
HISTORY_QUERY = (
    "SELECT QUERY_TEXT, DATABASE_NAME, SCHEMA_NAME, USER_NAME, START_TIME, END_TIME, "
    "TOTAL_ELAPSED_TIME, SESSION_ID, QUERY_TYPE "
    "FROM {history} "
    "WHERE START_TIME >= TO_TIMESTAMP_LTZ(:since) AND START_TIME < TO_TIMESTAMP_LTZ(:until) "
    "AND EXECUTION_STATUS = 'SUCCESS' "
    'AND QUERY_TEXT NOT LIKE \'/* {{"app": "OpenMetadata", %}} */%\' '
    'AND QUERY_TEXT NOT LIKE \'/* {{"app": "dbt", %}} */%\''
    "{own}{kinds}{filters} "
    "ORDER BY START_TIME LIMIT :limit"
)
# OpenMetadata's choice of statement types (`snowflake/usage.py`, `snowflake/lineage.py`)
USAGE_TYPES = (
    " AND QUERY_TYPE NOT IN ('ROLLBACK', 'CREATE_USER', 'CREATE_ROLE', 'CREATE_NETWORK_POLICY', "
    "'ALTER_ROLE', 'ALTER_NETWORK_POLICY', 'ALTER_ACCOUNT', 'DROP_SEQUENCE', 'DROP_USER', 'DROP_ROLE', "
    "'DROP_NETWORK_POLICY', 'REVOKE', 'UNLOAD', 'USE', 'ALTER_SESSION', 'COPY', 'COMMIT', "
    "'CREATE_TABLE', 'PUT_FILES', 'GET_FILES', 'CREATE_TABLE_AS_SELECT', 'SHOW', 'DESCRIBE')"
)
LINEAGE_TYPES = (
    " AND (QUERY_TYPE IN ('MERGE', 'UPDATE', 'CREATE_TABLE_AS_SELECT', 'COPY', 'UNLOAD')"
    " OR (QUERY_TYPE = 'INSERT' AND QUERY_TEXT ILIKE '%insert%into%select%')"
    " OR (QUERY_TYPE = 'ALTER' AND QUERY_TEXT ILIKE '%alter%table%swap%')"
    " OR (QUERY_TYPE = 'CREATE_TABLE' AND QUERY_TEXT ILIKE '%clone%')"
    " OR (QUERY_TYPE = 'CREATE_VIEW' AND QUERY_TEXT ILIKE '%create%temporary%view%'))"
)
OWN = " AND COALESCE(QUERY_TAG, '') <> :tag"
# a database.schema, each part a plain identifier or a quoted one
ACCOUNT_USAGE = re.compile(r'^(?:[A-Za-z_][\w$]*|"(?:[^"]|"")+")(?:\.(?:[A-Za-z_][\w$]*|"(?:[^"]|"")+"))?$')
BATCH = 1_000


def account_usage_schema(connection: SnowflakeConnection) -> str:
    """The schema holding QUERY_HISTORY, refused unless it is a (database.)schema name."""
    name = connection.accountUsageSchema.strip()
    if not ACCOUNT_USAGE.match(name):
        raise StepError(
            f"{CONNECTION}.accountUsageSchema: {name!r} is not a schema name (like SNOWFLAKE.ACCOUNT_USAGE)"
        )
    return name


class SnowflakeQueryLog(DatabaseQueryLog):
    """The statements of the account's query history since midnight UTC `queryLogDuration`
    days ago."""

    type_name: ClassVar[str] = "snowflake-query-log"
    source = SnowflakeSource

    def __init__(self, config: dict[str, Any], metadata: OpenMetadataClient | None, recipe: Recipe) -> None:
        super().__init__(config, metadata, recipe)
        self.history = f"{account_usage_schema(self.connector.connection)}.QUERY_HISTORY"

    @classmethod
    def connection_warnings(cls, recipe: Recipe, connection: Any) -> list[str]:
        account_usage_schema(connection)
        read_here = f"{CONNECTION}.accountUsageSchema:"  # the metadata source ignores it, not this one
        return [w for w in super().connection_warnings(recipe, connection) if read_here not in w]

    def statement(self) -> sqlalchemy.TextClause:
        cfg = self.query_config
        # a colon in the condition is the condition's (a cast, a time), not a parameter
        filters = f" AND ({cfg.filterCondition.replace(':', chr(92) + ':')})" if cfg.filterCondition else ""
        return sqlalchemy.text(
            MARK
            + HISTORY_QUERY.format(
                history=self.history,
                own=OWN if self.connector.connection.queryTag else "",
                kinds=USAGE_TYPES if self.recipe.workflow_kind == "usage" else LINEAGE_TYPES,
                filters=filters,
            )
        )

    def iter_results(self) -> Iterator[Result]:
        cfg = self.query_config
        connection = self.connector.connection
        today = datetime.now(UTC).date()
        first = datetime.combine(today - timedelta(days=cfg.queryLogDuration), time(), tzinfo=UTC)
        days = [first + timedelta(days=n) for n in range(cfg.queryLogDuration + 1)]
        statement = self.statement()
        engine = self.connector.engine_for(connection.database)
        try:
            with engine.connect() as conn:
                for day in days:
                    parameters: dict[str, Any] = {
                        "since": int(day.timestamp()),  # epoch seconds: the same instant in any time zone
                        "until": int((day + timedelta(days=1)).timestamp()),
                        "limit": cfg.resultLimit or 2**62,
                    }
                    if connection.queryTag:
                        parameters["tag"] = connection.queryTag
                    rows = conn.execution_options(yield_per=BATCH).execute(statement, parameters)
                    for text, database, schema, user, start, end, elapsed, session, _ in rows:
                        if not text or not text.strip():
                            continue
                        yield query_record(
                            text,
                            database=self._database(database),
                            schema=engine.dialect.normalize_name(schema) if schema else None,
                            user=user,
                            start=start,
                            duration_ms=_duration(start, end, elapsed),
                            session=None if session is None else f"{session}",
                        )
        except sqlalchemy.exc.SQLAlchemyError as err:
            raise StepError(
                f"{self.recipe.path}: cannot read {self.history} ({first_line(err)}): the connection's "
                "role needs IMPORTED PRIVILEGES on the SNOWFLAKE database (or its GOVERNANCE_VIEWER role)"
            ) from None
        finally:
            engine.dispose()

    def _database(self, name: str | None) -> str | None:
        """The database as the metadata workflow names it: the connection's spelling of its
        own database (`shop` for SHOP), the history's of any other; the connection's database
        when the statement ran in none (as OpenMetadata does)."""
        configured = self.connector.connection.database
        if not name:
            return configured
        if configured and name.upper() == configured.upper():
            return configured
        return name


def _duration(start: datetime | None, end: datetime | None, elapsed: Any) -> float | None:
    if elapsed is not None:
        return float(elapsed)
    if start is not None and end is not None:
        return (end - start).total_seconds() * 1000
    return None


class SnowflakeUsageSource(SnowflakeQueryLog):
    type_name = "snowflake-usage"
