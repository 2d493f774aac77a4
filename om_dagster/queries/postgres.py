"""`postgres-usage` and `postgres-lineage`: queries from `pg_stat_statements`.

The server needs the extension, loaded at start and created in the recipe's database:

    shared_preload_libraries = 'pg_stat_statements'     (postgresql.conf, then a restart)
    CREATE EXTENSION pg_stat_statements;                 (in the database the recipe names)

and a user that sees every user's statements (a superuser, or `GRANT pg_read_all_stats`).
The statements of the recipe's database are read (of every database when the connection
says `ingestAllDatabases`), with their database and user names (`pg_database`, `pg_roles`);
the schema is not known (the parser looks in `public`, then anywhere). pg_stat_statements
keeps no times: `queryLogDuration` cannot apply. Transaction control, `SET`, `SHOW` and the
like are left out, and so are statements marked as OpenMetadata's own (as OpenMetadata
does). `filterCondition` is added as `AND (<condition>)`, on `s` (pg_stat_statements),
`d` (pg_database) and `u` (the user: `usesysid`, `usename`, as OpenMetadata's pg_user).

Lineage reads every statement, `resultLimit` of them, most calls first, `count` being all
their calls: edges are merged idempotently, so each run may read everything again.

Usage counts the calls of the day. pg_stat_statements' `calls` only grows (per database,
user, statement and nesting level), and the server replaces a day's count with what a run
sends, so each run must send the day's total so far. A JSON state file,
`<stage.config.filename>/.state/postgres-usage-<service>.json`, keeps per statement its
calls at the start of the UTC day (the baseline) and at the last run; a run yields for each
statement `calls - baseline` (none when 0), dated now:

- two runs the same day with nothing in between send the same counts; statements run in
  between add to that day's (and a run whose stage or bulk sink failed loses nothing: the
  next one sends the day's total again);
- the first run of a day takes the calls of the last run before it as the baseline: what
  ran since that run counts for the new day (after days without a run, all on the day of
  the run);
- the first run of all has no state: it counts everything pg_stat_statements holds, dated
  today;
- a statement whose calls went down (reset, or evicted and back) and every statement after
  a full reset (`pg_stat_statements_info.stats_reset`, PostgreSQL 14+) count from 0 again,
  on top of what the day had counted of them (the calls between the last run and the reset
  are lost); a statement pg_stat_statements drops and that does not come back the same day
  takes its calls of the day with it (the state keeps no query texts).

Every statement of the databases read is in the state (filtered out or not, within
`resultLimit` or not, so a statement sent later is never counted from its first call): its
size is bounded by `pg_stat_statements.max`. The rows are streamed (a server-side cursor)
and the state is replaced (written aside, then renamed) once everything is read.

A statement an application read through a cursor is kept as `DECLARE c CURSOR FOR <query>`:
its query is what is yielded.
"""

import json
import os
import re
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import sqlalchemy
from sqlalchemy.engine import Connection

from om_dagster.core.recipe import Recipe
from om_dagster.core.steps import Result, StepError
from om_dagster.openmetadata.client import OpenMetadataClient
from om_dagster.queries.config import SOURCE_CONFIG, QueryConfig, query_config, query_record
from om_dagster.queries.history import DatabaseQueryLog
from om_dagster.sources.postgres import PostgresSource

CONNECTION = "source.serviceConnection.config"
BATCH = 1_000  # rows a fetch
# The server-side cursor's name: pg_stat_statements records DECLARE, FETCH and CLOSE by their
# text, so a name of its own each run (as SQLAlchemy's) would add three entries a run.
CURSOR = "om_dagster_pg_stat_statements"
# Our own statements, marked as OpenMetadata marks its: never usage, here or in OpenMetadata.
MARK = '/* {"app": "OpenMetadata", "client": "om-dagster"} */ '
OPENMETADATA = '/* {"app": "OpenMetadata", %'
DBT = '/* {"app": "dbt", %'
# ... and theirs read through a cursor (`DECLARE c CURSOR FOR /* {"app": ...} */ SELECT ...`)
MARKED_CURSOR = r'^\s*declare\s.*\sfor\s+/\* \{"app": "(OpenMetadata|dbt)", '
# What pg_stat_statements records that reads or writes no table. A cursor's DECLARE names
# its query, which is read (`DECLARE_CURSOR`); its FETCH, MOVE and CLOSE are not.
UTILITY = (
    r"^\s*(begin|start\s+transaction|commit|end|rollback|abort|savepoint|release|prepare\s+transaction"
    r"|set|reset|show|discard|deallocate|listen|unlisten|notify|checkpoint|fetch|move|close)\y"
)
DECLARE_CURSOR = re.compile(
    r"^\s*declare\s.*?\scursor\s+(?:with(?:out)?\s+hold\s+)?for\s+(.*)$", re.IGNORECASE | re.DOTALL
)
EXTENSION = sqlalchemy.text(
    MARK + "SELECT e.extversion, n.nspname FROM pg_catalog.pg_extension e "
    "JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements'"
)
STATEMENTS = """\
SELECT q.dbid, q.userid, q.queryid, q.toplevel, q.calls, q.mean_ms, q.datname, q.usename, q.wanted,
       CASE WHEN q.wanted THEN q.query END
FROM (
  SELECT s.dbid, s.userid, s.queryid, {toplevel} AS toplevel, s.calls, s.{mean} AS mean_ms, s.query,
         d.datname, u.usename,
         COALESCE(s.query !~* :utility AND s.query NOT LIKE :openmetadata AND s.query NOT LIKE :dbt
                  AND s.query !~* :marked_cursor{filters}, false) AS wanted
  FROM {schema}.pg_stat_statements s
  JOIN pg_catalog.pg_database d ON d.oid = s.dbid
  LEFT JOIN (SELECT oid AS usesysid, rolname AS usename FROM pg_catalog.pg_roles) u ON u.usesysid = s.userid
  WHERE {databases} AND s.queryid IS NOT NULL
) q{where}
ORDER BY q.calls DESC{limit}"""
ONE_DATABASE = "d.datname = current_database()"
ALL_DATABASES = "NOT d.datistemplate AND d.datallowconn"
HIDDEN = (
    "SELECT count(*) FROM {schema}.pg_stat_statements(false) s "
    "JOIN pg_catalog.pg_database d ON d.oid = s.dbid WHERE {databases} AND s.queryid IS NULL"
)
STATE_VERSION = 1


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text))


