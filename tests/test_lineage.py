"""Lineage: a service's view and its query log into table and column edges on the stand-in,
through temporary tables, merged with what the server holds, unchanged by a rerun."""

import pytest

from om_dagster.location.definitions import build_definitions
from tests.conftest import general_log, make_sqlite, query_log, recipe_dict, run_sql, write_recipe
from tests.test_mysql import recipe as mysql_recipe

DDL = """
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, amount REAL, order_date TEXT);
CREATE TABLE customers (id INTEGER PRIMARY KEY, country TEXT, name TEXT);
CREATE TABLE daily (day TEXT, total REAL);
CREATE VIEW fr_orders AS
  SELECT o.id AS order_id, o.amount, c.name AS customer FROM orders o
  JOIN customers c ON c.id = o.customer_id WHERE c.country = 'FR';
"""
LOG = [  # query_text, user_name, session_id
    ("INSERT INTO daily SELECT order_date, sum(amount) FROM orders GROUP BY 1", "etl", "s1"),
    ("CREATE TEMP TABLE big AS SELECT order_date AS d, amount * 1.2 AS gross FROM orders", "etl", "s2"),
    ("INSERT INTO daily (total, day) SELECT sum(gross), d FROM big GROUP BY d", "etl", "s2"),
    ("INSERT INTO daily SELECT d, 0 FROM big", "etl", "s3"),  # another session: no such table
]
P = "svc.main.main"


@pytest.fixture
def lineage_run(tmp_path, standin):
    db = make_sqlite(tmp_path / "shop.db", DDL)
    log = query_log(tmp_path / "queries.csv", ["query_text", "user_name", "session_id"], LOG)
    recipe = recipe_dict(db, server_url=standin.url)
    recipe["source"]["type"] = "query-log-lineage"
    recipe["source"]["sourceConfig"] = {"config": {"type": "DatabaseLineage", "queryLogFilePath": str(log)}}
    folder = tmp_path / "wf"
    write_recipe(folder / "shop.yaml", recipe_dict(db, server_url=standin.url))
    write_recipe(folder / "shop_lineage.yaml", recipe)
    defs = build_definitions(folder)
    assert defs.resolve_job_def("shop").execute_in_process().success
    return lambda: defs.resolve_job_def("shop_lineage").execute_in_process(raise_on_error=False)


def edges(standin) -> dict[tuple[str, str], dict]:
    def name(entity_id: str) -> str:
        return standin.state.by_id[entity_id][1].removeprefix(f"{P}.")

    return {(name(a), name(b)): details for (a, b), details in standin.state.lineage.items()}


def columns(details: dict) -> dict[str, list[str]]:
    return {
        m["toColumn"].removeprefix(f"{P}."): [c.removeprefix(f"{P}.") for c in m["fromColumns"]]
        for m in details["columnsLineage"]
    }


def test_views_and_queries_give_column_lineage_through_temporary_tables(lineage_run, standin):
    result = lineage_run()
    assert result.success
    found = edges(standin)
    assert set(found) == {("orders", "fr_orders"), ("customers", "fr_orders"), ("orders", "daily")}
    assert found[("orders", "fr_orders")]["source"] == "ViewLineage"
    assert columns(found[("orders", "fr_orders")]) == {
        "fr_orders.order_id": ["orders.id"],
        "fr_orders.amount": ["orders.amount"],
    }
    assert columns(found[("customers", "fr_orders")]) == {"fr_orders.customer": ["customers.name"]}
    daily = found[("orders", "daily")]
    assert daily["source"] == "QueryLineage"
    # the direct INSERT and the one through the session's temporary table, united
    assert columns(daily) == {"daily.day": ["orders.order_date"], "daily.total": ["orders.amount"]}
    source = result.output_for_node("shop_lineage_steps.source").statuses[-1]
    assert any("unknown table big" in w["reason"] for w in source["warnings"])  # session s3 has no `big`


def test_a_rerun_sends_nothing_new_and_the_server_s_own_mappings_are_kept(lineage_run, standin):
    assert lineage_run().success
    puts = standin.count("PUT", "/api/v1/lineage")
    before = {k: columns(v) for k, v in edges(standin).items()}
    assert lineage_run().success
    assert standin.count("PUT", "/api/v1/lineage") == puts  # every edge already held: none sent
    # the server's mappings of this edge replaced by hand: the next run adds its own to them
    held = edges(standin)[("orders", "daily")]
    held["columnsLineage"] = [{"fromColumns": [f"{P}.orders.id"], "toColumn": f"{P}.daily.day"}]
    assert lineage_run().success
    assert standin.count("PUT", "/api/v1/lineage") == puts + 1
    after = {k: columns(v) for k, v in edges(standin).items()}
    assert after[("orders", "daily")] == {
        "daily.day": ["orders.id", "orders.order_date"],
        "daily.total": ["orders.amount"],
    }
    del after[("orders", "daily")], before[("orders", "daily")]
    assert after == before


def test_mysql_lineage_without_a_connection_in_the_recipe_reads_the_server_s(tmp_path, mysql, standin):
    """As OpenMetadata's lineage examples print it: a service name, no connection; the one
    the metadata run stored on the server is used (and its password masked)."""
    run_sql(mysql, "CREATE TABLE films (id INT PRIMARY KEY, title TEXT); CREATE TABLE titles (name TEXT)")
    with general_log(mysql) as conn:
        conn.exec_driver_sql("INSERT INTO titles SELECT title FROM films")
    folder = tmp_path / "wf"
    write_recipe(folder / "my.yaml", mysql_recipe(mysql, standin))
    lineage = mysql_recipe(mysql, standin)
    lineage["source"] = {
        "type": "mysql-lineage",
        "serviceName": "my",
        "sourceConfig": {"config": {"type": "DatabaseLineage"}},
    }
    write_recipe(folder / "my_lineage.yaml", lineage)
    defs = build_definitions(folder)
    assert defs.resolve_job_def("my").execute_in_process().success
    assert defs.resolve_job_def("my_lineage").execute_in_process().success
    prefix = f"my.default.{mysql.database}"
    [(ids, details)] = standin.state.lineage.items()
    assert [standin.state.by_id[i][1] for i in ids] == [f"{prefix}.films", f"{prefix}.titles"]
    assert details["columnsLineage"] == [
        {"fromColumns": [f"{prefix}.films.title"], "toColumn": f"{prefix}.titles.name"}
    ]
