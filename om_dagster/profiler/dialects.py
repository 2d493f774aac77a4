"""What the profiler's SQL needs from each database, and nothing else.

A dialect says how to measure string lengths in characters, sum without overflow, take a
standard deviation, compute quartiles (inline as an ordered-set aggregate, or by row
position after the counts are known), draw a sample into a temporary table, and bound a
statement in time so the server itself cancels it.
"""

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import sqlalchemy
from sqlalchemy import func, literal_column
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from om_dagster.core.steps import first_line

QUARTILES = (0.25, 0.5, 0.75)


class StatementTimeout(Exception):
    """The database cancelled a statement that outlived its budget."""


class Dialect:
    """SQL-92 plus window functions: what PostgreSQL, MySQL/MariaDB, SQLite and Snowflake share."""

    name: ClassVar[str] = "default"
    #: quartiles as `percentile_cont(q) WITHIN GROUP (ORDER BY c)` in the fused aggregate
    inline_percentiles: ClassVar[bool] = False
    #: why the database would not take a statement time limit (then `timeoutSeconds` is not enforced)
    unbounded: str | None = None

    def char_length(self, column: ColumnElement) -> ColumnElement:
        return func.char_length(column)

    def total(self, column: ColumnElement) -> ColumnElement:
        """A sum that neither truncates nor overflows (PostgreSQL and MySQL widen integers)."""
        return func.sum(column)

    def stddev(self, column: ColumnElement) -> list[ColumnElement]:
        """Expressions whose values `stddev_from` turns into the population standard deviation."""
        return [func.stddev_pop(column)]

    def stddev_from(self, values: list[Any]) -> float | None:
        return None if values[0] is None else float(values[0])

    def percentiles(self, column: ColumnElement) -> list[ColumnElement]:
        return [func.percentile_cont(literal_column(str(q))).within_group(column) for q in QUARTILES]

    def random_order(self) -> ColumnElement:
        return func.random()

    def regexp(self, column: ColumnElement, pattern: str) -> ColumnElement:
        """Whether the value matches `pattern` (SQLAlchemy's dialect operator; SQLite's is
        the Python function SQLAlchemy registers)."""
        return column.regexp_match(pattern)

    def floor(self, value: ColumnElement) -> ColumnElement:
        return func.floor(value)

    def percentage_sample(self, table: Any, percent: float, method: str | None) -> Any:
        """`SELECT *` of about `percent` % of the rows."""
        return (
            sqlalchemy.select(literal_column("*"))
            .select_from(table)
            .where(func.random() * 100 < literal_column(repr(percent)))
        )

    #: the catalog query giving a table's size in bytes and creation time, by :schema and
    #: :table (and after them what `distinctness` reads of the catalog's statistics)
    facts_query: ClassVar[str | None] = None

    def bytewise(self, column: ColumnElement) -> ColumnElement:
        """A string column compared byte by byte."""
        return column.collate("C")

    def table_facts(
        self, conn: Connection, schema: str | None, table: str
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """`sizeInByte` and `createDateTime` where the dialect's catalog tells (one query),
        and what the catalog's statistics expect of each column's values: `unique` or `few`
        (a hint to pick the cheaper exact method, never an answer)."""
        if self.facts_query is None:
            return {}, {}
        try:
            row = conn.execute(sqlalchemy.text(self.facts_query), {"schema": schema, "table": table}).first()
        except sqlalchemy.exc.DBAPIError:
            conn.rollback()  # a catalog the account may not read: the profile goes on without
            return {}, {}
        if row is None:
            return {}, {}
        size, created, *statistics = row
        facts: dict[str, Any] = {"sizeInByte": float(size)} if size is not None else {}
        if created is not None and hasattr(created, "isoformat"):
            facts["createDateTime"] = created.isoformat()
        return facts, self.distinctness(*statistics)

    def distinctness(self, *statistics: Any) -> dict[str, str]:
        """What the facts query's last columns say of each column's values."""
        return {}

    def create_temp(self, conn: Connection, name: str, select: Any) -> None:
        compiled = select.compile(conn, compile_kwargs={"literal_binds": True})
        conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {self.quote(conn, name)} AS {compiled}")

    def drop_temp(self, conn: Connection, name: str) -> None:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self.quote(conn, name)}")

    @staticmethod
    def quote(conn: Connection, name: str) -> str:
        return conn.dialect.identifier_preparer.quote(name)

    @contextmanager
    def timeout(self, conn: Connection, seconds: float) -> Iterator[None]:
        """Run the block's statements under a server-side limit of `seconds` each."""
        yield

    def prepare(self, dbapi_connection: Any, record: Any = None) -> None:
        """Set up each new connection of the profiler's engine (its `connect` event)."""

    def timed_out(self, err: Exception) -> bool:
        return False