class PostgresQueryLog(DatabaseQueryLog):
    """The statements of pg_stat_statements, each with all its calls (what lineage reads)."""

    type_name: ClassVar[str] = "postgres-query-log"
    source = PostgresSource

    @classmethod
    def config_warnings(cls, recipe: Recipe) -> list[str]:
        if query_config(recipe).queryLogDuration == QueryConfig.model_fields["queryLogDuration"].default:
            return []
        return [
            f"{recipe.path}: {SOURCE_CONFIG}.queryLogDuration: pg_stat_statements keeps no times, "
            "ignored (lineage reads every statement it holds, usage the calls since the day's first run)"
        ]

    @classmethod
    def connection_warnings(cls, recipe: Recipe, connection: Any) -> list[str]:
        warnings = super().connection_warnings(recipe, connection)
        if connection.queryStatementSource not in (None, "", "pg_stat_statements"):
            warnings.append(
                f"{recipe.path}: {CONNECTION}.queryStatementSource: not supported yet, pg_stat_statements "
                "is read"
            )
        return warnings

    def iter_results(self) -> Iterator[Result]:
        database = self.connector.connection.database
        engine = self.connector.engine_for(database)
        driver_error = engine.dialect.loaded_dbapi.Error  # the named cursor is the driver's own
        try:
            with engine.connect() as conn:
                yield from self._read(conn, database)
        except (sqlalchemy.exc.DBAPIError, driver_error) as err:
            raise self.connector.connection_error(database, err) from None
        finally:
            engine.dispose()

    def _read(self, conn: Connection, database: str) -> Iterator[Result]:
        extension = conn.execute(EXTENSION).first()
        if extension is None:
            raise StepError(
                f"{self.recipe.path}: database {database!r} has no pg_stat_statements: set "
                "shared_preload_libraries = 'pg_stat_statements' in postgresql.conf, restart PostgreSQL, "
                f"then CREATE EXTENSION pg_stat_statements in {database!r}"
            )
        extension_version = version(extension[0])
        schema = conn.dialect.identifier_preparer.quote_identifier(extension[1])
        databases = ALL_DATABASES if self.connector.connection.ingestAllDatabases else ONE_DATABASE
        hidden = conn.execute(sqlalchemy.text(MARK + HIDDEN.format(schema=schema, databases=databases)))
        if count := hidden.scalar():
            self.status.warning(
                "pg_stat_statements",
                f"{count} statements of other users are hidden from "
                f"{self.connector.connection.username}: GRANT pg_read_all_stats to it",
            )
        stats_reset = (
            conn.execute(
                sqlalchemy.text(MARK + f"SELECT stats_reset FROM {schema}.pg_stat_statements_info")
            ).scalar()
            if extension_version >= (1, 9)
            else None
        )
        cfg = self.query_config
        statement = sqlalchemy.text(
            MARK
            + STATEMENTS.format(
                toplevel="s.toplevel" if extension_version >= (1, 9) else "true",
                mean="mean_exec_time" if extension_version >= (1, 8) else "mean_time",
                filters=f" AND ({cfg.filterCondition})" if cfg.filterCondition else "",
                schema=schema,
                databases=databases,
                where=self.where,
                limit=self.limit,
            )
        )
        params = {
            "utility": UTILITY,
            "openmetadata": OPENMETADATA,
            "dbt": DBT,
            "marked_cursor": MARKED_CURSOR,
            "limit": cfg.resultLimit or 2**62,
        }
        compiled = statement.compile(dialect=conn.dialect)
        cursor = conn.connection.driver_connection.cursor(name=CURSOR)  # psycopg2's, streamed
        cursor.itersize = BATCH
        try:
            cursor.execute(str(compiled), compiled.construct_params(params))
            yield from self._statements(cursor, stats_reset)
        finally:
            cursor.close()

    #: lineage: the statements wanted, `resultLimit` of them; usage reads them all (its state)
    where: ClassVar[str] = "\nWHERE q.wanted"
    limit: ClassVar[str] = "\nLIMIT :limit"

    def _statements(self, rows: Any, stats_reset: datetime | None) -> Iterator[Result]:
        now = datetime.now(UTC)
        for _dbid, _userid, _queryid, _toplevel, calls, mean_ms, datname, usename, _wanted, text in rows:
            if calls:
                yield self._record(text, datname, usename, now, calls, mean_ms)

    @staticmethod
    def _record(text: str, datname: str, usename: str | None, now: datetime, count: int, mean: Any) -> Result:
        if cursor := DECLARE_CURSOR.match(text):
            text = cursor.group(1)
        return query_record(
            text,
            database=datname,
            user=usename,
            start=now,
            count=int(count),
            duration_ms=float(mean) if mean is not None else None,
        )


