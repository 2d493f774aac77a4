"""`mysql-usage` and `mysql-lineage`: queries from a MySQL or MariaDB server's general log.

The server settings it needs (MariaDB and MySQL alike), in the server's configuration or at
run time by an administrator:

    general_log = ON          (SET GLOBAL general_log = 1)
    log_output  = TABLE       (SET GLOBAL log_output = 'TABLE'; 'FILE,TABLE' keeps the file too)

and a user that may read `mysql.general_log` (`GRANT SELECT ON mysql.general_log TO ...`).
The log table has no database column: each connection's database is followed through the
log (its `Connect ... on <db>` and `Init DB` lines, and `USE <db>`), so a query names the
database it ran in, which OpenMetadata files as the schema. Times are read in UTC.

Usage counts whole days: the last `queryLogDuration` days before today and today so far,
from midnight UTC. The bulk sink sends each day's count in place of the server's, so a
rerun gives the same counts, and today's grows as the day goes on. `resultLimit` bounds
the rows read, `filterCondition` is added to the query's conditions, as in OpenMetadata.
"""

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import ClassVar

import sqlalchemy

from om_dagster.core.steps import Result, StepError, first_line
from om_dagster.queries.config import query_record
from om_dagster.queries.history import DatabaseQueryLog
from om_dagster.sources.mysql import MysqlSource

LOG_QUERY = (
    "SELECT event_time, user_host, thread_id, command_type, CAST(argument AS CHAR) "
    "FROM mysql.general_log WHERE event_time >= :since "
    "AND command_type IN ('Connect', 'Init DB', 'Query'){filters} ORDER BY event_time, thread_id LIMIT :limit"
)
CONNECT_DB = re.compile(r"\son\s+(\S+)")
USE = re.compile(r"^\s*use\s+`?([^`;\s]+)`?\s*;?\s*$", re.IGNORECASE)
SKIPPED = re.compile(r"^\s*(set|show|select\s+@@|commit|rollback|begin|start\s+transaction)\b", re.IGNORECASE)
BATCH = 1_000


class MysqlQueryLog(DatabaseQueryLog):
    """The queries of the server's general log since midnight UTC `queryLogDuration` days ago."""

    type_name: ClassVar[str] = "mysql-query-log"
    source = MysqlSource

    def iter_results(self) -> Iterator[Result]:
        cfg = self.query_config
        today = datetime.now(UTC).date()
        since = datetime.combine(today - timedelta(days=cfg.queryLogDuration), time(), tzinfo=UTC)
        filters = f" AND ({cfg.filterCondition})" if cfg.filterCondition else ""
        statement = sqlalchemy.text(LOG_QUERY.format(filters=filters))
        [(_, engine)] = list(self.connector.databases())
        databases: dict[int, str] = {}  # connection (thread) -> its database
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SET time_zone = '+00:00'")
                rows = conn.execution_options(yield_per=BATCH).execute(
                    statement, {"since": since.replace(tzinfo=None), "limit": cfg.resultLimit or 2**62}
                )
                for when, user_host, thread, command, argument in rows:
                    if command == "Connect":
                        if found := CONNECT_DB.search(argument or ""):
                            databases[thread] = found.group(1)
                    elif command == "Init DB":
                        databases[thread] = argument
                    elif used := USE.match(argument or ""):
                        databases[thread] = used.group(1)
                    elif argument and not SKIPPED.match(argument):
                        yield query_record(
                            argument,
                            database=databases.get(thread),
                            user=(user_host or "").split("[", 1)[0].strip() or None,
                            start=when.replace(tzinfo=UTC),
                            session=f"{thread}",
                        )
        except sqlalchemy.exc.SQLAlchemyError as err:
            raise StepError(
                f"{self.recipe.path}: cannot read mysql.general_log ({first_line(err)}): the server "
                "needs general_log = ON and log_output = TABLE, and the user SELECT on mysql.general_log"
            ) from None
        finally:
            engine.dispose()


class MysqlUsageSource(MysqlQueryLog):
    type_name = "mysql-usage"