class PostgresDialect(Dialect):
    """Ordered-set aggregates inline; `statement_timeout` cancels on the server."""

    name = "postgresql"
    inline_percentiles = True
    facts_query = (
        "SELECT pg_total_relation_size(c.oid), NULL, c.reltuples, "
        "(SELECT json_object_agg(s.attname, s.n_distinct) FROM pg_catalog.pg_stats s "
        "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = s.attname "
        "LEFT JOIN pg_catalog.pg_collation l ON l.oid = a.attcollation "
        "WHERE s.schemaname = n.nspname AND s.tablename = c.relname "
        "AND (l.oid IS NULL OR l.collisdeterministic)) "
        "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = :schema AND c.relname = :table"
    )
    #: distinct values a column may have to be counted with others in one `GROUPING SETS` scan
    FEW = 50_000

    def distinctness(self, *statistics: Any) -> dict[str, str]:
        """`n_distinct` of `pg_stats` (ANALYZE's estimate: a count, or minus a share of the
        rows): nearly every value distinct is `unique`, counted by `count(DISTINCT)` (1,000,000
        distinct values sorted, then hashed: integers 0.3 s and 0.75 s, strings compared as
        bytes 0.3 s and 0.9 s); up to `FEW` values is `few`. Columns of a nondeterministic
        collation are left out: bytes would not tell their equality."""
        rows, estimates = statistics
        kinds = {}
        for name, estimate in (estimates or {}).items():
            values = estimate if estimate >= 0 else -estimate * max(rows or 0, 0)
            if estimate <= -0.9:
                kinds[name] = "unique"
            elif 0 < values <= self.FEW:
                kinds[name] = "few"
        return kinds

    def total(self, column: ColumnElement) -> ColumnElement:
        return func.sum(column)  # int and bigint sum to bigint and numeric: exact

    def prepare(self, dbapi_connection: Any, record: Any = None) -> None:
        """No JIT: compiling a distinct pass's 800 functions took 5 of its 12 s on 1,000,000
        rows x 30 columns; and sorts and hashes of up to 64 MB in memory, unless the server
        already allows more (percentiles of 1,000,000 values: 0.5 s at the default 4 MB,
        0.3 s)."""
        cursor = dbapi_connection.cursor()
        cursor.execute(
            "SELECT set_config('jit', 'off', false) WHERE current_setting('jit', true) IS NOT NULL"
        )
        cursor.execute(
            "SELECT set_config('work_mem', '64MB', false) "
            "WHERE pg_size_bytes(current_setting('work_mem')) < 64 * 1024 * 1024"
        )
        cursor.close()
        dbapi_connection.commit()  # a setting made in a transaction rolled back would be undone

    def percentage_sample(self, table: Any, percent: float, method: str | None) -> Any:
        return tablesample(table, percent, method)

    @contextmanager
    def timeout(self, conn: Connection, seconds: float) -> Iterator[None]:
        conn.exec_driver_sql(f"SET statement_timeout = {max(1, int(seconds * 1000))}")
        try:
            yield
        except sqlalchemy.exc.DBAPIError:
            conn.rollback()  # the failed statement aborted the transaction: end it to go on
            raise
        finally:
            conn.exec_driver_sql("SET statement_timeout = 0")

    def timed_out(self, err: Exception) -> bool:
        orig = getattr(err, "orig", None)
        code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)  # psycopg 3 or 2
        return code == "57014"  # query_canceled


class MysqlDialect(Dialect):
    """MySQL and MariaDB: quartiles by row position; the server's statement time limit."""

    name = "mysql"
    facts_query = (
        "SELECT DATA_LENGTH + INDEX_LENGTH, CREATE_TIME FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = :schema AND TABLE_NAME = :table"
    )

    def random_order(self) -> ColumnElement:
        return func.rand()

    def percentage_sample(self, table: Any, percent: float, method: str | None) -> Any:
        return (
            sqlalchemy.select(literal_column("*"))
            .select_from(table)
            .where(func.rand() * 100 < literal_column(repr(percent)))
        )

    @contextmanager
    def timeout(self, conn: Connection, seconds: float) -> Iterator[None]:
        if conn.dialect.name == "mariadb" or getattr(conn.dialect, "is_mariadb", False):
            conn.exec_driver_sql(f"SET SESSION max_statement_time = {seconds:.3f}")
            reset = "SET SESSION max_statement_time = 0"
        else:
            conn.exec_driver_sql(f"SET SESSION max_execution_time = {max(1, int(seconds * 1000))}")
            reset = "SET SESSION max_execution_time = 0"
        try:
            yield
        finally:
            conn.exec_driver_sql(reset)

    def timed_out(self, err: Exception) -> bool:
        code = getattr(getattr(err, "orig", None), "args", (None,))[0]
        return code in (1969, 3024)  # MariaDB max_statement_time, MySQL max_execution_time