class PostgresUsageSource(PostgresQueryLog):
    """The calls of each statement since the start of the UTC day (see the module's notes);
    the first run of all counts everything pg_stat_statements holds, dated today."""

    type_name = "postgres-usage"
    where = ""
    limit = ""

    def __init__(self, config: dict[str, Any], metadata: OpenMetadataClient | None, recipe: Recipe) -> None:
        super().__init__(config, metadata, recipe)
        self.state_path = self.state_file(recipe)

    @classmethod
    def state_file(cls, recipe: Recipe) -> Path:
        """`<stage.config.filename>/.state/postgres-usage-<service>.json`."""
        stage = recipe.workflow.stage
        folder = (stage.config or {}).get("filename") if stage is not None else None
        if not folder:
            raise recipe.error(
                "stage.config.filename",
                "required: postgres-usage keeps the calls it has counted in a state file under it",
            )
        service = re.sub(r"[^A-Za-z0-9._-]", "_", recipe.service_name)
        return Path(folder) / ".state" / f"postgres-usage-{service}.json"

    @classmethod
    def check(cls, recipe: Recipe) -> list[str]:
        cls.state_file(recipe)
        return super().check(recipe)

    def _statements(self, rows: Any, stats_reset: datetime | None) -> Iterator[Result]:
        now = datetime.now(UTC)
        today = now.date().isoformat()
        endpoint = self.connector.connection.hostPort
        old = self._load(endpoint)
        new_day = old.get("day") != today
        reset_at = stats_reset.isoformat() if stats_reset is not None else None
        full_reset = old.get("statsReset") is not None and old.get("statsReset") != reset_at
        before: dict[str, list[int]] = old.get("statements", {})
        after: dict[str, list[int]] = {}
        limit = self.query_config.resultLimit or 2**62
        sent = 0
        for dbid, userid, queryid, toplevel, calls, mean_ms, datname, usename, wanted, text in rows:
            key = f"{dbid}:{userid}:{queryid}:{'t' if toplevel else 'f'}"
            baseline, last = before.get(key, (0, 0))
            if full_reset or calls < last:  # counting restarted: carry what the day counted
                baseline = 0 if new_day else baseline - last
            elif new_day:
                baseline = last
            after[key] = [baseline, calls]
            delta = calls - baseline
            if not wanted or delta <= 0:
                continue
            if sent < limit:
                sent += 1
                yield self._record(text, datname, usename, now, delta, mean_ms)
            elif sent == limit:  # the rest is still read, for the state
                sent += 1
                self.status.warning(
                    "pg_stat_statements",
                    f"resultLimit {limit} reached: the statements of fewer calls left out",
                )
        state = {
            "version": STATE_VERSION,
            "endpoint": endpoint,
            "day": today,
            "statsReset": reset_at,
            "statements": after,
        }
        self._save(state)

    def _load(self, endpoint: str) -> dict[str, Any]:
        """The last run's state; empty on the first run (or for another server)."""
        path = self.state_path
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            raise StepError(
                f"{self.recipe.path}: cannot read the usage state {path}: {err}; remove it to start over "
                "(the next run then counts every call pg_stat_statements holds for today)"
            ) from None
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise StepError(
                f"{self.recipe.path}: {path} is not a postgres-usage state of this version: remove it to "
                "start over (the next run then counts every call pg_stat_statements holds for today)"
            )
        if state.get("endpoint") != endpoint:
            self.status.warning(
                str(path),
                f"kept for {state.get('endpoint')}, the recipe reads {endpoint}: counting starts over",
            )
            return {}
        return state

    def _save(self, state: dict[str, Any]) -> None:
        path = self.state_path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=path.name, suffix=".partial", dir=path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(state, out, separators=(",", ":"))
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temp, path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        except OSError as err:
            raise StepError(f"{self.recipe.path}: cannot write the usage state {path}: {err}") from None
