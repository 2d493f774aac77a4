"""A wide table's passes run at once on several connections, and its quartiles by bucket,
with the numbers still equal to values computed here from the same rows."""

import statistics
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import sqlalchemy

from om_dagster.profiler.config import ProfilerSourceConfig, table_settings
from om_dagster.profiler.dialects import dialect_for
from om_dagster.profiler.passes import Connections, SqliteProcesses
from om_dagster.profiler.table import RANK_ALL, TableProfiler

N = 3 * RANK_ALL  # past RANK_ALL: quartiles are read by bucket where no percentile_cont
COLUMNS = [  # name, DDL type, OpenMetadata type, value of row i
    ("id", "INTEGER", "INT", lambda i: i + 1),
    ("skew", "INTEGER", "INT", lambda i: 7 if i % 10 else (i * 7919) % 5000),
    ("few_f", "DOUBLE PRECISION", "DOUBLE", lambda i: (i % 13) * 0.5),
    ("f", "DOUBLE PRECISION", "DOUBLE", lambda i: None if i % 10 == 3 else ((i * 48271) % 100003) / 7.0),
    ("d", "NUMERIC(12, 2)", "DECIMAL", lambda i: Decimal((i * 7919) % 1000003) / 100),
    ("neg", "INTEGER", "INT", lambda i: (i * 31337) % 20001 - 10000),
    ("label", "VARCHAR(16)", "VARCHAR", lambda i: None if i % 17 == 0 else f"l{(i * 7) % 40}"),
    ("u", "VARCHAR(16)", "VARCHAR", lambda i: f"u{i}"),
    ("dup", "INTEGER", "INT", lambda i: 6 if i == 5 else i),  # one value twice
    ("big", "BIGINT", "BIGINT", lambda i: 10**12 + (i * 7919) % 100000),
    ("one", "INTEGER", "INT", lambda i: 3),
]


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'wide.db'}")
    else:
        engine = request.getfixturevalue("postgres" if request.param == "postgresql" else "mysql").engine
    ddl = ", ".join(f"{name} {kind}" for name, kind, _, _ in COLUMNS)
    names = [name for name, _, _, _ in COLUMNS]
    insert = f"INSERT INTO wide VALUES ({', '.join(':' + n for n in names)})"
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"CREATE TABLE wide ({ddl})"))
        conn.execute(
            sqlalchemy.text(insert),
            [{n: _bindable(value(i)) for n, _, _, value in COLUMNS} for i in range(N)],
        )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sqlalchemy.text("ANALYZE wide"))
    yield engine
    if request.param == "sqlite":
        engine.dispose()


def _bindable(value):
    return str(value) if isinstance(value, Decimal) else value


def profile(engine, schema, passes=None):
    settings = table_settings(ProfilerSourceConfig(), None, None)
    columns = [{"name": name, "dataType": kind} for name, _, kind, _ in COLUMNS]
    with engine.connect() as conn:
        return TableProfiler(conn, dialect_for(engine), settings, passes).profile(schema, "wide", columns, 0)


