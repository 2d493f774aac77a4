"""Glue and DynamoDB end to end against a moto server (started by .ci/services) into the stand-in."""

import boto3
import pytest
import requests
import yaml

from om_dagster.core.steps import StepError
from om_dagster.location.aws import AwsCredentials
from om_dagster.location.definitions import build_definitions
from tests.conftest import EXAMPLES, execute_job, require_shared, write_recipe
from tests.ingest import ingest

REGION = "us-east-1"
KEYS = {"aws_access_key_id": "AKIATESTKEY", "aws_secret_access_key": "test-secret-key"}


def client(moto: str, name: str):
    return boto3.client(name, endpoint_url=moto, region_name=REGION, **KEYS)


def recipe(kind: str, moto: str, standin, keys: bool = True, **connection) -> dict:
    aws = {"awsRegion": REGION, "endPointURL": moto}
    if keys:
        aws |= {
            "awsAccessKeyId": KEYS["aws_access_key_id"],
            "awsSecretAccessKey": KEYS["aws_secret_access_key"],
        }
    return {
        "source": {
            "type": kind,
            "serviceName": kind,
            "serviceConnection": {
                "config": {
                    "type": {"glue": "Glue", "dynamodb": "DynamoDB"}[kind],
                    "awsConfig": aws,
                    **connection,
                }
            },
            "sourceConfig": {"config": {"type": "DatabaseMetadata"}},
        },
        "sink": {"type": "metadata-rest", "config": {}},
        "workflowConfig": {"openMetadataServerConfig": {"hostPort": standin.url}},
    }


def glue_catalog(moto: str) -> None:
    glue = client(moto, "glue")
    glue.create_database(DatabaseInput={"Name": "sales", "Description": "Sales data"})
    glue.create_database(DatabaseInput={"Name": "raw"})
    glue.create_table(
        DatabaseName="sales",
        TableInput={
            "Name": "orders",
            "Description": "One row an order",
            "TableType": "EXTERNAL_TABLE",
            "StorageDescriptor": {
                "Columns": [
                    {"Name": "id", "Type": "bigint", "Comment": "order id"},
                    {"Name": "amount", "Type": "decimal(10,2)"},
                    {"Name": "code", "Type": "varchar(12)"},
                    {"Name": "lines", "Type": "array<struct<sku:string,qty:int>>"},
                    {"Name": "attrs", "Type": "map<string,string>"},
                    {"Name": "buyer", "Type": "struct<name:string,age:int>"},
                ],
                "Location": "s3://bucket/sales/orders/",
                "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "SerdeInfo": {
                    "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                },
            },
            "PartitionKeys": [{"Name": "day", "Type": "date"}],
        },
    )
    glue.create_table(
        DatabaseName="sales",
        TableInput={
            "Name": "big_orders",
            "TableType": "VIRTUAL_VIEW",
            "ViewOriginalText": "SELECT * FROM orders WHERE amount > 100",
            "StorageDescriptor": {"Columns": [{"Name": "id", "Type": "bigint"}]},
        },
    )
    glue.create_table(
        DatabaseName="raw",
        TableInput={
            "Name": "events",
            "Parameters": {"table_type": "ICEBERG"},
            "StorageDescriptor": {
                "Columns": [{"Name": "at", "Type": "timestamp"}, {"Name": "x", "Type": "geography"}]
            },
        },
    )


