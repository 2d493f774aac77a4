"""`snowflake-usage` and `snowflake-lineage` on fakesnow, whose account has no query history:
`SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY` is made here as a table of the view's columns and
filled by hand. Usage counts per table and day and the joins equal those worked out here by
hand, and a rerun changes none; lineage gives the INSERT ... SELECT's edge and its columns.
The catalog is named as Snowflake stores it (`MART.SALES.ORDERS`, column `CUSTOMER_ID`), as
OpenMetadata's own connector and the metadata source here name it.
"""

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

import pytest
import sqlalchemy
import yaml

from om_dagster.core.loader import load_recipe
from om_dagster.core.steps import Kind, StepError
from om_dagster.location.definitions import build_definitions
from om_dagster.queries.parser import masked
from om_dagster.queries.snowflake import SnowflakeQueryLog
from tests.conftest import EXAMPLES, require_shared, write_recipe
from tests.snowflake.account import connection, fakesnow_account

CATALOG = """
create database if not exists MART;
create schema if not exists MART.SALES;
create table MART.SALES.CUSTOMERS (ID NUMBER(38,0), EMAIL VARCHAR(120), COUNTRY VARCHAR(2));
create table MART.SALES.ORDERS (ID NUMBER(38,0), CUSTOMER_ID NUMBER(38,0), AMOUNT NUMBER(10,2),
    ORDER_DATE DATE);
create table MART.SALES.DAILY (DAY DATE, TOTAL NUMBER(12,2));
create table MART.SALES.TOP_CUSTOMERS (CUSTOMER_ID NUMBER(38,0), AMOUNT NUMBER(10,2));
create database if not exists OTHER;
create schema if not exists OTHER.SALES;
create table OTHER.SALES.ORDERS (ID NUMBER(38,0));
create database if not exists SNOWFLAKE;
create schema if not exists SNOWFLAKE.ACCOUNT_USAGE;
create table SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY (QUERY_ID VARCHAR, QUERY_TEXT VARCHAR,
    DATABASE_NAME VARCHAR, SCHEMA_NAME VARCHAR, QUERY_TYPE VARCHAR, SESSION_ID NUMBER(38,0),
    USER_NAME VARCHAR, ROLE_NAME VARCHAR, WAREHOUSE_NAME VARCHAR, QUERY_TAG VARCHAR,
    EXECUTION_STATUS VARCHAR, ERROR_CODE VARCHAR, START_TIME TIMESTAMP_LTZ, END_TIME TIMESTAMP_LTZ,
    TOTAL_ELAPSED_TIME NUMBER(38,0))
"""
TEARDOWN = ("MART.SALES", "OTHER.SALES", "SNOWFLAKE.ACCOUNT_USAGE")
TAG = "om-dagster"  # the connection's queryTag: what its sessions ran is not usage
DURATION = 3  # queryLogDuration
TODAY = datetime.now(UTC).date()
FIRST = datetime.combine(TODAY - timedelta(days=DURATION), time(), tzinfo=UTC)  # the window's start
D1, D2 = FIRST, datetime.combine(TODAY - timedelta(days=1), time(9), tzinfo=UTC)
JOIN = (
    "SELECT c.EMAIL, SUM(o.AMOUNT) FROM ORDERS o JOIN CUSTOMERS c ON o.CUSTOMER_ID = c.ID "
    "WHERE c.COUNTRY = '{}' GROUP BY 1"
)
INSERT = "INSERT INTO DAILY SELECT ORDER_DATE, SUM(AMOUNT) FROM ORDERS WHERE AMOUNT > 10 GROUP BY 1"
Q = {  # a row's defaults: a successful SELECT run in MART.SALES
    "DATABASE_NAME": "MART",
    "SCHEMA_NAME": "SALES",
    "QUERY_TYPE": "SELECT",
    "SESSION_ID": 1,
    "USER_NAME": "ANN",
    "QUERY_TAG": "",
    "EXECUTION_STATUS": "SUCCESS",
    "ERROR_CODE": None,
    "TOTAL_ELAPSED_TIME": 1500,
}
QUALIFIED = "select c.id from mart.sales.orders o join mart.sales.customers c on c.id = o.customer_id"
HISTORY = [
    # the window's first instant: the first day
    Q | {"QUERY_TEXT": JOIN.format("FR"), "START_TIME": D1},
    Q | {"QUERY_TEXT": JOIN.format("DE").lower(), "START_TIME": D1 + timedelta(hours=10), "USER_NAME": "BOB"},
    # the second day: qualified names, run in no database or schema; quoted names; an INSERT
    Q | {"QUERY_TEXT": QUALIFIED, "DATABASE_NAME": None, "SCHEMA_NAME": None, "START_TIME": D2},
    Q | {"QUERY_TEXT": 'SELECT "ID" FROM "MART"."SALES"."CUSTOMERS"', "START_TIME": D2 + timedelta(hours=1)},
    Q
    | {
        "QUERY_TEXT": INSERT,
        "QUERY_TYPE": "INSERT",
        "START_TIME": D2 + timedelta(hours=2),
        "USER_NAME": "ETL",
        "SESSION_ID": 2,
    },
    # left out: failed, the last second before the window, ours (tagged), OpenMetadata's,
    # a USE, what filterCondition excludes
    Q | {"QUERY_TEXT": JOIN.format("IT"), "START_TIME": D2, "EXECUTION_STATUS": "FAIL", "ERROR_CODE": "1969"},
    Q | {"QUERY_TEXT": JOIN.format("ES"), "START_TIME": FIRST - timedelta(seconds=1)},
    Q | {"QUERY_TEXT": "SELECT COUNT(*) FROM ORDERS", "START_TIME": D2, "QUERY_TAG": TAG},
    Q
    | {
        "QUERY_TEXT": '/* {"app": "OpenMetadata", "version": "1.5.0"} */ SELECT * FROM ORDERS',
        "START_TIME": D2,
    },
    Q | {"QUERY_TEXT": "USE SCHEMA MART.SALES", "QUERY_TYPE": "USE", "START_TIME": D2},
    Q | {"QUERY_TEXT": "SELECT * FROM CUSTOMERS", "START_TIME": D2, "USER_NAME": "ZED"},
]
USAGE = {"ORDERS": {D1: 2, D2: 2}, "CUSTOMERS": {D1: 2, D2: 2}, "DAILY": {D2: 1}}
JOINS = {D1: 2, D2: 1}  # CUSTOMERS.ID = ORDERS.CUSTOMER_ID
# run in OTHER.SALES: OTHER's ORDERS, a table the catalog does not hold, not MART's
OTHER = Q | {"QUERY_TEXT": "SELECT COUNT(*) FROM ORDERS", "DATABASE_NAME": "OTHER", "START_TIME": D2}
LINEAGE = [  # session 7 fills a temporary table and reads it; a failed INSERT gives no edge
    Q
    | {
        "QUERY_TEXT": "CREATE TEMPORARY TABLE BIG AS SELECT CUSTOMER_ID, AMOUNT FROM ORDERS WHERE AMOUNT > 9",
        "QUERY_TYPE": "CREATE_TABLE_AS_SELECT",
        "SESSION_ID": 7,
        "START_TIME": D2 + timedelta(hours=3),
    },
    Q
    | {
        "QUERY_TEXT": "INSERT INTO TOP_CUSTOMERS SELECT c.ID, b.AMOUNT FROM BIG b JOIN CUSTOMERS c "
        "ON c.ID = b.CUSTOMER_ID",
        "QUERY_TYPE": "INSERT",
        "SESSION_ID": 7,
        "START_TIME": D2 + timedelta(hours=4),
    },
    Q
    | {
        "QUERY_TEXT": "INSERT INTO TOP_CUSTOMERS SELECT 0, TOTAL FROM DAILY",
        "QUERY_TYPE": "INSERT",
        "EXECUTION_STATUS": "FAIL",
        "START_TIME": D2 + timedelta(hours=5),
    },
]
COLUMNS = ["QUERY_ID", *Q, "QUERY_TEXT", "START_TIME", "END_TIME"]


