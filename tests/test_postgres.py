"""PostgreSQL end to end on a real server (started by .ci/services) into the stand-in server."""

import pytest
import yaml

from om_dagster.core.steps import StepError
from om_dagster.location.definitions import build_definitions
from tests.conftest import EXAMPLES, execute_job, require_shared, run_sql, write_recipe
from tests.ingest import ingest

CATALOG = """
CREATE SCHEMA shop;
CREATE SCHEMA "odd.schema";
CREATE TABLE shop.customers (
    id SERIAL PRIMARY KEY, email VARCHAR(120) NOT NULL UNIQUE, name TEXT, balance NUMERIC(12, 2),
    created TIMESTAMP, created_tz TIMESTAMPTZ, ttl INTERVAL, uid UUID, profile JSONB, raw JSON,
    tags INTEGER[], photo BYTEA, ip INET, net CIDR, mac MACADDR, price MONEY, doc TSVECTOR, x XML,
    spot POINT, flags BIT(3), active BOOLEAN, born DATE, small SMALLINT, big BIGINT, ratio DOUBLE PRECISION,
    code CHAR(4));
COMMENT ON TABLE shop.customers IS 'Who buys';
COMMENT ON COLUMN shop.customers.email IS 'Login and contact';
CREATE TABLE shop.orders (
    id BIGINT PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES shop.customers (id), total NUMERIC(10, 2));
CREATE TABLE shop.order_lines (
    order_id BIGINT REFERENCES shop.orders (id), line INTEGER, sku TEXT, PRIMARY KEY (order_id, line),
    UNIQUE (order_id, sku));
CREATE VIEW shop.big_orders AS SELECT id, total FROM shop.orders WHERE total > 100;
CREATE MATERIALIZED VIEW shop.order_totals AS SELECT customer_id, SUM(total) AS total FROM shop.orders
    GROUP BY customer_id;
CREATE TABLE shop.events (id BIGINT, at DATE NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE "odd.schema"."Mixed Case" ("Key" INTEGER PRIMARY KEY, ref INTEGER REFERENCES shop.customers (id))
"""


def recipe(postgres, standin, **source_config) -> dict:
    return {
        "source": {
            "type": "postgres",
            "serviceName": "pg",
            "serviceConnection": {
                "config": {
                    "type": "Postgres",
                    "username": postgres.user,
                    "authType": {"password": postgres.password},
                    "hostPort": postgres.host_port,
                    "database": postgres.database,
                }
            },
            "sourceConfig": {
                "config": {
                    "type": "DatabaseMetadata",
                    "schemaFilterPattern": {"excludes": ["^information_schema$", "^pg_"]},
                    **source_config,
                }
            },
        },
        "sink": {"type": "metadata-rest", "config": {}},
        "workflowConfig": {"openMetadataServerConfig": {"hostPort": standin.url}},
    }


def columns(table: dict) -> dict:
    return {c["name"]: c for c in table["columns"]}