def test_glue_catalog_with_credentials_from_the_dagster_aws_resource(tmp_path, moto, standin):
    glue_catalog(moto)
    folder = tmp_path / "wf"
    write_recipe(folder / "glue.yaml", recipe("glue", moto, standin, keys=False))
    job = build_definitions(folder).resolve_job_def("glue")
    assert "aws_source" in {node.name for node in job.graph.node_named("glue_steps").definition.nodes}
    without = job.execute_in_process(raise_on_error=False)
    assert not without.success  # nothing in the recipe, the resource or the environment
    result = job.execute_in_process(resources={"aws": AwsCredentials(**KEYS)}, raise_on_error=False)
    assert result.success
    assert set(standin.all("databaseSchemas")) == {"glue.123456789012.sales", "glue.123456789012.raw"}
    tables = {k.split(".", 2)[2]: v for k, v in standin.all("tables").items()}
    assert {name: t["tableType"] for name, t in tables.items()} == {
        "sales.orders": "External",
        "sales.big_orders": "View",
        "raw.events": "Iceberg",
    }
    orders = tables["sales.orders"]
    assert orders["description"] == "One row an order"
    assert orders["locationPath"] == "s3://bucket/sales/orders/" and orders["fileFormat"] == "parquet"
    cols = {c["name"]: c for c in orders["columns"]}
    assert [c["name"] for c in orders["columns"]] == [
        "id",
        "amount",
        "code",
        "lines",
        "attrs",
        "buyer",
        "day",
    ]
    assert cols["id"]["description"] == "order id"
    assert (cols["amount"]["dataType"], cols["amount"]["precision"], cols["amount"]["scale"]) == (
        "DECIMAL",
        10,
        2,
    )
    assert (cols["code"]["dataType"], cols["code"]["dataLength"]) == ("VARCHAR", 12)
    assert (cols["lines"]["dataType"], cols["lines"]["arrayDataType"]) == ("ARRAY", "STRUCT")
    assert [c["name"] for c in cols["lines"]["children"]] == ["sku", "qty"]
    assert cols["attrs"]["dataType"] == "MAP"
    assert [(c["name"], c["dataType"]) for c in cols["buyer"]["children"]] == [
        ("name", "STRING"),
        ("age", "INT"),
    ]
    assert cols["day"]["dataType"] == "DATE"
    assert tables["sales.big_orders"]["schemaDefinition"] == "SELECT * FROM orders WHERE amount > 100"
    events = {c["name"]: c["dataType"] for c in tables["raw.events"]["columns"]}
    assert events == {"at": "TIMESTAMP", "x": "UNKNOWN"}


def test_glue_without_any_credentials_is_one_clear_line(tmp_path, moto, standin):
    with pytest.raises(StepError) as err:
        ingest(write_recipe(tmp_path / "glue.yaml", recipe("glue", moto, standin, keys=False)))
    assert str(err.value).endswith("Glue: listing failed: Unable to locate credentials")


def test_glue_database_name_and_filters(tmp_path, moto, standin):
    glue_catalog(moto)
    data = recipe("glue", moto, standin, databaseName="lake")
    data["source"]["sourceConfig"]["config"]["schemaFilterPattern"] = {"includes": ["^sales$"]}
    data["source"]["sourceConfig"]["config"]["includeViews"] = False
    ingest(write_recipe(tmp_path / "glue.yaml", data))
    assert set(standin.all("tables")) == {"glue.lake.sales.orders"}


def test_dynamodb_more_tables_than_one_page(tmp_path, moto, standin):
    dynamodb = client(moto, "dynamodb")
    for i in range(130):  # ListTables answers at most 100 names a page
        keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
        attributes = [{"AttributeName": "pk", "AttributeType": "S"}]
        if i % 2:
            keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
            attributes.append({"AttributeName": "sk", "AttributeType": "N"})
        dynamodb.create_table(
            TableName=f"t{i:03}",
            KeySchema=keys,
            AttributeDefinitions=attributes,
            BillingMode="PAY_PER_REQUEST",
        )
    _, sink, _ = ingest(
        write_recipe(tmp_path / "ddb.yaml", recipe("dynamodb", moto, standin, databaseName="app"))
    )
    tables = standin.all("tables")
    assert len(tables) == 130 and sink.failure_count == 0
    simple, composite = tables["dynamodb.app.default.t000"], tables["dynamodb.app.default.t001"]
    assert simple["columns"] == [
        {
            "name": "pk",
            "dataType": "STRING",
            "dataTypeDisplay": "string",
            "dataLength": 1,
            "ordinalPosition": 1,
            "constraint": "PRIMARY_KEY",
            "fullyQualifiedName": "dynamodb.app.default.t000.pk",
        }
    ]
    assert [(c["name"], c["dataType"]) for c in composite["columns"]] == [("pk", "STRING"), ("sk", "NUMBER")]
    assert composite["tableConstraints"] == [
        {"constraintType": "PRIMARY_KEY", "columns": ["pk", "sk"]},
        {"constraintType": "SORT_KEY", "columns": ["sk"]},
    ]


