"""postgres-usage and postgres-lineage on a real server's pg_stat_statements (started by
.ci/services with the library preloaded): usage counts equal what is worked out here by hand,
run after run the same day; lineage reads every statement again."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy
import yaml

from om_dagster.core.loader import load_recipe
from om_dagster.core.recipe import OpenMetadataServerConfig, RecipeError
from om_dagster.core.steps import Kind, StepError
from om_dagster.location.definitions import build_definitions
from om_dagster.location.factory import MANAGED_JOB
from om_dagster.openmetadata.client import OpenMetadataClient
from om_dagster.queries.postgres import PostgresQueryLog, PostgresUsageSource
from tests.conftest import EXAMPLES, require_shared, run_sql, write_recipe
from tests.test_postgres import recipe as postgres_recipe

DDL = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, country TEXT, name TEXT);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, amount NUMERIC, order_date DATE);
CREATE TABLE daily (day DATE, total NUMERIC);
CREATE EXTENSION pg_stat_statements
"""
# pg_stat_statements keeps one entry per statement shape: its literals are parameters
ADD_CUSTOMER = "INSERT INTO customers VALUES ({}, '{}', '{}')"
ADD_ORDER = "INSERT INTO orders VALUES ({}, {}, {}, DATE '2024-05-0{}')"
JOIN = (
    "SELECT c.name, sum(o.amount) FROM orders o JOIN customers c ON o.customer_id = c.id "
    "WHERE c.country = '{}' GROUP BY c.name"
)
ROLLUP = "INSERT INTO daily SELECT order_date, sum(amount) FROM orders WHERE amount > {} GROUP BY 1"
COUNT = "SELECT count(*) FROM orders WHERE amount > {}"
# this database's entries only (other tests may read theirs); all of them would change stats_reset
RESET = (
    "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)"
)
RESET_COUNT = (  # marked as OpenMetadata marks its own statements: not usage of the view
    '/* {"app": "OpenMetadata", "by": "a test"} */ '
    "SELECT pg_stat_statements_reset(0, dbid, queryid) FROM pg_stat_statements "
    "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND query LIKE 'SELECT count(*) FROM orders%'"
)


def utc_day() -> str:
    """Today in UTC, asked when a run has just ended (a module constant goes stale at midnight)."""
    return str(datetime.now(UTC).date())


TABLES = re.compile(r"\b(customers|orders|daily)\b")
UTILITY = re.compile(r"\s*(begin|commit|set|show|declare|fetch|close)\b", re.IGNORECASE)


def run(postgres, *statements: str, times: int = 1) -> None:
    """Each statement `times` times, in a transaction (BEGIN and COMMIT: no usage)."""
    with postgres.engine.connect().execution_options(isolation_level="READ COMMITTED") as conn:
        conn.exec_driver_sql("SET search_path = public")  # no usage either
        for _ in range(times):
            for statement in statements:
                conn.exec_driver_sql(statement)
        conn.commit()


@pytest.fixture
def shop(postgres):
    """The tables, pg_stat_statements emptied for this database, then known statements."""
    run_sql(postgres, DDL)
    with postgres.engine.connect() as conn:
        conn.exec_driver_sql(RESET)
    run(postgres, *(ADD_CUSTOMER.format(i, c, n) for i, c, n in ((1, "FR", "ann"), (2, "DE", "bob"))))
    run(postgres, *(ADD_ORDER.format(i, i % 2 + 1, 10 * i, i) for i in (1, 2, 3)))
    run(postgres, *(JOIN.format(c) for c in ("FR", "DE", "IT")))
    run(postgres, ROLLUP.format(5), ROLLUP.format(15))
    run(postgres, COUNT.format(1), times=4)
    return postgres


TABLE_CONDITION = "s.query ~ '(customers|orders|daily)'"
# per table: the statements' calls that read or write it
FIRST = {"customers": 2 + 3, "orders": 3 + 3 + 2 + 4, "daily": 2}


def usage_recipe(postgres, standin, stage, source_type="postgres-usage", **source_config) -> dict:
    recipe = postgres_recipe(postgres, standin)
    recipe["source"]["type"] = source_type
    recipe["source"]["sourceConfig"] = {"config": {"type": "DatabaseUsage", **source_config}}
    del recipe["sink"]
    recipe["processor"] = {"type": "query-parser", "config": {}}
    recipe["stage"] = {"type": "table-usage", "config": {"filename": str(stage)}}
    recipe["bulkSink"] = {"type": "metadata-usage", "config": {"filename": str(stage)}}
    return recipe


