"""MySQL (on a real MariaDB server started by .ci/services) end to end into the stand-in server."""

import pytest
import yaml

from om_dagster.core.steps import StepError
from om_dagster.location.definitions import build_definitions
from tests.conftest import EXAMPLES, execute_job, require_shared, run_sql, write_recipe
from tests.ingest import ingest

CATALOG = """
CREATE TABLE customers (
    id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, email VARCHAR(120) NOT NULL UNIQUE COMMENT 'Login',
    flag TINYINT(1), small SMALLINT, mid MEDIUMINT, big BIGINT, price DECIMAL(10, 2), ratio DOUBLE,
    f FLOAT, code CHAR(3), bio TEXT, essay LONGTEXT, photo BLOB, settings JSON, mood ENUM('ok', 'meh'),
    perms SET('r', 'w'), bits BIT(4), since YEAR, born DATE, seen DATETIME, changed TIMESTAMP NULL,
    at TIME, home POINT, area POLYGON, shape GEOMETRY) COMMENT 'Who buys';
CREATE TABLE orders (
    id BIGINT PRIMARY KEY, customer_id INT UNSIGNED NOT NULL, total DECIMAL(10, 2),
    CONSTRAINT fk_customer FOREIGN KEY (customer_id) REFERENCES customers (id));
CREATE TABLE order_lines (
    order_id BIGINT, line INT, sku VARCHAR(20), PRIMARY KEY (order_id, line), UNIQUE KEY (order_id, sku),
    FOREIGN KEY (order_id) REFERENCES orders (id));
CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100;
CREATE TABLE `select` (`from` INT)
"""


def recipe(mysql, standin, **source_config) -> dict:
    return {
        "source": {
            "type": "mysql",
            "serviceName": "my",
            "serviceConnection": {
                "config": {
                    "type": "Mysql",
                    "username": mysql.user,
                    "authType": {"password": mysql.password},
                    "hostPort": mysql.host_port,
                    "databaseSchema": mysql.database,
                }
            },
            "sourceConfig": {"config": {"type": "DatabaseMetadata", **source_config}},
        },
        "sink": {"type": "metadata-rest", "config": {}},
        "workflowConfig": {"openMetadataServerConfig": {"hostPort": standin.url}},
    }


def test_a_mysql_catalog_through_the_dagster_job(tmp_path, mysql, standin):
    run_sql(mysql, CATALOG)
    folder = tmp_path / "wf"
    write_recipe(folder / "my.yaml", recipe(mysql, standin))
    result = build_definitions(folder).resolve_job_def("my").execute_in_process(raise_on_error=False)
    assert result.success
    schema = f"my.default.{mysql.database}"
    assert set(standin.all("databases")) == {"my.default"}
    assert set(standin.all("databaseSchemas")) == {schema}
    tables = {fqn.removeprefix(f"{schema}."): t for fqn, t in standin.all("tables").items()}
    assert {n: t["tableType"] for n, t in tables.items()} == {
        "customers": "Regular",
        "orders": "Regular",
        "order_lines": "Regular",
        "big_orders": "View",
        "select": "Regular",
    }
    customers = tables["customers"]
    assert customers["description"] == "Who buys"
    cols = {c["name"]: c for c in customers["columns"]}
    assert cols["email"]["description"] == "Login" and cols["email"]["constraint"] == "UNIQUE"
    assert cols["id"]["constraint"] == "PRIMARY_KEY"
    assert {n: c["dataType"] for n, c in cols.items()} == {
        "id": "INT",
        "email": "VARCHAR",
        "flag": "TINYINT",
        "small": "SMALLINT",
        "mid": "INT",
        "big": "BIGINT",
        "price": "DECIMAL",
        "ratio": "DOUBLE",
        "f": "FLOAT",
        "code": "CHAR",
        "bio": "TEXT",
        "essay": "TEXT",
        "photo": "BLOB",
        "settings": "TEXT",
        "mood": "ENUM",
        "perms": "SET",
        "bits": "BIT",
        "since": "YEAR",
        "born": "DATE",
        "seen": "DATETIME",
        "changed": "TIMESTAMP",
        "at": "TIME",
        "home": "POINT",
        "area": "POLYGON",
        "shape": "GEOMETRY",
    }
    # MariaDB keeps JSON as LONGTEXT with a json_valid check, and says so to every client
    assert cols["settings"]["dataTypeDisplay"] == "text"
    # displayed as OpenMetadata shows MySQL types: lower case, no integer display width
    assert [cols[n]["dataTypeDisplay"] for n in ("id", "email", "price", "flag")] == [
        "int",
        "varchar(120)",
        "decimal(10,2)",
        "tinyint",
    ]
    assert (cols["price"]["precision"], cols["price"]["scale"]) == (10, 2) and cols["code"]["dataLength"] == 3
    assert {
        "constraintType": "FOREIGN_KEY",
        "columns": ["customer_id"],
        "referredColumns": [f"{schema}.customers.id"],
        "relationshipType": "MANY_TO_ONE",
    } in tables["orders"]["tableConstraints"]
    lines = tables["order_lines"]["tableConstraints"]
    assert {"constraintType": "PRIMARY_KEY", "columns": ["order_id", "line"]} in lines
    assert {"constraintType": "UNIQUE", "columns": ["order_id", "sku"]} in lines
    assert "from" in tables["big_orders"]["schemaDefinition"].lower()


