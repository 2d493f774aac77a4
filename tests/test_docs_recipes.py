"""Recipes as the OpenMetadata docs print them (tests/recipes/docs), with only endpoints and
credentials changed, run green from a workflows folder; their older fields are warnings."""

from pathlib import Path

import boto3
import pytest

from om_dagster.core.loader import load_recipe
from om_dagster.core.recipe import RecipeError
from om_dagster.location.definitions import build_definitions
from tests.conftest import ROOT, execute_job, run_sql

DOCS = ROOT / "tests" / "recipes" / "docs"


def pasted(name: str, folder: Path, changes: dict[str, str]) -> Path:
    """The docs' recipe in `folder`, with each endpoint or credential string replaced."""
    text = (DOCS / name).read_text()
    for old, new in changes.items():
        assert old in text, f"{name} no longer holds {old!r}"
        text = text.replace(old, new)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def test_the_glue_json_runs_from_workflows_with_its_older_fields_as_warnings(tmp_path, moto, standin):
    glue = boto3.client(
        "glue",
        endpoint_url=moto,
        region_name="us-east-2",
        aws_access_key_id="KEY",
        aws_secret_access_key="SECRET",
    )
    glue.create_database(DatabaseInput={"Name": "sales"})
    glue.create_table(
        DatabaseName="sales",
        TableInput={
            "Name": "orders",
            "StorageDescriptor": {
                "Columns": [{"Name": "id", "Type": "bigint"}, {"Name": "day", "Type": "date"}]
            },
        },
    )
    folder = tmp_path / "workflows"
    pasted(
        "glue.json",
        folder,
        {"https://glue.us-east-2.amazonaws.com/": moto, "http://localhost:8585/api": standin.url},
    )
    done = execute_job(folder, "glue")
    assert "RUN_SUCCESS" in done.stderr, done.stderr[-3000:]
    # `database` is read as its successor, databaseName
    assert set(standin.all("tables")) == {"local_glue.local_glue_db.sales.orders"}
    for field in ("database", "storageServiceName", "pipelineServiceName"):
        assert (
            f"source.serviceConnection.config.{field}: a field of older OpenMetadata releases" in done.stderr
        )
    assert (
        "source.sourceConfig.config.enableDataProfiler: a field of older OpenMetadata releases" in done.stderr
    )
    assert "run a Profiler recipe for this service" in done.stderr
    assert "authProvider: 'no-auth' was removed in 1.3" in done.stderr


def test_the_dynamodb_yaml_runs_with_database_read_as_database_name(tmp_path, moto, standin):
    dynamo = boto3.client(
        "dynamodb",
        endpoint_url=moto,
        region_name="eu-west-1",
        aws_access_key_id="aws_access_key_id",
        aws_secret_access_key="aws_secret_access_key",
    )
    dynamo.create_table(
        TableName="users",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    folder = tmp_path / "workflows"
    path = pasted(
        "dynamodb.yaml",
        folder,
        {
            "awsRegion: aws region": "awsRegion: eu-west-1",
            "https://dynamodb.<region_name>.amazonaws.com": moto,
            "http://localhost:8585/api": standin.url,
        },
    )
    warnings = load_recipe(path).warnings
    assert any("config.database: a field of older OpenMetadata releases" in w for w in warnings)
    result = build_definitions(folder).resolve_job_def("dynamodb").execute_in_process(raise_on_error=False)
    assert result.success
    assert set(standin.all("tables")) == {"local_dynamodb.custom_database_name.default.users"}


def test_the_mysql_yaml_runs_with_its_password_under_config(tmp_path, mysql, standin):
    run_sql(mysql, "CREATE TABLE films (id INT PRIMARY KEY, title TEXT)")
    folder = tmp_path / "workflows"
    path = pasted(
        "mysql.yaml",
        folder,
        {
            "<service name>": "local_mysql",
            "<username>": mysql.user,
            "<password>": mysql.password,
            "<hostPort>": mysql.host_port,
            '"<OpenMetadata host and port>"': standin.url,
            '"<OpenMetadata auth provider>"': "no-auth",
        },
    )
    warnings = load_recipe(path).warnings
    assert any("config.password: a field of older OpenMetadata releases, moved in 1.1" in w for w in warnings)
    result = build_definitions(folder).resolve_job_def("mysql").execute_in_process(raise_on_error=False)
    assert result.success
    assert f"local_mysql.default.{mysql.database}.films" in standin.all("tables")


def test_a_sso_login_of_older_docs_is_one_line_saying_what_servers_take(tmp_path):
    recipe = (
        (DOCS / "dynamodb.yaml")
        .read_text()
        .replace(
            "    authProvider: no-auth\n",
            "    authProvider: auth0\n    securityConfig:\n      clientId: my-id\n"
            "      secretKey: s3cret-key\n      domain: my.auth0.com\n",
        )
    )
    (tmp_path / "dynamodb.yaml").write_text(recipe)
    with pytest.raises(RecipeError) as err:
        load_recipe(tmp_path / "dynamodb.yaml")
    message = str(err.value)
    assert message.startswith(
        f"{tmp_path / 'dynamodb.yaml'}: workflowConfig.openMetadataServerConfig.authProvider:"
    )
    assert "set authProvider: openmetadata and securityConfig.jwtToken" in message
    assert "s3cret-key" not in message and "\n" not in message
