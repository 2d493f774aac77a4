"""The metadata-rest sink and the REST client against the stand-in server."""

import sqlite3

import pytest

from om_dagster.core.steps import StepError
from tests.conftest import make_sqlite, recipe_dict, write_recipe
from tests.ingest import ingest

DDL = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, email VARCHAR(100) NOT NULL, UNIQUE (email));
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers (id),
                     total NUMERIC(10, 2));
CREATE TABLE "odd.name" ("a b" TEXT);
CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
"""
TABLES = {
    "svc.main.main.customers",
    "svc.main.main.orders",
    'svc.main.main."odd.name"',
    "svc.main.main.big_orders",
}


@pytest.fixture
def db(tmp_path):
    return make_sqlite(tmp_path / "cat.db", DDL)


def recipe(tmp_path, db, standin, **kw):
    return write_recipe(tmp_path / "r.yaml", recipe_dict(db, server_url=standin.url, **kw))


def live_tables(standin):
    return set(standin.all("tables", include_deleted=False))


def test_creates_the_whole_hierarchy(tmp_path, db, standin):
    source, sink, _ = ingest(recipe(tmp_path, db, standin))
    assert sink.failure_count == 0 and source.failure_count == 0
    assert set(standin.all("services/databaseServices")) == {"svc"}
    assert set(standin.all("databases")) == {"svc.main"}
    assert set(standin.all("databaseSchemas")) == {"svc.main.main"}
    assert live_tables(standin) == TABLES
    orders = standin.get("tables", "svc.main.main.orders")
    assert [(c["name"], c["dataType"], c.get("constraint")) for c in orders["columns"]] == [
        ("id", "INT", "PRIMARY_KEY"),
        ("customer_id", "INT", "NOT_NULL"),
        ("total", "NUMERIC", "NULL"),
    ]
    assert orders["tableConstraints"] == [
        {
            "constraintType": "FOREIGN_KEY",
            "columns": ["customer_id"],
            "referredColumns": ["svc.main.main.customers.id"],
            "relationshipType": "MANY_TO_ONE",
        }
    ]
    assert standin.get("tables", "svc.main.main.big_orders")["tableType"] == "View"
    # tables go in bulk, not one request each
    assert standin.count("PUT", "/api/v1/tables/bulk") == 1 and standin.count("PUT", "/api/v1/tables") == 1


def test_the_service_keeps_its_connection_unless_told_not_to(tmp_path, db, standin):
    ingest(recipe(tmp_path, db, standin))
    service = standin.get("services/databaseServices", "svc")
    assert service["connection"] == {
        "config": {"type": "SQLite", "databaseMode": str(db), "database": "main"}
    }


def test_store_service_connection_false_sends_a_bare_service(tmp_path, db, standin):
    path = recipe(tmp_path, db, standin)
    text = path.read_text().replace("hostPort:", "storeServiceConnection: false\n    hostPort:")
    path.write_text(text)
    ingest(path)
    assert "connection" not in standin.get("services/databaseServices", "svc")


def test_a_second_run_sends_no_table_and_changes_nothing(tmp_path, db, standin):
    path = recipe(tmp_path, db, standin)
    ingest(path)
    before = {k: v["version"] for k, v in standin.all("tables").items()}
    bulk_calls = standin.count("PUT", "/api/v1/tables/bulk")
    _, sink, _ = ingest(path)
    assert {k: v["version"] for k, v in standin.all("tables").items()} == before
    assert standin.count("PUT", "/api/v1/tables/bulk") == bulk_calls
    assert sink.unchanged == 5 and sink.updated == 0  # the service and four tables
    assert len(standin.all("tables")) == 4


def test_a_changed_table_is_updated_in_place(tmp_path, db, standin):
    path = recipe(tmp_path, db, standin)
    ingest(path)
    old = standin.get("tables", "svc.main.main.customers")
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE customers ADD COLUMN phone VARCHAR(20)")
    _, sink, _ = ingest(path)
    new = standin.get("tables", "svc.main.main.customers")
    assert new["id"] == old["id"] and new["version"] > old["version"]
    assert [c["name"] for c in new["columns"]][-1] == "phone"
    assert sink.updated == 1


def test_mark_deleted_tables_soft_deletes_only_inside_ingested_schemas(tmp_path, db, standin):
    path = recipe(tmp_path, db, standin)
    ingest(path)
    # a schema of the same database that this recipe does not ingest
    from om_dagster.core.loader import load_recipe
    from om_dagster.openmetadata.client import OpenMetadataClient

    client = OpenMetadataClient(load_recipe(path).server)
    client.put("databaseSchemas", {"name": "other", "database": "svc.main"})
    client.put(
        "tables",
        {
            "name": "keep_me",
            "databaseSchema": "svc.main.other",
            "columns": [{"name": "x", "dataType": "INT"}],
        },
    )
    with sqlite3.connect(db) as conn:
        conn.execute("DROP VIEW big_orders")
    ingest(path)
    assert standin.get("tables", "svc.main.main.big_orders")["deleted"] is True
    assert live_tables(standin) == TABLES - {"svc.main.main.big_orders"} | {"svc.main.other.keep_me"}
    # the table comes back: restored, same id
    old_id = standin.get("tables", "svc.main.main.big_orders")["id"]
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100")
    ingest(path)
    restored = standin.get("tables", "svc.main.main.big_orders")
    assert restored["deleted"] is False and restored["id"] == old_id


def test_filtered_and_failed_tables_are_not_marked_deleted(tmp_path, db, standin):
    ingest(recipe(tmp_path, db, standin))
    with sqlite3.connect(db) as conn:
        conn.executescript("CREATE TABLE t (x INTEGER); CREATE VIEW v AS SELECT x FROM t; DROP TABLE t;")
    _, sink, _ = ingest(
        write_recipe(
            tmp_path / "r2.yaml",
            recipe_dict(
                db, server_url=standin.url, source_config={"tableFilterPattern": {"excludes": ["orders"]}}
            ),
        )
    )
    assert live_tables(standin) == TABLES  # orders filtered, v failed: nothing deleted
    assert sink.failure_count == 0


def test_a_schema_that_cannot_be_listed_sends_all_and_deletes_nothing(tmp_path, db, standin):
    path = recipe(tmp_path, db, standin)
    ingest(path)
    with sqlite3.connect(db) as conn:
        conn.execute("DROP VIEW big_orders")
    standin.inject("fail", "GET", "/api/v1/tables", times=100, status=500)
    _, sink, _ = ingest(path)
    assert live_tables(standin) == TABLES  # big_orders not deleted on a guess
    [warning] = sink.warnings
    assert warning.name == "svc.main.main" and "could not list its tables" in warning.reason
    assert sink.failure_count == 0
    assert standin.count("PUT", "/api/v1/tables/bulk") == 2  # the second run sent its three tables again


def test_mark_deleted_tables_false_keeps_dropped_tables(tmp_path, db, standin):
    path = write_recipe(
        tmp_path / "r.yaml",
        recipe_dict(db, server_url=standin.url, source_config={"markDeletedTables": False}),
    )
    ingest(path)
    with sqlite3.connect(db) as conn:
        conn.execute("DROP VIEW big_orders")
    ingest(path)
    assert live_tables(standin) == TABLES


def test_503s_are_retried_and_nothing_is_lost(tmp_path, db, standin):
    standin.inject("fail", "PUT", "/api/v1/tables/bulk", times=2)
    standin.inject("fail", "GET", "/api/v1/tables", times=1)
    _, sink, _ = ingest(recipe(tmp_path, db, standin))
    assert live_tables(standin) == TABLES and sink.failure_count == 0
    assert standin.count("PUT", "/api/v1/tables/bulk") == 3


@pytest.mark.parametrize("status", [429, 502, 504])
def test_rate_limits_and_gateway_errors_are_retried(tmp_path, db, standin, status):
    standin.inject("fail", "PUT", "/api/v1/tables/bulk", times=2, status=status)
    _, sink, _ = ingest(recipe(tmp_path, db, standin))
    assert live_tables(standin) == TABLES and sink.failure_count == 0
    assert standin.count("PUT", "/api/v1/tables/bulk") == 3


def test_dropped_connections_are_retried_and_nothing_is_lost(tmp_path, db, standin):
    standin.inject("drop", "PUT", "/api/v1/tables/bulk", times=2)
    standin.inject("drop", "PUT", "/api/v1/databaseSchemas", times=1)
    _, sink, _ = ingest(recipe(tmp_path, db, standin))
    assert live_tables(standin) == TABLES and sink.failure_count == 0


def test_a_refused_bulk_call_falls_back_to_one_put_per_table(tmp_path, db, standin):
    standin.inject("fail", "PUT", "/api/v1/tables/bulk", times=100)
    _, sink, _ = ingest(recipe(tmp_path, db, standin), retries=2)
    assert live_tables(standin) == TABLES and sink.failure_count == 0


def test_tables_the_server_refuses_are_counted_failures_and_the_rest_land(tmp_path, db, standin):
    standin.inject("fail", "PUT", "/api/v1/tables/bulk", times=100, status=500)
    standin.inject("fail", "PUT", "/api/v1/tables", times=2, status=500)  # two tables, one by one
    _, sink, _ = ingest(recipe(tmp_path, db, standin), retries=2)
    assert sink.failure_count == 2 and sink.records == 3 + 2
    assert len(live_tables(standin)) == 2
    assert all(f.reason.startswith("PUT /tables") and "\n" not in f.reason for f in sink.failures)
    assert sink.failures[0].reason.endswith("returned 500: HTTP 500 (injected)")
    [bulk] = sink.warnings
    assert bulk.reason.startswith("bulk PUT failed, its tables sent one by one: PUT /tables/bulk")


def catalog(path, tables: int):
    ddl = "".join(f"CREATE TABLE t{i:05} (id INTEGER PRIMARY KEY, name TEXT);" for i in range(tables))
    return make_sqlite(path, ddl)


def test_a_failing_bulk_endpoint_is_left_after_two_tries_and_every_table_lands(tmp_path, standin):
    """Every bulk PUT answers 500 while single PUTs work: two bulk tries, each a warning,
    then the run goes table by table without knocking on the bulk endpoint again."""
    db = catalog(tmp_path / "c.db", 250)
    standin.inject("fail", "PUT", "/api/v1/tables/bulk", times=10_000, status=500)
    _, sink, _ = ingest(recipe(tmp_path, db, standin))
    assert len(live_tables(standin)) == 250 and sink.failure_count == 0
    assert standin.count("PUT", "/api/v1/tables/bulk") == 2
    assert [w.reason.split(": PUT")[0] for w in sink.warnings] == [
        "bulk PUT failed, its tables sent one by one",
        "bulk PUT failed 2 times in a row, so every table from here on is sent one by one",
    ]


def test_a_server_that_refuses_every_write_stops_the_sink_after_a_few_calls(tmp_path, standin):
    """2,000 tables, every write answered 500: a one-line stop after a handful of requests,
    never one request per table and a "success 0.05%"."""
    db = catalog(tmp_path / "big.db", 2000)
    standin.inject("fail", "PUT", "/api/v1/", times=10_000, status=500)
    with pytest.raises(StepError) as err:
        ingest(recipe(tmp_path, db, standin))
    message = str(err.value)
    assert message.startswith("the OpenMetadata server failed 5 calls in a row, so nothing more is sent")
    assert "returned 500" in message and "\n" not in message
    assert standin.state.total_requests < 50


def test_a_refused_token_stops_the_run_without_showing_it(tmp_path, db, standin):
    standin.token = "the-right-token"
    with pytest.raises(StepError) as err:
        ingest(recipe(tmp_path, db, standin, token="wrong-s3cret"))
    message = str(err.value)
    assert "refused the token (401)" in message and "securityConfig.jwtToken" in message
    assert "wrong-s3cret" not in message and "the-right-token" not in message


def test_the_right_token_is_sent_as_bearer(tmp_path, db, standin):
    standin.token = "the-right-token"
    _, sink, _ = ingest(recipe(tmp_path, db, standin, token="the-right-token"))
    assert sink.failure_count == 0 and live_tables(standin) == TABLES


def test_server_refusals_are_counted_with_entity_and_message(tmp_path, db, standin):
    with sqlite3.connect(db) as conn:
        conn.execute('CREATE TABLE "bad::name" (x INTEGER)')
    _, sink, _ = ingest(recipe(tmp_path, db, standin))
    assert live_tables(standin) == TABLES
    [failure] = sink.failures
    assert failure.name == "svc.main.main.bad::name"
    assert "bulk PUT refused it" in failure.reason and "name" in failure.reason


def test_bulk_answers_by_fqn_count_every_table_and_name_each_failure(tmp_path, db, standin):
    """The server answers a bulk PUT with FQN strings: stored tables (status 200, created or
    updated alike), tables whose write failed (400); a table refused before the write comes
    back as its request object."""
    with sqlite3.connect(db) as conn:
        conn.execute('CREATE TABLE "bad::name" (x INTEGER)')
    path = recipe(tmp_path, db, standin)
    _, sink, _ = ingest(path)
    assert live_tables(standin) == TABLES
    assert [f.name for f in sink.failures] == ["svc.main.main.bad::name"]
    assert sink.records == 3 + 4  # service, database, schema, four tables
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE customers ADD COLUMN phone TEXT")
        conn.execute("ALTER TABLE orders ADD COLUMN note TEXT")
        conn.execute('ALTER TABLE "odd.name" ADD COLUMN c TEXT')
    standin.fail_writes = {"svc.main.main.orders"}
    _, sink, _ = ingest(path)
    assert sorted(f.name for f in sink.failures) == ["svc.main.main.bad::name", "svc.main.main.orders"]
    orders = next(f for f in sink.failures if f.name == "svc.main.main.orders")
    assert orders.reason == "bulk PUT refused it: Entity does not exist and could not be created"
    # customers, big_orders (SELECT * of orders) and "odd.name", named by the server's quoted FQN
    assert sink.updated == 3
    assert [c["name"] for c in standin.get("tables", 'svc.main.main."odd.name"')["columns"]] == ["a b", "c"]


def test_an_unreachable_server_is_one_line(tmp_path, db):
    path = write_recipe(tmp_path / "r.yaml", recipe_dict(db, server_url="http://127.0.0.1:9/api"))
    with pytest.raises(StepError) as err:
        ingest(path, retries=1)
    assert str(err.value).startswith("cannot reach the OpenMetadata server at http://127.0.0.1:9/api/v1")
    assert "\n" not in str(err.value)


def test_versions_other_than_1_and_2_are_refused(tmp_path, db, standin):
    standin.version = "3.0.0"
    with pytest.raises(StepError, match=r"reports version '3.0.0'; om-dagster speaks to 1.x and 2.x"):
        ingest(recipe(tmp_path, db, standin))
    standin.version = "2.0.7"
    _, sink, _ = ingest(recipe(tmp_path, db, standin))
    assert sink.failure_count == 0