def test_filters_and_mark_deleted_on_mysql(tmp_path, mysql, standin):
    run_sql(mysql, CATALOG)
    path = write_recipe(
        tmp_path / "my.yaml", recipe(mysql, standin, tableFilterPattern={"excludes": ["^order"]})
    )
    ingest(path)
    names = {fqn.rsplit(".", 1)[1] for fqn in standin.all("tables", include_deleted=False)}
    assert names == {"customers", "big_orders", "select"}
    run_sql(mysql, "DROP TABLE `select`")
    ingest(path)
    names = {fqn.rsplit(".", 1)[1] for fqn in standin.all("tables", include_deleted=False)}
    assert names == {"customers", "big_orders"}


def test_a_wrong_password_is_one_line_naming_host_and_user(tmp_path, mysql, standin):
    data = recipe(mysql, standin)
    data["source"]["serviceConnection"]["config"]["authType"]["password"] = "not-the-password"
    with pytest.raises(StepError) as err:
        ingest(write_recipe(tmp_path / "my.yaml", data))
    message = str(err.value)
    assert f"cannot read Mysql database 'default' at {mysql.host_port} as {mysql.user}" in message
    assert "Access denied" in message and "not-the-password" not in message and "\n" not in message


def test_the_official_example_runs_with_only_host_and_credentials_changed(tmp_path, mysql, standin):
    require_shared()
    run_sql(mysql, "CREATE TABLE films (id INT PRIMARY KEY, title TEXT)")
    data = yaml.safe_load((EXAMPLES / "mysql.yaml").read_text())
    config = data["source"]["serviceConnection"]["config"]
    config.update(
        hostPort=mysql.host_port,
        username=mysql.user,
        authType={"password": mysql.password},
        databaseSchema=mysql.database,
    )
    data["workflowConfig"]["openMetadataServerConfig"]["hostPort"] = standin.url
    _, sink, _ = ingest(write_recipe(tmp_path / "mysql.yaml", data))
    assert sink.failure_count == 0
    assert f"local_mysql.default.{mysql.database}.films" in standin.all("tables")


def test_an_unreachable_host_is_one_line(tmp_path, mysql, standin):
    data = recipe(mysql, standin)
    data["source"]["serviceConnection"]["config"]["hostPort"] = "127.0.0.1:1"
    with pytest.raises(StepError) as err:
        ingest(write_recipe(tmp_path / "my.yaml", data))
    message = str(err.value)
    assert (
        "at 127.0.0.1:1 as om" in message
        and "Can't connect to MySQL server" in message
        and "\n" not in message
    )


def test_dagster_job_execute_against_mariadb(tmp_path, mysql, standin):
    run_sql(mysql, CATALOG)
    write_recipe(tmp_path / "wf" / "my_cli.yaml", recipe(mysql, standin))
    done = execute_job(tmp_path / "wf", "my_cli")
    assert "RUN_SUCCESS" in done.stderr, done.stderr[-2000:]
    assert len(standin.all("tables")) == 5 and mysql.password not in done.stderr