def test_a_postgres_catalog_through_the_dagster_job(tmp_path, postgres, standin):
    run_sql(postgres, CATALOG)
    folder = tmp_path / "wf"
    write_recipe(folder / "pg.yaml", recipe(postgres, standin))
    result = build_definitions(folder).resolve_job_def("pg").execute_in_process(raise_on_error=False)
    assert result.success
    db = f"pg.{postgres.database}"
    assert set(standin.all("databaseSchemas")) == {f"{db}.public", f"{db}.shop", f'{db}."odd.schema"'}
    tables = {fqn.removeprefix(f"{db}."): t for fqn, t in standin.all("tables").items()}
    assert {name: t["tableType"] for name, t in tables.items()} == {
        "shop.customers": "Regular",
        "shop.orders": "Regular",
        "shop.order_lines": "Regular",
        "shop.big_orders": "View",
        "shop.order_totals": "MaterializedView",
        "shop.events": "Partitioned",
        '"odd.schema".Mixed Case': "Regular",
    }
    customers = tables["shop.customers"]
    assert customers["description"] == "Who buys"
    cols = columns(customers)
    assert cols["email"]["description"] == "Login and contact"
    assert cols["id"]["constraint"] == "PRIMARY_KEY" and cols["email"]["constraint"] == "UNIQUE"
    assert {name: c["dataType"] for name, c in cols.items()} == {
        "id": "INT",
        "email": "VARCHAR",
        "name": "TEXT",
        "balance": "NUMERIC",
        "created": "TIMESTAMP",
        "created_tz": "TIMESTAMPZ",
        "ttl": "INTERVAL",
        "uid": "UUID",
        "profile": "JSON",
        "raw": "JSON",
        "tags": "ARRAY",
        "photo": "BYTEA",
        "ip": "INET",
        "net": "CIDR",
        "mac": "MACADDR",
        "price": "MONEY",
        "doc": "TSVECTOR",
        "x": "XML",
        "spot": "POINT",
        "flags": "BIT",
        "active": "BOOLEAN",
        "born": "DATE",
        "small": "SMALLINT",
        "big": "BIGINT",
        "ratio": "DOUBLE",
        "code": "CHAR",
    }
    assert cols["tags"]["arrayDataType"] == "INT"
    # displayed as PostgreSQL writes the type, as OpenMetadata shows it
    assert [cols[n]["dataTypeDisplay"] for n in ("tags", "created_tz", "ratio", "balance", "id")] == [
        "integer[]",
        "timestamp with time zone",
        "double precision",
        "numeric(12,2)",
        "integer",
    ]
    assert (cols["balance"]["precision"], cols["balance"]["scale"]) == (12, 2)
    assert cols["email"]["dataLength"] == 120
    lines = tables["shop.order_lines"]["tableConstraints"]
    assert {"constraintType": "PRIMARY_KEY", "columns": ["order_id", "line"]} in lines
    assert {"constraintType": "UNIQUE", "columns": ["order_id", "sku"]} in lines
    mixed = tables['"odd.schema".Mixed Case']["tableConstraints"]
    assert mixed == [
        {
            "constraintType": "FOREIGN_KEY",
            "columns": ["ref"],
            "referredColumns": [f"{db}.shop.customers.id"],
            "relationshipType": "MANY_TO_ONE",
        }
    ]
    assert "SUM(orders.total)" in tables["shop.order_totals"]["schemaDefinition"].replace("sum(", "SUM(")
    assert tables["shop.big_orders"]["schemaDefinition"].startswith("create view shop.big_orders as  SELECT")


KEYS_AND_PARTITIONS = """
CREATE TABLE public.customers (id INTEGER PRIMARY KEY);
CREATE SCHEMA crm;
CREATE TABLE crm.customers (id INTEGER PRIMARY KEY);
CREATE TABLE crm.contacts (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES public.customers (id),
    crm_customer_id INTEGER REFERENCES crm.customers (id));
CREATE TABLE crm.measurements (id BIGINT, at DATE NOT NULL, region TEXT) PARTITION BY RANGE (at, id);
CREATE TABLE crm.measurements_2024 PARTITION OF crm.measurements
    FOR VALUES FROM ('2024-01-01', 0) TO ('2025-01-01', 0);
CREATE TABLE crm.measurements_2025 PARTITION OF crm.measurements
    FOR VALUES FROM ('2025-01-01', 0) TO ('2026-01-01', 0);
CREATE TABLE crm.by_region (id BIGINT, region TEXT) PARTITION BY LIST (region);
CREATE TABLE crm.by_region_eu PARTITION OF crm.by_region FOR VALUES IN ('eu')
"""


def test_keys_to_the_default_schema_and_partitions_as_openmetadata_has_them(postgres, standin, tmp_path):
    run_sql(postgres, KEYS_AND_PARTITIONS)
    source, sink, _ = ingest(write_recipe(tmp_path / "pg.yaml", recipe(postgres, standin)))
    assert source.failure_count == sink.failure_count == 0
    db = f"pg.{postgres.database}"
    # PostgreSQL leaves `public` (on the search path) out of the key's definition
    contacts = standin.get("tables", f"{db}.crm.contacts")
    assert {c["columns"][0]: c["referredColumns"] for c in contacts["tableConstraints"]} == {
        "customer_id": [f"{db}.public.customers.id"],
        "crm_customer_id": [f"{db}.crm.customers.id"],
    }
    tables = {fqn.removeprefix(f"{db}.") for fqn in standin.all("tables")}
    assert tables == {
        "public.customers",
        "crm.customers",
        "crm.contacts",
        "crm.measurements",
        "crm.by_region",
    }
    measurements = standin.get("tables", f"{db}.crm.measurements")
    assert measurements["tableType"] == "Partitioned"
    assert measurements["tablePartition"] == {
        "columns": [
            {"columnName": "at", "intervalType": "TIME-UNIT"},
            {"columnName": "id", "intervalType": "TIME-UNIT"},
        ]
    }
    by_region = standin.get("tables", f"{db}.crm.by_region")
    assert by_region["tablePartition"] == {
        "columns": [{"columnName": "region", "intervalType": "COLUMN-VALUE"}]
    }
    assert "tablePartition" not in contacts