def add_history(engine: sqlalchemy.Engine, rows: list[dict]) -> None:
    statement = sqlalchemy.text(
        f"insert into SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY ({', '.join(COLUMNS)}) "
        f"values ({', '.join(':' + c for c in COLUMNS)})"
    )
    with engine.begin() as conn:
        held = conn.execute(sqlalchemy.text("select count(*) from SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY"))
        start = held.scalar_one()
        conn.execute(
            statement,
            [
                {"QUERY_ID": f"q{start + n}", "END_TIME": row["START_TIME"] + timedelta(seconds=1.5)} | row
                for n, row in enumerate(rows)
            ],
        )


@pytest.fixture
def snowflake() -> Iterator[dict]:
    """A fakesnow account holding the catalog and the history; yields the connection
    arguments and an engine."""
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    with fakesnow_account("MART", CATALOG, TEARDOWN) as (arguments, engine):
        add_history(engine, HISTORY)
        yield {"arguments": arguments, "engine": engine}


def recipe(standin, snowflake: dict, **steps) -> dict:
    return {
        "source": {
            "type": "snowflake",
            "serviceName": "snow",
            "serviceConnection": {"config": connection(snowflake["arguments"], "MART", queryTag=TAG)},
            "sourceConfig": {
                "config": {"type": "DatabaseMetadata", "schemaFilterPattern": {"includes": ["^sales$"]}}
            },
        },
        "sink": {"type": "metadata-rest", "config": {}},
        "workflowConfig": {"openMetadataServerConfig": {"hostPort": standin.url}},
        **steps,
    }