def usage(standin, postgres) -> dict[str, dict[str, int]]:
    prefix = f"pg.{postgres.database}.public."
    return {
        fqn.removeprefix(prefix): table["_usage"]
        for fqn, table in standin.all("tables").items()
        if table.get("_usage") and fqn.startswith(prefix)
    }


def today(counts: dict[str, int]) -> dict[str, dict[str, int]]:
    return {table: {utc_day(): n} for table, n in counts.items()}


def test_usage_counts_the_day_s_calls_run_after_run(tmp_path, shop, standin):
    folder = tmp_path / "wf"
    stage = tmp_path / "stage"
    write_recipe(folder / "pg.yaml", postgres_recipe(shop, standin))
    write_recipe(folder / "pg_usage.yaml", usage_recipe(shop, standin, stage))
    defs = build_definitions(folder)
    assert defs.resolve_job_def("pg").execute_in_process().success
    job = defs.resolve_job_def("pg_usage")

    result = job.execute_in_process()
    assert result.success
    assert usage(standin, shop) == today(FIRST)
    state = json.loads((stage / ".state" / "postgres-usage-pg.json").read_text())
    assert state["day"] == utc_day() and state["statements"]

    # nothing ran since: the same counts, no inflation
    assert job.execute_in_process().success
    assert usage(standin, shop) == today(FIRST)

    # more statements the same day add to the day's counts (the server keeps the last sent)
    run(shop, JOIN.format("ES"), JOIN.format("FR"), COUNT.format(2))
    assert job.execute_in_process().success
    second = {"customers": FIRST["customers"] + 2, "orders": FIRST["orders"] + 3, "daily": 2}
    assert usage(standin, shop) == today(second)

    # a statement pg_stat_statements starts over (reset, or evicted and back): the day keeps its calls
    with shop.engine.connect() as conn:
        conn.execute(sqlalchemy.text(RESET_COUNT))
    run(shop, COUNT.format(3))
    assert job.execute_in_process().success
    third = second | {"orders": second["orders"] + 1}
    assert usage(standin, shop) == today(third)
    assert job.execute_in_process().success
    assert usage(standin, shop) == today(third)


def test_a_usage_pipeline_defined_in_openmetadata_stages_and_bulk_loads(tmp_path, shop, standin, monkeypatch):
    """The generic job of pipelines deployed from OpenMetadata takes a usage pipeline's branch
    (processor, stage, bulk sink): the same counts as the recipe file's job."""
    folder = tmp_path / "wf"
    write_recipe(folder / "pg.yaml", postgres_recipe(shop, standin))
    assert build_definitions(folder).resolve_job_def("pg").execute_in_process().success
    om = OpenMetadataClient(OpenMetadataServerConfig(hostPort=standin.url))
    service = om.get_by_name("services/databaseServices", "pg", fields="connection")
    assert service["connection"]["config"]["hostPort"] == shop.host_port  # stored by the metadata run
    stage = tmp_path / "stage"
    om.put(
        "services/ingestionPipelines",
        {
            "name": "usage",
            "pipelineType": "usage",
            "service": {"id": service["id"], "type": "databaseService"},
            "sourceConfig": {"config": {"type": "DatabaseUsage", "stageFileLocation": str(stage)}},
            "airflowConfig": {},
        },
    )
    om.close()
    monkeypatch.setenv("OM_DAGSTER_SERVER_HOST_PORT", standin.url)
    (tmp_path / "none").mkdir()
    job = build_definitions(tmp_path / "none").resolve_job_def(MANAGED_JOB)
    result = job.execute_in_process(tags={"om/pipeline_fqn": "pg.usage"})
    assert result.success
    assert usage(standin, shop) == today(FIRST)
    ran = {e.step_key for e in result.all_events if e.is_step_success}
    assert ran == {"source", "managed_processor", "stage", "bulk_sink"}
    assert (stage / ".state" / "postgres-usage-pg.json").exists()


def records(source) -> dict[str, int]:
    """Query text -> count, of what the source yields on the shop's tables (not the statements
    SQLAlchemy runs on connecting, for instance)."""
    found: dict[str, int] = {}
    for record in source.run():
        assert record.kind == Kind.QUERY and record.body["database"] == source.connector.connection.database
        assert not UTILITY.match(record.body["query"]), record.body["query"]
        if TABLES.search(record.body["query"]):
            found[record.body["query"]] = found.get(record.body["query"], 0) + record.body["count"]
    return found