def test_filters_and_mark_deleted_on_postgres(tmp_path, postgres, standin):
    run_sql(postgres, CATALOG)
    path = write_recipe(
        tmp_path / "pg.yaml",
        recipe(
            postgres,
            standin,
            schemaFilterPattern={"includes": ["^shop$"]},
            tableFilterPattern={"excludes": ["^order_"]},
        ),
    )
    ingest(path)
    names = {fqn.rsplit(".", 1)[1] for fqn in standin.all("tables", include_deleted=False)}
    assert names == {"customers", "orders", "big_orders", "events"}
    run_sql(postgres, "DROP VIEW shop.big_orders")
    ingest(path)
    names = {fqn.rsplit(".", 1)[1] for fqn in standin.all("tables", include_deleted=False)}
    assert names == {"customers", "orders", "events"}


def test_ingest_all_databases_walks_each_database(tmp_path, postgres, standin):
    run_sql(postgres, "CREATE TABLE one (x INT)")
    data = recipe(
        postgres, standin, databaseFilterPattern={"includes": [f"^{postgres.database}$", "^postgres$"]}
    )
    data["source"]["serviceConnection"]["config"]["ingestAllDatabases"] = True
    ingest(write_recipe(tmp_path / "pg.yaml", data))
    assert set(standin.all("databases")) == {f"pg.{postgres.database}", "pg.postgres"}
    assert f"pg.{postgres.database}.public.one" in standin.all("tables")


def test_a_wrong_password_is_one_line_naming_host_and_user(tmp_path, postgres, standin):
    data = recipe(postgres, standin)
    data["source"]["serviceConnection"]["config"]["authType"]["password"] = "not-the-password"
    with pytest.raises(StepError) as err:
        ingest(write_recipe(tmp_path / "pg.yaml", data))
    message = str(err.value)
    assert (
        f"cannot read Postgres database '{postgres.database}' at {postgres.host_port} as {postgres.user}"
        in message
    )
    assert "password authentication failed" in message
    assert "not-the-password" not in message and "\n" not in message


def test_an_unreachable_host_is_one_line(tmp_path, postgres, standin):
    data = recipe(postgres, standin)
    data["source"]["serviceConnection"]["config"]["hostPort"] = "127.0.0.1:1"
    with pytest.raises(StepError) as err:
        ingest(write_recipe(tmp_path / "pg.yaml", data))
    assert "at 127.0.0.1:1 as om" in str(err.value) and "Connection refused" in str(err.value)


def test_the_official_example_runs_with_only_host_and_credentials_changed(tmp_path, postgres, standin):
    require_shared()
    run_sql(postgres, "CREATE TABLE films (id INT PRIMARY KEY, title TEXT)")
    data = yaml.safe_load((EXAMPLES / "postgres.yaml").read_text())
    config = data["source"]["serviceConnection"]["config"]
    config.update(
        hostPort=postgres.host_port,
        username=postgres.user,
        authType={"password": postgres.password},
        database=postgres.database,
    )
    data["workflowConfig"]["openMetadataServerConfig"]["hostPort"] = standin.url
    _, sink, _ = ingest(write_recipe(tmp_path / "postgres.yaml", data))
    assert sink.failure_count == 0
    assert f"local_postgres.{postgres.database}.public.films" in standin.all("tables")


def test_dagster_job_execute_against_postgres_twice_without_changes(tmp_path, postgres, standin):
    run_sql(postgres, CATALOG)
    folder = tmp_path / "wf"
    write_recipe(folder / "pg_cli.yaml", recipe(postgres, standin))
    first = execute_job(folder, "pg_cli")
    assert "RUN_SUCCESS" in first.stderr, first.stderr[-2000:]
    versions = {k: v["version"] for k, v in standin.all("tables").items()}
    assert len(versions) == 7
    second = execute_job(folder, "pg_cli")
    assert "RUN_SUCCESS" in second.stderr, second.stderr[-2000:]
    assert {k: v["version"] for k, v in standin.all("tables").items()} == versions
    assert postgres.password not in first.stderr + second.stderr