@pytest.mark.parametrize("name", ["glue", "dynamodb"])
def test_the_official_examples_run_with_only_endpoint_and_credentials_changed(tmp_path, moto, standin, name):
    require_shared()
    client(moto, "glue").create_database(DatabaseInput={"Name": "sales"})
    client(moto, "dynamodb").create_table(
        TableName="users",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    data = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    data["source"]["serviceConnection"]["config"]["awsConfig"].update(
        awsAccessKeyId=KEYS["aws_access_key_id"],
        awsSecretAccessKey=KEYS["aws_secret_access_key"],
        endPointURL=moto,
    )
    data["workflowConfig"]["openMetadataServerConfig"]["hostPort"] = standin.url
    source, sink, _ = ingest(write_recipe(tmp_path / f"{name}.yaml", data))
    assert source.failure_count == 0 and sink.failure_count == 0
    assert standin.all("databaseSchemas")


def test_assume_role_goes_through_sts(tmp_path, moto, standin):
    glue_catalog(moto)
    data = recipe("glue", moto, standin)
    data["source"]["serviceConnection"]["config"]["awsConfig"]["assumeRoleArn"] = (
        "arn:aws:iam::123456789012:role/catalog-reader"
    )
    source, _, _ = ingest(write_recipe(tmp_path / "glue.yaml", data))
    assert source.failure_count == 0 and len(standin.all("tables")) == 3
    # moto keeps the roles it was asked to assume: the walk ran on the role's keys
    assumed = requests.get(f"{moto}/moto-api/data.json", timeout=10).json()["sts"]["AssumedRole"]
    assert [role["role_arn"] for role in assumed] == ["arn:aws:iam::123456789012:role/catalog-reader"]


def test_dynamodb_through_the_dagster_job_marks_dropped_tables_deleted(tmp_path, moto, standin):
    dynamodb = client(moto, "dynamodb")
    for name in ("users", "orders"):
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    folder = tmp_path / "wf"
    write_recipe(folder / "ddb.yaml", recipe("dynamodb", moto, standin))
    job = build_definitions(folder).resolve_job_def("ddb")
    assert job.execute_in_process().success
    dynamodb.delete_table(TableName="orders")
    assert job.execute_in_process().success
    live = set(standin.all("tables", include_deleted=False))
    assert live == {"dynamodb.default.default.users"}
    assert standin.get("tables", "dynamodb.default.default.orders")["deleted"] is True


def test_dagster_job_execute_takes_aws_keys_from_the_resource(tmp_path, moto, standin):
    glue_catalog(moto)
    folder = tmp_path / "wf"
    write_recipe(folder / "lake.yaml", recipe("glue", moto, standin, keys=False))
    done = execute_job(
        folder,
        "lake",
        OM_DAGSTER_AWS_ACCESS_KEY_ID="AKIATESTKEY",
        OM_DAGSTER_AWS_SECRET_ACCESS_KEY="test-secret-key",
    )
    assert "RUN_SUCCESS" in done.stderr, done.stderr[-2000:]
    assert "test-secret-key" not in done.stderr + done.stdout
    assert len(standin.all("tables")) == 3


def test_dynamodb_through_dagster_job_execute(tmp_path, moto, standin):
    client(moto, "dynamodb").create_table(
        TableName="users",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    write_recipe(tmp_path / "wf" / "ddb_cli.yaml", recipe("dynamodb", moto, standin))
    done = execute_job(tmp_path / "wf", "ddb_cli")
    assert "RUN_SUCCESS" in done.stderr, done.stderr[-2000:]
    assert set(standin.all("tables")) == {"dynamodb.default.default.users"}
