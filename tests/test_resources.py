"""Resources: the OpenMetadata token fallback, AWS credentials: precedence, and when they load."""

import os
import subprocess
import sys

from dagster import EnvVar

from om_dagster.core.loader import load_recipe
from om_dagster.location.aws import AwsCredentials
from om_dagster.location.definitions import build_definitions
from om_dagster.location.resources import OpenMetadataResource
from om_dagster.sources.aws import AwsConfig, session
from tests.conftest import recipe_dict, write_recipe


def test_recipe_aws_config_wins_and_the_resource_fills_the_gaps():
    resource = AwsCredentials(
        region_name="eu-west-1",
        aws_access_key_id="AKIARESOURCE",
        aws_secret_access_key="res",
        endpoint_url="http://x",
    )
    recipe_config = AwsConfig(awsAccessKeyId="AKIARECIPE", awsSecretAccessKey="rec")
    boto, endpoint = session(recipe_config, resource.defaults())
    credentials = boto.get_credentials()
    assert (credentials.access_key, credentials.secret_key) == ("AKIARECIPE", "rec")
    assert (boto.region_name, endpoint) == ("eu-west-1", "http://x")
    assert AwsCredentials().defaults() == {}  # nothing set: boto3's default chain decides


def test_the_token_from_the_resource_is_used_only_when_the_recipe_has_none(tmp_path, monkeypatch):
    monkeypatch.setenv("OM_DAGSTER_JWT_TOKEN", "from-env")
    resource = OpenMetadataResource(jwt_token=EnvVar("OM_DAGSTER_JWT_TOKEN").get_value())
    bare = load_recipe(write_recipe(tmp_path / "a.yaml", recipe_dict("x.db")))
    server = resource.server_config(bare)
    assert server.jwt_token == "from-env" and server.authProvider == "openmetadata"
    own = load_recipe(write_recipe(tmp_path / "b.yaml", recipe_dict("x.db", token="own")))
    assert resource.server_config(own).jwt_token == "own"


AWS_SOURCE = """
from om_dagster.sources.sqlite import SqliteSource


class S3Catalog(SqliteSource):
    type_name = "s3-catalog"
    uses_aws = True
"""


def test_the_aws_resource_comes_with_recipes_that_use_aws(tmp_path, plugin):
    plugin(AWS_SOURCE, {"s3": "S3Catalog"})
    folder = tmp_path / "wf"
    write_recipe(folder / "plain.yaml", recipe_dict("x.db"))
    assert sorted(build_definitions(folder).resources) == ["openmetadata", "recipe"]
    data = recipe_dict("x.db")
    data["source"]["type"] = "s3-catalog"
    write_recipe(folder / "cloud.yaml", data)
    defs = build_definitions(folder)
    assert sorted(defs.resources) == ["aws", "openmetadata", "recipe"]
    assert isinstance(defs.resources["aws"], AwsCredentials)


def test_loading_without_aws_recipes_does_not_import_dagster_aws(tmp_path):
    """dagster-aws costs seconds at every start-up: only recipes that use it pay."""
    folder = write_recipe(tmp_path / "wf" / "r.yaml", recipe_dict("x.db")).parent
    code = "import sys, om_dagster; print(sorted(om_dagster.defs.resources), 'dagster_aws' in sys.modules)"
    env = dict(os.environ, OM_DAGSTER_WORKFLOWS_DIR=str(folder))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['openmetadata', 'recipe'] False"