def usage_recipe(standin, snowflake: dict, stage: str, **config) -> dict:
    data = recipe(
        standin,
        snowflake,
        processor={"type": "query-parser", "config": {}},
        stage={"type": "table-usage", "config": {"filename": stage}},
        bulkSink={"type": "metadata-usage", "config": {"filename": stage}},
    )
    del data["sink"]
    data["source"]["type"] = "snowflake-usage"
    data["source"]["sourceConfig"] = {
        "config": {"queryLogDuration": DURATION, "filterCondition": "USER_NAME <> 'ZED'", **config}
    }
    return data


def usage_jobs(tmp_path, standin, snowflake):
    folder = tmp_path / "wf"
    write_recipe(folder / "snow.yaml", recipe(standin, snowflake))
    write_recipe(folder / "snow_usage.yaml", usage_recipe(standin, snowflake, str(tmp_path / "stage")))
    defs = build_definitions(folder)
    assert defs.resolve_job_def("snow").execute_in_process().success
    return lambda: defs.resolve_job_def("snow_usage").execute_in_process(raise_on_error=False)


def catalog(standin) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The tables' FQNs and their columns' names, by their names."""
    tables = {fqn.rsplit(".", 1)[1].upper(): fqn for fqn in standin.all("tables")}
    columns = {
        name: {c["name"].upper(): c["name"] for c in standin.get("tables", fqn)["columns"]}
        for name, fqn in tables.items()
    }
    return tables, columns


def by_day(counts: dict[datetime, int]) -> dict[str, int]:
    return {str(when.date()): n for when, n in counts.items()}


def assert_usage(standin, usage: dict[str, dict[datetime, int]], joins: dict[datetime, int]) -> None:
    tables, columns = catalog(standin)
    for name in tables:
        assert standin.get("tables", tables[name]).get("_usage") == (by_day(usage.get(name, {})) or None), (
            name
        )
    pair = (
        f"{tables['CUSTOMERS']}.{columns['CUSTOMERS']['ID']}",
        f"{tables['ORDERS']}.{columns['ORDERS']['CUSTOMER_ID']}",
    )
    assert standin.state.joins == {pair: by_day(joins)}


def test_usage_counts_and_joins_are_the_history_s_and_a_rerun_changes_none(tmp_path, snowflake, standin):
    run = usage_jobs(tmp_path, standin, snowflake)
    assert set(standin.all("tables")) == {
        f"snow.MART.SALES.{t}" for t in ("CUSTOMERS", "ORDERS", "DAILY", "TOP_CUSTOMERS")
    }
    for _ in range(2):
        result = run()
        assert result.success
        assert_usage(standin, USAGE, JOINS)
    source, processor, stage = result.output_for_node("snow_usage_steps.stage").statuses
    assert source["records"] == 5 and source["filtered_count"] == 0
    assert processor["warnings"] == [] and stage["filtered_count"] == 0


def test_a_statement_run_in_another_database_is_not_usage_of_a_namesake(tmp_path, snowflake, standin):
    add_history(snowflake["engine"], [OTHER])
    run = usage_jobs(tmp_path, standin, snowflake)
    assert run().success
    assert_usage(standin, USAGE, JOINS)


def record(query: str, user: str, start: datetime, schema: str | None = "SALES") -> dict:
    """A query record of session 1 in MART, as the history source yields it."""
    found = {
        "query": query,
        "count": 1,
        "aborted": False,
        "database": "MART",
        "schema": schema,
        "user": user,
        "session": "1",
        "start": start.isoformat(),
        "duration": 1500.0,
    }
    return {k: v for k, v in found.items() if v is not None}


def test_the_records_are_whole_utc_days_of_successful_statements(tmp_path, snowflake, standin):
    # a colon of the condition is the condition's, not a parameter SQLAlchemy would ask for
    condition = "USER_NAME <> 'ZED' AND QUERY_TEXT NOT LIKE '%:nowhere%' AND START_TIME::DATE > '2000-01-01'"
    data = usage_recipe(standin, snowflake, str(tmp_path / "stage"), resultLimit=2, filterCondition=condition)
    source = SnowflakeQueryLog({}, None, load_recipe(write_recipe(tmp_path / "u.yaml", data)))
    records = [r.body for r in source.run() if r.kind == Kind.QUERY]
    assert records == [  # a day at most resultLimit statements, in the order they started
        record(JOIN.format("FR"), "ANN", D1),
        record(JOIN.format("DE").lower(), "BOB", D1 + timedelta(hours=10)),
        record(QUALIFIED, "ANN", D2, schema=None),  # run in no database: the connection's, no schema
        record('SELECT "ID" FROM "MART"."SALES"."CUSTOMERS"', "ANN", D2 + timedelta(hours=1)),
    ]


def test_the_schema_is_named_as_the_metadata_source_names_it(tmp_path, snowflake, standin):
    data = usage_recipe(standin, snowflake, str(tmp_path / "stage"))
    data["source"]["serviceConnection"]["config"]["database"] = "mart"  # unquoted: MART
    source = SnowflakeQueryLog({}, None, load_recipe(write_recipe(tmp_path / "u.yaml", data)))
    records = [r.body for r in source.run() if r.kind == Kind.QUERY]
    assert {(r.get("database"), r.get("schema")) for r in records} == {("mart", "SALES"), ("mart", None)}


def test_a_history_the_role_cannot_read_is_a_step_error_saying_what_to_grant(tmp_path, snowflake, standin):
    data = usage_recipe(standin, snowflake, str(tmp_path / "stage"))
    data["source"]["serviceConnection"]["config"]["accountUsageSchema"] = "NOWHERE.ACCOUNT_USAGE"
    recipe_ = load_recipe(write_recipe(tmp_path / "u.yaml", data))
    assert not [w for w in SnowflakeQueryLog.check(recipe_) if "accountUsageSchema" in w]
    with pytest.raises(StepError, match=r"NOWHERE\.ACCOUNT_USAGE\.QUERY_HISTORY .*IMPORTED PRIVILEGES"):
        list(SnowflakeQueryLog({}, None, recipe_).run())
    data["source"]["serviceConnection"]["config"]["accountUsageSchema"] = "X; DROP TABLE Y"
    with pytest.raises(StepError, match="accountUsageSchema: 'X; DROP TABLE Y' is not a schema name"):
        SnowflakeQueryLog({}, None, load_recipe(write_recipe(tmp_path / "u.yaml", data)))


def lineage_edges(tmp_path, standin, snowflake) -> dict[tuple[str, str], dict]:
    add_history(snowflake["engine"], LINEAGE)
    folder = tmp_path / "wf"
    write_recipe(folder / "snow.yaml", recipe(standin, snowflake))
    lineage = recipe(standin, snowflake)
    lineage["source"]["type"] = "snowflake-lineage"
    lineage["source"]["sourceConfig"] = {"config": {"type": "DatabaseLineage", "queryLogDuration": DURATION}}
    write_recipe(folder / "snow_lineage.yaml", lineage)
    defs = build_definitions(folder)
    assert defs.resolve_job_def("snow").execute_in_process().success
    result = defs.resolve_job_def("snow_lineage").execute_in_process()
    assert result.success
    source = result.output_for_node("snow_lineage_steps.source").statuses[-1]
    assert source["records"] == 3 and source["warnings"] == []  # the three that move data: no SELECT
    return edges(standin)


def edges(standin) -> dict[tuple[str, str], dict]:
    """The edges by their tables' Snowflake names."""

    def name(entity_id: str) -> str:
        return standin.state.by_id[entity_id][1].rsplit(".", 1)[1].upper()

    return {(name(a), name(b)): details for (a, b), details in standin.state.lineage.items()}


