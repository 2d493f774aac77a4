"""Usage: a query log through query-parser, table-usage and metadata-usage, into the stand-in,
with counts, joins and queries equal to what is worked out here by hand; a rerun changes none."""

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from om_dagster.location.definitions import build_definitions
from om_dagster.queries.parser import masked
from tests.conftest import (
    EXAMPLES,
    general_log,
    make_sqlite,
    query_log,
    recipe_dict,
    require_shared,
    run_sql,
    write_recipe,
)
from tests.test_mysql import recipe as mysql_recipe

DDL = """
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, amount REAL, order_date TEXT);
CREATE TABLE customers (id INTEGER PRIMARY KEY, country TEXT, name TEXT);
CREATE TABLE daily (day TEXT, total REAL);
"""
TODAY = datetime.now(UTC).date()
D1, D2, OLD = (TODAY - timedelta(days=n) for n in (2, 1, 60))
JOIN = (
    "SELECT c.name, sum(o.amount) FROM orders o JOIN customers c ON o.customer_id = c.id "
    "WHERE c.country = '{}'"
)
INSERT = "INSERT INTO daily SELECT order_date, sum(amount) FROM orders WHERE amount > {} GROUP BY 1"
LOG = [  # query_text, user_name, start_time, aborted
    (JOIN.format("FR"), "ann", f"{D1} 09:00:00.250", ""),  # the official form, fractions of a second
    (JOIN.format("DE"), "bob", f"{D1}T10:00:00", ""),  # ISO with T, no fraction
    (JOIN.format("IT"), "ann", f"{D1} 11:00:00Z", ""),
    (INSERT.format(10), "etl", f"{D2} 01:00:00+00:00", ""),
    (INSERT.format(20), "etl", f"{D2} 02:00:00", "true"),  # aborted: no usage
    ("SELECT * FROM nowhere", "ann", f"{D2} 03:00:00", ""),  # unknown table: a warning
    ("SELECT FROM WHERE", "ann", f"{D2} 04:00:00", ""),  # does not parse: a warning
    ("SET search_path = x", "ann", f"{D2} 05:00:00", ""),
    (JOIN.format("ES"), "cid", f"{OLD} 08:00:00", ""),  # joins older than 30 days: not sent
]


def usage_recipe(db: Path, log: Path, stage: Path, server_url: str) -> dict:
    recipe = recipe_dict(db, server_url=server_url)
    recipe["source"]["type"] = "query-log-usage"
    recipe["source"]["sourceConfig"] = {"config": {"type": "DatabaseUsage", "queryLogFilePath": str(log)}}
    del recipe["sink"]
    recipe["processor"] = {"type": "query-parser", "config": {}}
    recipe["stage"] = {"type": "table-usage", "config": {"filename": str(stage)}}
    recipe["bulkSink"] = {"type": "metadata-usage", "config": {"filename": str(stage)}}
    return recipe


@pytest.fixture
def usage_run(tmp_path, standin):
    db = make_sqlite(tmp_path / "shop.db", DDL)
    log = query_log(tmp_path / "queries.csv", ["query_text", "user_name", "start_time", "aborted"], LOG)
    folder = tmp_path / "wf"
    write_recipe(folder / "shop.yaml", recipe_dict(db, server_url=standin.url))
    write_recipe(folder / "shop_usage.yaml", usage_recipe(db, log, tmp_path / "stage", standin.url))
    defs = build_definitions(folder)
    assert defs.resolve_job_def("shop").execute_in_process().success
    return lambda: defs.resolve_job_def("shop_usage").execute_in_process(raise_on_error=False)


def usage(standin, table: str) -> dict[str, int]:
    return standin.get("tables", f"svc.main.main.{table}").get("_usage", {})


def test_usage_counts_joins_and_queries_match_the_log_and_a_rerun_changes_none(usage_run, standin):
    result = usage_run()
    assert result.success
    expected = {
        "orders": {str(D1): 3, str(D2): 1, str(OLD): 1},
        "customers": {str(D1): 3, str(OLD): 1},
        "daily": {str(D2): 1},
    }
    for table, days in expected.items():
        assert usage(standin, table) == days, table
    pair = ("svc.main.main.customers.id", "svc.main.main.orders.customer_id")
    assert standin.state.joins == {pair: {str(D1): 3}}  # the old day's join refused, as the server would
    queries = standin.all("queries")
    join_shape = masked(JOIN.format("FR"))
    name = hashlib.md5(join_shape.encode()).hexdigest()
    assert set(queries) == {
        f"svc.{name}",
        f"svc.{hashlib.md5(masked(INSERT.format(10)).encode()).hexdigest()}",
    }
    join_query = queries[f"svc.{name}"]
    assert join_query["query"] == join_shape and join_query["checksum"] == name
    assert sorted(join_query["usedBy"]) == ["ann", "bob", "cid"]
    used_in = {standin.state.by_id[ref["id"]][1] for ref in join_query["queryUsedIn"]}
    assert used_in == {"svc.main.main.orders", "svc.main.main.customers"}
    assert {("table", str(D1)), ("database", str(D1))} <= set(standin.state.percentiles)
    source, processor, stage = result.output_for_node("shop_usage_steps.stage").statuses
    assert source["records"] == len(LOG)
    warned = " ".join(f"{w['name']}: {w['reason']}" for w in processor["warnings"])
    assert "unknown table nowhere" in warned and "does not parse" in warned
    assert stage["filtered_count"] == 1  # the aborted query
    # a rerun: the server replaces each day's count and each query: nothing inflates
    assert usage_run().success
    for table, days in expected.items():
        assert usage(standin, table) == days, table
    assert standin.state.joins == {pair: {str(D1): 3}}
    assert len(standin.all("queries")) == 2


