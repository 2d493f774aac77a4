"""Resources: the OpenMetadata token fallback and AWS credentials precedence."""

from dagster import EnvVar

from om_dagster.aws import AwsCredentials
from om_dagster.recipe import load_recipe
from om_dagster.resources import OpenMetadataResource
from tests.conftest import recipe_dict, write_recipe


def test_recipe_aws_config_wins_and_the_resource_fills_the_gaps():
    aws = AwsCredentials(region_name="eu-west-1", aws_access_key_id="AKIARESOURCE", endpoint_url="http://x")
    merged = aws.merged({"awsAccessKeyId": "AKIARECIPE", "awsSecretAccessKey": "s", "awsRegion": None})
    assert merged == {
        "awsAccessKeyId": "AKIARECIPE",
        "awsSecretAccessKey": "s",
        "awsRegion": "eu-west-1",
        "endPointURL": "http://x",
    }
    assert AwsCredentials().merged(None) == {}  # boto3's default chain decides


def test_the_token_from_the_resource_is_used_only_when_the_recipe_has_none(tmp_path, monkeypatch):
    monkeypatch.setenv("OM_DAGSTER_JWT_TOKEN", "from-env")
    resource = OpenMetadataResource(jwt_token=EnvVar("OM_DAGSTER_JWT_TOKEN").get_value())
    bare = load_recipe(write_recipe(tmp_path / "a.yaml", recipe_dict("x.db")))
    server = resource.server_config(bare)
    assert server.jwt_token == "from-env" and server.authProvider == "openmetadata"
    own = load_recipe(write_recipe(tmp_path / "b.yaml", recipe_dict("x.db", token="own")))
    assert resource.server_config(own).jwt_token == "own"