def columns(details: dict) -> dict[str, list[str]]:
    def name(column: str) -> str:
        return ".".join(column.upper().rsplit(".", 2)[1:])

    return {name(m["toColumn"]): [name(c) for c in m["fromColumns"]] for m in details["columnsLineage"]}


def test_lineage_of_an_insert_select_and_through_a_session_s_temporary_table(tmp_path, snowflake, standin):
    edges = lineage_edges(tmp_path, standin, snowflake)
    assert set(edges) == {("ORDERS", "DAILY"), ("ORDERS", "TOP_CUSTOMERS"), ("CUSTOMERS", "TOP_CUSTOMERS")}
    assert edges[("ORDERS", "DAILY")]["source"] == "QueryLineage"
    assert edges[("ORDERS", "DAILY")]["sqlQuery"] == masked(INSERT)
    assert columns(edges[("ORDERS", "DAILY")]) == {
        "DAILY.DAY": ["ORDERS.ORDER_DATE"],
        "DAILY.TOTAL": ["ORDERS.AMOUNT"],
    }
    assert columns(edges[("ORDERS", "TOP_CUSTOMERS")]) == {"TOP_CUSTOMERS.AMOUNT": ["ORDERS.AMOUNT"]}
    assert columns(edges[("CUSTOMERS", "TOP_CUSTOMERS")]) == {"TOP_CUSTOMERS.CUSTOMER_ID": ["CUSTOMERS.ID"]}