class SqliteDialect(Dialect):
    """No stddev or percentiles: the standard deviation from the mean of squares (shifted),
    quartiles by row position; `TOTAL` sums as a float, where `SUM` raises on integer overflow; a
    progress handler interrupts a statement past its time."""

    name = "sqlite"

    def char_length(self, column: ColumnElement) -> ColumnElement:
        return func.length(column)  # characters for text

    def floor(self, value: ColumnElement) -> ColumnElement:
        return sqlalchemy.cast(value, sqlalchemy.Integer)  # floor() needs the math extension; value >= 0

    def total(self, column: ColumnElement) -> ColumnElement:
        return func.total(column)

    def stddev(self, column: ColumnElement) -> list[ColumnElement]:
        """The mean and mean of squares of the values less one of them (a constant subquery):
        shifted next to the data, `E[x²] - E[x]²` keeps its digits where raw values far
        from zero with a small spread (epoch seconds, 10^12 + n) would cancel them out."""
        pivot = (
            sqlalchemy.select(sqlalchemy.cast(column, sqlalchemy.Double))
            .select_from(column.table)
            .where(column.is_not(None))
            .limit(1)
            .scalar_subquery()
        )
        shifted = sqlalchemy.cast(column, sqlalchemy.Double) - pivot
        return [func.avg(shifted), func.avg(shifted * shifted)]

    def stddev_from(self, values: list[Any]) -> float | None:
        mean, mean_of_squares = values
        if mean is None:
            return None
        return max(float(mean_of_squares) - float(mean) ** 2, 0.0) ** 0.5

    def percentage_sample(self, table: Any, percent: float, method: str | None) -> Any:
        # random() is a 64-bit integer: keep a uniform `percent` % of rows
        return (
            sqlalchemy.select(literal_column("*"))
            .select_from(table)
            .where(func.abs(func.random() % 1_000_000) < literal_column(repr(percent * 10_000)))
        )

    @contextmanager
    def timeout(self, conn: Connection, seconds: float) -> Iterator[None]:
        raw = conn.connection.dbapi_connection
        deadline = time.monotonic() + seconds
        if isinstance(raw, sqlite3.Connection):
            raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            yield
        finally:
            if isinstance(raw, sqlite3.Connection):
                raw.set_progress_handler(None, 0)

    def timed_out(self, err: Exception) -> bool:
        return "interrupted" in str(getattr(err, "orig", err))


class SnowflakeDialect(Dialect):
    """Ordered-set aggregates inline; a session statement timeout."""

    name = "snowflake"
    inline_percentiles = True
    facts_query = (
        "SELECT BYTES, CREATED FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA ILIKE :schema AND TABLE_NAME ILIKE :table"
    )

    def char_length(self, column: ColumnElement) -> ColumnElement:
        return func.length(column)

    def percentage_sample(self, table: Any, percent: float, method: str | None) -> Any:
        return tablesample(table, percent, method)

    @contextmanager
    def timeout(self, conn: Connection, seconds: float) -> Iterator[None]:
        try:
            conn.exec_driver_sql(f"ALTER SESSION SET STATEMENT_TIMEOUT_IN_SECONDS = {max(1, int(seconds))}")
        except sqlalchemy.exc.DBAPIError as err:  # e.g. an emulator without session parameters
            self.unbounded = first_line(err)
            yield
            return
        try:
            yield
        finally:
            conn.exec_driver_sql("ALTER SESSION UNSET STATEMENT_TIMEOUT_IN_SECONDS")

    def timed_out(self, err: Exception) -> bool:
        return getattr(getattr(err, "orig", None), "errno", None) in (604, 630)  # cancelled, timed out

    def regexp(self, column: ColumnElement, pattern: str) -> ColumnElement:
        return func.regexp_like(column, pattern)


def tablesample(table: Any, percent: float, method: str | None) -> Any:
    """`TABLESAMPLE BERNOULLI|SYSTEM (p)`, as PostgreSQL and Snowflake write it."""
    sampled = sqlalchemy.tablesample(
        table, func.system(percent) if method == "SYSTEM" else func.bernoulli(percent)
    )
    return sqlalchemy.select(literal_column("*")).select_from(sampled)


DIALECTS: dict[str, type[Dialect]] = {
    "postgresql": PostgresDialect,
    "mysql": MysqlDialect,
    "mariadb": MysqlDialect,
    "sqlite": SqliteDialect,
    "snowflake": SnowflakeDialect,
}


def dialect_for(engine: sqlalchemy.engine.Engine) -> Dialect:
    return DIALECTS.get(engine.dialect.name, Dialect)()