def test_passes_at_once_and_quartiles_by_bucket_give_the_independent_numbers(engine):
    schema = {"sqlite": "main", "postgresql": "public"}.get(engine.dialect.name, engine.url.database)
    sqlalchemy.event.listen(engine, "connect", dialect_for(engine).prepare)
    runner = SqliteProcesses if SqliteProcesses.serves(engine) else Connections
    with ThreadPoolExecutor(4) as pool:
        passes = runner(engine, pool, 4)
        result = profile(engine, schema, passes)
    if isinstance(passes, SqliteProcesses):
        assert len(passes.started) > 1  # the statements ran in worker processes, several at once
        passes.close()
    got = {c["name"]: c for c in result.body["columnProfile"]}
    for name, _, _, value in COLUMNS:
        values = [v for v in (value(i) for i in range(N)) if v is not None]
        column = got[name]
        assert column["valuesCount"] == len(values), name
        assert column["nullCount"] == N - len(values), name
        counts: dict = {}
        for v in values:
            counts[v] = counts.get(v, 0) + 1
        assert column["distinctCount"] == len(counts), name
        assert column["uniqueCount"] == sum(1 for k in counts.values() if k == 1), name
        if isinstance(values[0], str):
            continue
        numbers = [float(v) for v in values]
        expected = (
            statistics.quantiles(numbers, n=4, method="inclusive") if len(set(numbers)) > 1 else [3.0] * 3
        )
        quartiles = [column["firstQuartile"], column["median"], column["thirdQuartile"]]
        assert quartiles == pytest.approx(expected, rel=1e-12), name
        assert column["sum"] == pytest.approx(float(sum(values)), rel=1e-12), name
        assert column["mean"] == pytest.approx(float(sum(values)) / len(values), rel=1e-12), name
        assert (column["min"], column["max"]) == pytest.approx((min(numbers), max(numbers))), name
    hands = 2  # 11 columns: a pass per 8 columns, at most one per connection
    assert result.statements <= 3 + 3 * hands, result.statements
    alone = profile(engine, schema)  # one connection, one statement after another
    assert alone.body == result.body


def test_postgres_statistics_pick_the_method_never_the_answer(postgres):
    """`pg_stats` calls `dup` unique (one value repeats: the count comes from the GROUP BY
    the CASE falls back to) and `label` few; the answers are the same without statistics."""
    engine = postgres.engine
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("CREATE TABLE wide (dup INTEGER, label VARCHAR(8), other INTEGER)"))
        conn.execute(
            sqlalchemy.text(
                "INSERT INTO wide SELECT CASE WHEN g = 5 THEN 6 ELSE g END, 'l' || g % 9, g % 3 "
                "FROM generate_series(1, 5000) g"
            )
        )
    columns = [
        {"name": "dup", "dataType": "INT"},
        {"name": "label", "dataType": "VARCHAR"},
        {"name": "other", "dataType": "INT"},
    ]
    settings = table_settings(ProfilerSourceConfig(), None, None)

    def run():
        with engine.connect() as conn:
            return TableProfiler(conn, dialect_for(engine), settings).profile("public", "wide", columns, 0)

    before = run().body
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sqlalchemy.text("ANALYZE wide"))
    with engine.connect() as conn:
        _, expected = dialect_for(engine).table_facts(conn, "public", "wide")
    assert expected == {"dup": "unique", "label": "few", "other": "few"}
    after = run().body
    assert after["columnProfile"] == before["columnProfile"]
    by_name = {c["name"]: c for c in after["columnProfile"]}
    assert (by_name["dup"]["distinctCount"], by_name["dup"]["uniqueCount"]) == (4999, 4998)
    assert (by_name["label"]["distinctCount"], by_name["other"]["distinctCount"]) == (9, 3)


def test_a_sqlite_worker_is_cancelled_at_the_budget_and_says_what_failed(tmp_path):
    """Statements sent to worker processes keep the table's budget (SQLite's progress
    handler interrupts them there), report SQLite's error as theirs, and end with `close`."""
    from om_dagster.profiler.dialects import StatementTimeout
    from om_dagster.profiler.passes import Budget, WorkerError

    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("CREATE TABLE t (x INTEGER)"))
    endless = sqlalchemy.text(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    )
    with ThreadPoolExecutor(2) as pool:
        passes = SqliteProcesses(engine, pool, 2)
        budget = Budget(dialect_for(engine), 0.5)
        with pytest.raises(StatementTimeout, match=r"cancelled it at the 0\.5 s budget"):
            passes.submit(endless, budget).result(timeout=30)
        with pytest.raises(WorkerError, match="no such table: missing"):
            passes.submit(sqlalchemy.text("SELECT * FROM missing"), Budget(dialect_for(engine), 5)).result()
        rows = passes.submit(
            sqlalchemy.text("SELECT count(*), 1.5, 'é' FROM t"), Budget(dialect_for(engine), 5)
        )
        assert rows.result() == [(0, 1.5, "é")]
        passes.close()
    assert passes.started and all(worker.poll() == 0 for worker in passes.started)
    engine.dispose()