def load(tmp_path, data: dict, name: str = "pg_usage.yaml"):
    return load_recipe(write_recipe(tmp_path / name, data))


def test_the_next_day_counts_from_the_last_run_and_the_first_run_counts_everything(tmp_path, shop, standin):
    """Run directly (no server needed): the day's baseline is the calls of the last run before it."""
    recipe = load(tmp_path, usage_recipe(shop, standin, tmp_path / "stage"))
    first = records(PostgresUsageSource.create({}, None, recipe))
    assert sorted(first.values()) == [2, 2, 3, 3, 4]  # everything pg_stat_statements holds
    assert all(
        record.body["user"] == shop.user for record in PostgresUsageSource.create({}, None, recipe).run()
    )
    state_file = PostgresUsageSource.state_file(recipe)
    state = json.loads(state_file.read_text())
    state["day"] = str(datetime.now(UTC).date() - timedelta(days=1))  # that run was yesterday's
    state_file.write_text(json.dumps(state))
    assert records(PostgresUsageSource.create({}, None, recipe)) == {}  # nothing ran since
    run(shop, COUNT.format(9), times=2)
    [(text, count)] = records(PostgresUsageSource.create({}, None, recipe)).items()
    assert text.startswith("SELECT count(*) FROM orders WHERE amount >") and count == 2


def test_usage_honours_the_result_limit_and_the_filter_condition(tmp_path, shop, standin):
    recipe = usage_recipe(
        shop, standin, tmp_path / "stage", resultLimit=2, filterCondition="s.query ILIKE '%orders%'"
    )
    source = PostgresUsageSource.create({}, None, load(tmp_path, recipe))
    found = records(source)
    assert sorted(found.values()) == [3, 4]  # of the statements on orders, the two most called
    assert all("orders" in text for text in found)
    assert [w.reason for w in source.status.warnings] == [
        "resultLimit 2 reached: the statements of fewer calls left out"
    ]
    state = json.loads(PostgresUsageSource.state_file(source.recipe).read_text())
    assert len(state["statements"]) >= 5  # every statement, for the next run's counts


def test_a_statement_read_through_a_cursor_counts_as_its_query(tmp_path, shop, standin):
    """`DECLARE c CURSOR FOR <query>` is what pg_stat_statements keeps of a server-side cursor
    (psycopg2's named cursors, SQLAlchemy's stream_results): its query is the usage."""
    streamed = {"isolation_level": "READ COMMITTED", "stream_results": True}  # a cursor needs a transaction
    with shop.engine.connect().execution_options(**streamed) as conn:
        list(conn.exec_driver_sql("SELECT name FROM customers WHERE country = 'FR'"))
    recipe = usage_recipe(shop, standin, tmp_path / "stage", filterCondition="s.query ILIKE 'DECLARE%'")
    found = records(PostgresUsageSource.create({}, None, load(tmp_path, recipe)))
    assert found == {"SELECT name FROM customers WHERE country = 'FR'": 1}


def test_no_extension_no_stage_and_query_log_duration(tmp_path, postgres, standin):
    recipe = load(tmp_path, usage_recipe(postgres, standin, tmp_path / "stage", queryLogDuration=7))
    assert any("queryLogDuration: pg_stat_statements keeps no times" in w for w in recipe.warnings)
    with pytest.raises(StepError, match="CREATE EXTENSION pg_stat_statements") as err:
        list(PostgresUsageSource.create({}, None, recipe).run())
    assert "\n" not in str(err.value) and "shared_preload_libraries" in str(err.value)
    no_stage = usage_recipe(postgres, standin, tmp_path / "stage")
    del no_stage["stage"], no_stage["bulkSink"]
    no_stage["sink"] = {"type": "metadata-rest", "config": {}}
    with pytest.raises(RecipeError, match=r"stage\.config\.filename"):
        load(tmp_path, no_stage, "no_stage.yaml")


def test_lineage_reads_every_statement_each_time(tmp_path, shop, standin):
    data = usage_recipe(shop, standin, tmp_path / "stage", "postgres-lineage")
    data["source"]["sourceConfig"] = {
        "config": {"type": "DatabaseLineage", "resultLimit": 3, "filterCondition": TABLE_CONDITION}
    }
    del data["processor"], data["stage"], data["bulkSink"]
    data["sink"] = {"type": "metadata-rest", "config": {}}
    recipe = load(tmp_path, data, "pg_lineage.yaml")
    first = records(PostgresQueryLog.create({}, None, recipe))
    assert sorted(first.values()) == [3, 3, 4]  # the three most called, with all their calls
    assert records(PostgresQueryLog.create({}, None, recipe)) == first  # no state: the same again