def test_the_official_query_log_usage_example_runs_on_mariadb(tmp_path, mysql, standin):
    """`query_log_usage.yaml` after `mysql.yaml`, both as printed but for the server, the
    credentials, the database read and the log's path: a MySQL query's database is
    OpenMetadata's schema."""
    require_shared()
    schema = mysql.database
    run_sql(
        mysql,
        "CREATE TABLE films (id INT PRIMARY KEY, title TEXT); CREATE TABLE cast_ (film INT, actor TEXT)",
    )
    join = "SELECT f.title, c.actor FROM films f JOIN cast_ c ON c.film = f.id WHERE f.id = {}"
    rows = [(join.format(n), schema, "ann", f"{D1} 10:00:00.000") for n in (1, 2)]
    rows.append((f"SELECT count(*) FROM `{schema}`.films", "", "bob", f"{D1} 11:00:00.000"))
    log = query_log(
        tmp_path / "queries.csv", ["query_text", "database_name", "user_name", "start_time"], rows
    )
    folder = tmp_path / "wf"
    for name in ("mysql", "query_log_usage"):
        data = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
        data["source"]["serviceConnection"]["config"].update(
            hostPort=mysql.host_port, username=mysql.user, authType={"password": mysql.password}
        )
        if name == "mysql":
            data["source"]["serviceConnection"]["config"]["databaseSchema"] = schema
        else:
            data["source"]["sourceConfig"]["config"]["queryLogFilePath"] = str(log)
            for step in ("stage", "bulkSink"):
                data[step]["config"]["filename"] = str(tmp_path / "stage")
        data["workflowConfig"]["openMetadataServerConfig"]["hostPort"] = standin.url
        write_recipe(folder / f"{name}.yaml", data)
    defs = build_definitions(folder)
    assert defs.resolve_job_def("mysql").execute_in_process().success
    assert defs.resolve_job_def("query_log_usage").execute_in_process().success
    tables = f"local_mysql.default.{schema}"
    assert standin.get("tables", f"{tables}.films")["_usage"] == {str(D1): 3}
    assert standin.get("tables", f"{tables}.cast_")["_usage"] == {str(D1): 2}
    assert standin.state.joins == {(f"{tables}.cast_.film", f"{tables}.films.id"): {str(D1): 2}}


def test_mysql_usage_reads_the_general_log_and_a_rerun_changes_no_count(tmp_path, mysql, standin):
    """`mysql-usage` on MariaDB's general log (enabled here as the module says): each
    connection's database followed through the log, whole days counted, reruns equal."""
    run_sql(
        mysql,
        "CREATE TABLE films (id INT PRIMARY KEY, title TEXT); CREATE TABLE cast_ (film INT, actor TEXT)",
    )
    with general_log(mysql) as conn:
        for n in range(3):
            conn.exec_driver_sql(
                f"SELECT f.title FROM films f JOIN cast_ c ON c.film = f.id WHERE f.id = {n}"
            )
        conn.exec_driver_sql("INSERT INTO films SELECT film + 100, actor FROM cast_")
    folder = tmp_path / "wf"
    metadata = mysql_recipe(mysql, standin)
    usage = mysql_recipe(mysql, standin)
    usage["source"]["type"] = "mysql-usage"
    usage["source"]["sourceConfig"] = {"config": {"type": "DatabaseUsage"}}
    del usage["sink"]
    usage["processor"] = {"type": "query-parser", "config": {}}
    usage["stage"] = {"type": "table-usage", "config": {"filename": str(tmp_path / "stage")}}
    usage["bulkSink"] = {"type": "metadata-usage", "config": {"filename": str(tmp_path / "stage")}}
    write_recipe(folder / "my.yaml", metadata)
    write_recipe(folder / "my_usage.yaml", usage)
    defs = build_definitions(folder)
    assert defs.resolve_job_def("my").execute_in_process().success
    today = str(datetime.now(UTC).date())  # the day the statements ran (not the module's import)
    prefix = f"my.default.{mysql.database}"
    for _ in range(2):
        assert defs.resolve_job_def("my_usage").execute_in_process().success
        assert standin.get("tables", f"{prefix}.films")["_usage"] == {today: 4}
        assert standin.get("tables", f"{prefix}.cast_")["_usage"] == {today: 4}
        assert standin.state.joins == {(f"{prefix}.cast_.film", f"{prefix}.films.id"): {today: 3}}