def test_the_official_examples_run_with_only_the_account_changed(tmp_path, snowflake, standin):
    """`snowflake.yaml`, `snowflake_usage.yaml` and `snowflake_lineage.yaml` as printed but for
    the account (and the stage's folder): a day of history (`queryLogDuration` 1), no
    `queryTag` in the usage recipe nor a `filterCondition`, so ZED's query and the tagged one
    count; the lineage recipe has no connection: the one the metadata run stored is used."""
    require_shared()
    folder = tmp_path / "wf"
    for name in ("snowflake", "snowflake_usage", "snowflake_lineage"):
        data = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
        if "serviceConnection" in data["source"]:
            data["source"]["serviceConnection"]["config"].update(
                account="acct", database="MART", connectionArguments=snowflake["arguments"]
            )
        for step in ("stage", "bulkSink"):
            if step in data:
                data[step]["config"]["filename"] = str(tmp_path / "stage")
        data["workflowConfig"]["openMetadataServerConfig"]["hostPort"] = standin.url
        write_recipe(folder / f"{name}.yaml", data)
    defs = build_definitions(folder)
    for name in ("snowflake", "snowflake_usage"):
        assert defs.resolve_job_def(name).execute_in_process().success, name
    assert_usage(standin, {"ORDERS": {D2: 3}, "CUSTOMERS": {D2: 3}, "DAILY": {D2: 1}}, {D2: 1})
    add_history(snowflake["engine"], LINEAGE)
    assert defs.resolve_job_def("snowflake_lineage").execute_in_process().success
    assert {(a, b) for a, b in edges(standin)} == {
        ("ORDERS", "DAILY"),
        ("ORDERS", "TOP_CUSTOMERS"),
        ("CUSTOMERS", "TOP_CUSTOMERS"),
    }


def test_a_join_with_a_session_s_temporary_table_is_no_join_of_the_catalog(tmp_path, snowflake, standin):
    add_history(snowflake["engine"], LINEAGE)  # its INSERT joins CUSTOMERS with BIG
    assert usage_jobs(tmp_path, standin, snowflake)().success
    usage = {
        "ORDERS": {D1: 2, D2: 2},
        "CUSTOMERS": {D1: 2, D2: 3},
        "DAILY": {D2: 1},
        "TOP_CUSTOMERS": {D2: 1},
    }
    assert_usage(standin, usage, JOINS)  # what the server took: right, the bulk sink checks
    [folder] = (tmp_path / "stage").iterdir()
    joined = {
        other.rsplit(".", 1)[0]
        for day_file in folder.glob("usage-*.jsonl")
        for line in day_file.read_text().splitlines()
        for pairs in json.loads(line)["joins"].values()
        for other, _ in pairs
    }
    assert joined == {"snow.MART.SALES.CUSTOMERS", "snow.MART.SALES.ORDERS"}
