"""Snowflake through fakesnow (Snowflake's connector over DuckDB), in its own environment.

A fakesnow server on 127.0.0.1 stands in for the account. Run with
`.venv-snowflake/bin/pytest -o addopts= tests/snowflake` (what .ci/run does): the
Snowflake driver pins SQLAlchemy < 2.1, so these tests never run in the main venv.
fakesnow's limits, as found: table comments are dropped, OBJECT and ARRAY read back as
VARIANT, foreign keys cannot be reflected (its SHOW IMPORTED KEYS breaks the dialect), and
it has no query history.
"""

import statistics
from collections.abc import Iterator

import pytest
import sqlalchemy
import yaml

from om_dagster.location.definitions import build_definitions
from tests.conftest import EXAMPLES, execute_job, require_shared, write_recipe
from tests.ingest import ingest
from tests.snowflake.account import connection as snowflake_connection
from tests.snowflake.account import fakesnow_account

CATALOG = """
create schema if not exists SHOP.SALES;
create table SHOP.SALES.CUSTOMERS (ID NUMBER(38,0) PRIMARY KEY, EMAIL VARCHAR(120) NOT NULL, SINCE DATE);
create table SHOP.SALES.ORDERS (ID NUMBER(38,0) PRIMARY KEY, CUSTOMER_ID NUMBER(38,0),
    AMOUNT NUMBER(10,2), NOTE VARCHAR(20), PAYLOAD VARIANT, TZ TIMESTAMP_TZ, NTZ TIMESTAMP_NTZ, PAID BOOLEAN,
    RAW BINARY, RATE FLOAT);
create view SHOP.SALES.BIG_ORDERS as select ID, AMOUNT from SHOP.SALES.ORDERS where AMOUNT > 100
"""


@pytest.fixture
def snowflake() -> Iterator[dict]:
    """A fakesnow account holding the catalog; yields the connection arguments."""
    with fakesnow_account("SHOP", CATALOG, ("SHOP.SALES",)) as (arguments, _):
        yield arguments


def recipe(standin, snowflake: dict, **connection) -> dict:
    return {
        "source": {
            "type": "snowflake",
            "serviceName": "snow",
            "serviceConnection": {"config": snowflake_connection(snowflake, "SHOP", **connection)},
            "sourceConfig": {
                "config": {
                    "type": "DatabaseMetadata",
                    "schemaFilterPattern": {"excludes": ["^information_schema$"]},
                }
            },
        },
        "sink": {"type": "metadata-rest", "config": {}},
        "workflowConfig": {"openMetadataServerConfig": {"hostPort": standin.url}},
    }


def test_a_snowflake_catalog_through_the_dagster_job(tmp_path, snowflake, standin):
    folder = tmp_path / "wf"
    write_recipe(folder / "snow.yaml", recipe(standin, snowflake))
    result = build_definitions(folder).resolve_job_def("snow").execute_in_process(raise_on_error=False)
    assert result.success  # fakesnow cannot give foreign keys: a warning, the tables still go in
    # names as Snowflake stores them, as OpenMetadata's own connector keeps them
    assert set(standin.all("databaseSchemas")) == {"snow.SHOP.SALES"}
    tables = {k.rsplit(".", 1)[1]: v for k, v in standin.all("tables").items()}
    assert {n: t["tableType"] for n, t in tables.items()} == {
        "CUSTOMERS": "Regular",
        "ORDERS": "Regular",
        "BIG_ORDERS": "View",
    }
    cols = {c["name"]: c for c in tables["ORDERS"]["columns"]}
    assert {n: c["dataType"] for n, c in cols.items()} == {
        "ID": "DECIMAL",
        "CUSTOMER_ID": "DECIMAL",
        "AMOUNT": "DECIMAL",
        "NOTE": "VARCHAR",
        "PAYLOAD": "VARIANT",
        "TZ": "TIMESTAMPZ",
        "NTZ": "TIMESTAMP",
        "PAID": "BOOLEAN",
        "RAW": "BINARY",
        "RATE": "FLOAT",
    }
    assert (cols["AMOUNT"]["precision"], cols["AMOUNT"]["scale"]) == (10, 2)
    assert cols["ID"]["constraint"] == "PRIMARY_KEY" and cols["NOTE"]["dataLength"] == 20
    assert "WHERE (AMOUNT > 100)" in tables["BIG_ORDERS"]["schemaDefinition"]