def test_postgres_lineage_as_the_official_example_gives_the_rollup_s_edge(tmp_path, shop, standin):
    """A service name and no connection, as OpenMetadata's example: the server's is used."""
    folder = tmp_path / "wf"
    write_recipe(folder / "pg.yaml", postgres_recipe(shop, standin))
    lineage = {
        "source": {
            "type": "postgres-lineage",
            "serviceName": "pg",
            "sourceConfig": {
                "config": {"type": "DatabaseLineage", "queryLogDuration": 1, "resultLimit": 10000}
            },
        },
        "sink": {"type": "metadata-rest", "config": {}},
        "workflowConfig": {"openMetadataServerConfig": {"hostPort": standin.url}},
    }
    write_recipe(folder / "pg_lineage.yaml", lineage)
    defs = build_definitions(folder)
    assert defs.resolve_job_def("pg").execute_in_process().success
    assert defs.resolve_job_def("pg_lineage").execute_in_process().success
    prefix = f"pg.{shop.database}.public"
    [(ids, details)] = standin.state.lineage.items()
    assert [standin.state.by_id[i][1] for i in ids] == [f"{prefix}.orders", f"{prefix}.daily"]
    assert sorted(details["columnsLineage"], key=lambda m: m["toColumn"]) == [
        {"fromColumns": [f"{prefix}.orders.order_date"], "toColumn": f"{prefix}.daily.day"},
        {"fromColumns": [f"{prefix}.orders.amount"], "toColumn": f"{prefix}.daily.total"},
    ]


def test_the_state_is_replaced_only_once_everything_is_read(tmp_path, shop, standin):
    recipe = load(tmp_path, usage_recipe(shop, standin, tmp_path / "stage"))
    source = PostgresUsageSource.create({}, None, recipe)
    rows = source.run()
    next(rows)
    rows.close()  # the run stopped after one statement: no state written
    assert not PostgresUsageSource.state_file(recipe).exists()


def test_the_official_postgres_usage_and_lineage_examples_run_on_local_data(tmp_path, shop, standin):
    """`postgres_usage.yaml` and `postgres_lineage.yaml` as printed, but for the server, the
    credentials, the database and the stage folder; each after `postgres.yaml` for its service
    (the lineage example names another one, `local_postgres11`)."""
    require_shared()
    folder = tmp_path / "wf"
    credentials = {
        "hostPort": shop.host_port,
        "username": shop.user,
        "authType": {"password": shop.password},
        "database": shop.database,
    }
    for service, name in (("local_postgres", "postgres"), ("local_postgres11", "postgres11")):
        data = yaml.safe_load((EXAMPLES / "postgres.yaml").read_text())
        data["source"]["serviceName"] = service
        data["source"]["serviceConnection"]["config"].update(credentials)
        data["workflowConfig"]["openMetadataServerConfig"]["hostPort"] = standin.url
        write_recipe(folder / f"{name}.yaml", data)
    usage = yaml.safe_load((EXAMPLES / "postgres_usage.yaml").read_text())
    usage["source"]["serviceConnection"]["config"].update(credentials)
    for step in ("stage", "bulkSink"):
        usage[step]["config"]["filename"] = str(tmp_path / "stage")
    lineage = yaml.safe_load((EXAMPLES / "postgres_lineage.yaml").read_text())
    for data, name in ((usage, "postgres_usage"), (lineage, "postgres_lineage")):
        data["workflowConfig"]["openMetadataServerConfig"]["hostPort"] = standin.url
        write_recipe(folder / f"{name}.yaml", data)
    defs = build_definitions(folder)
    for job in ("postgres", "postgres11", "postgres_usage", "postgres_lineage"):
        assert defs.resolve_job_def(job).execute_in_process().success, job
    usage_prefix = f"local_postgres.{shop.database}.public"
    assert {t: standin.get("tables", f"{usage_prefix}.{t}")["_usage"] for t in FIRST} == today(FIRST)
    lineage_prefix = f"local_postgres11.{shop.database}.public"
    edges = [[standin.state.by_id[i][1] for i in ids] for ids in standin.state.lineage]
    assert [f"{lineage_prefix}.orders", f"{lineage_prefix}.daily"] in edges
    # the rest: the example ingests every schema, so information_schema's views have theirs
    others = {fqn.split(".")[2] for edge in edges for fqn in edge} - {"public"}
    assert others == {"information_schema"}