def test_the_official_example_runs_with_only_the_account_changed(tmp_path, snowflake, standin):
    require_shared()
    data = yaml.safe_load((EXAMPLES / "snowflake.yaml").read_text())
    data["source"]["serviceConnection"]["config"].update(
        account="acct", database="SHOP", connectionArguments=snowflake
    )
    data["workflowConfig"]["openMetadataServerConfig"]["hostPort"] = standin.url
    source, sink, _ = ingest(write_recipe(tmp_path / "snowflake.yaml", data))
    assert source.failure_count == 0 and sink.failure_count == 0
    assert "snowflake.SHOP.SALES.ORDERS" in standin.all("tables")


def test_filters_and_mark_deleted_on_snowflake(tmp_path, snowflake, standin):
    data = recipe(standin, snowflake)
    data["source"]["sourceConfig"]["config"]["tableFilterPattern"] = {"excludes": ["^big_"]}
    path = write_recipe(tmp_path / "snow.yaml", data)
    ingest(path)
    assert set(standin.all("tables")) == {"snow.SHOP.SALES.CUSTOMERS", "snow.SHOP.SALES.ORDERS"}
    engine = sqlalchemy.create_engine("snowflake://u:p@acct/SHOP?warehouse=wh", connect_args=snowflake)
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text("drop table SHOP.SALES.CUSTOMERS"))
    ingest(path)
    assert set(standin.all("tables", include_deleted=False)) == {"snow.SHOP.SALES.ORDERS"}


def test_dagster_job_execute_against_the_fakesnow_server(tmp_path, snowflake, standin):
    write_recipe(tmp_path / "wf" / "snow_cli.yaml", recipe(standin, snowflake))
    done = execute_job(tmp_path / "wf", "snow_cli")
    assert "RUN_SUCCESS" in done.stderr, done.stderr[-2000:]
    assert len(standin.all("tables")) == 3


def test_a_profile_of_snowflake_tables_has_the_numbers_computed_independently(tmp_path, snowflake, standin):
    amounts = [None if i % 7 == 0 else round(i * 3.25 + (i % 3) * 0.01, 2) for i in range(1, 201)]
    notes = [None if i % 11 == 0 else f"n{i % 13}é" for i in range(1, 201)]
    engine = sqlalchemy.create_engine("snowflake://u:p@acct/SHOP?warehouse=wh", connect_args=snowflake)
    with engine.begin() as conn:
        conn.execute(
            sqlalchemy.text("insert into SHOP.SALES.ORDERS (ID, AMOUNT, NOTE) values (:i, :a, :n)"),
            [{"i": i, "a": a, "n": n} for i, a, n in zip(range(1, 201), amounts, notes, strict=True)],
        )
    engine.dispose()
    folder = tmp_path / "wf"
    write_recipe(folder / "snow.yaml", recipe(standin, snowflake))
    profiler = recipe(standin, snowflake)
    profiler["source"]["sourceConfig"]["config"] = {
        "type": "Profiler",
        "tableFilterPattern": {"includes": ["orders"]},
    }
    profiler["processor"] = {"type": "orm-profiler", "config": {}}
    write_recipe(folder / "snow_profiler.yaml", profiler)
    defs = build_definitions(folder)
    assert defs.resolve_job_def("snow").execute_in_process(raise_on_error=False).success
    assert defs.resolve_job_def("snow_profiler").execute_in_process().success
    [profile] = standin.profiles("snow.SHOP.SALES.ORDERS")
    assert profile["tableProfile"]["rowCount"] == 200
    cols = {c["name"]: c for c in profile["columnProfile"]}
    values = sorted(a for a in amounts if a is not None)
    amount = cols["AMOUNT"]
    assert (amount["valuesCount"], amount["nullCount"]) == (len(values), 200 - len(values))
    assert amount["sum"] == pytest.approx(sum(values)) and amount["mean"] == pytest.approx(
        statistics.fmean(values)
    )
    assert amount["stddev"] == pytest.approx(statistics.pstdev(values))
    assert amount["median"] == pytest.approx(statistics.median(values))
    kept = [n for n in notes if n is not None]
    assert cols["NOTE"]["distinctCount"] == len(set(kept))
    assert (cols["NOTE"]["minLength"], cols["NOTE"]["maxLength"]) == (
        min(map(len, kept)),
        max(map(len, kept)),
    )
