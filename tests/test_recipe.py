"""Recipes: the official examples, one-line errors, warnings, ${VAR}, sidecars."""

from pathlib import Path

import pytest
import yaml

from om_dagster.core.loader import load_recipe
from om_dagster.core.recipe import RecipeError, job_name_for
from om_dagster.core.registry import known
from om_dagster.core.status import Status
from tests.conftest import EXAMPLES, recipe_dict, require_shared, write_recipe


def example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml")) if EXAMPLES.is_dir() else []


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_every_official_example_loads_or_names_its_unsupported_type(path):
    require_shared()
    source = yaml.safe_load(path.read_text())["source"]
    # without a `type`, OpenMetadata reads usage and lineage from the source's name
    named = {"-usage": "DatabaseUsage", "-lineage": "DatabaseLineage"}
    by_name = next((k for end, k in named.items() if source["type"].endswith(end)), "DatabaseMetadata")
    source_type, pipeline = source["type"], source["sourceConfig"]["config"].get("type", by_name)
    kinds = {
        "DatabaseMetadata": "metadata",
        "Profiler": "profiler",
        "TestSuite": "test_suite",
        "DatabaseUsage": "usage",
        "DatabaseLineage": "lineage",
    }
    if source_type in known("source") and pipeline in kinds:
        recipe = load_recipe(path)
        assert recipe.workflow.source.type == source_type
        assert recipe.workflow_kind == kinds[pipeline]
    elif source_type in known("source"):
        with pytest.raises(RecipeError) as err:
            load_recipe(path)
        assert err.value.field == "source.sourceConfig.config.type"
        assert err.value.message.startswith(
            f"{pipeline!r} is not supported yet for source type {source_type!r}"
        )
    else:
        with pytest.raises(RecipeError) as err:
            load_recipe(path)
        assert err.value.field == "source.type"
        supported = ", ".join(known("source"))
        assert str(err.value) == (
            f"{path}: source.type: unknown source type {source_type!r}; supported here: {supported}"
        )


def test_examples_are_all_there():
    require_shared()
    assert len(example_files()) == 132


def load_dict(tmp_path: Path, data: dict, name: str = "r.yaml"):
    return load_recipe(write_recipe(tmp_path / name, data))


def error_of(tmp_path: Path, data: dict) -> RecipeError:
    with pytest.raises(RecipeError) as err:
        load_dict(tmp_path, data)
    assert "\n" not in str(err.value)
    return err.value


def test_missing_field_names_file_and_dotted_path(tmp_path):
    data = recipe_dict("x.db")
    del data["workflowConfig"]["openMetadataServerConfig"]
    err = error_of(tmp_path, data)
    assert (
        str(err)
        == f"{tmp_path / 'r.yaml'}: workflowConfig.openMetadataServerConfig: required field is missing"
    )


def test_wrong_type_says_what_is_expected(tmp_path):
    data = recipe_dict("x.db")
    data["workflowConfig"]["successThreshold"] = "most"
    err = error_of(tmp_path, data)
    assert err.field == "workflowConfig.successThreshold"
    assert "valid integer" in err.message


def test_a_misspelt_field_is_an_error_not_silence(tmp_path):
    data = recipe_dict("x.db", source_config={"includeTabels": False})
    err = error_of(tmp_path, data)
    assert err.field == "source.sourceConfig.config.includeTabels"
    assert "not a field" in err.message


def test_connection_errors_name_the_connection_path(tmp_path):
    data = recipe_dict("x.db")
    data["source"]["serviceConnection"]["config"]["scheme"] = "postgresql"
    err = error_of(tmp_path, data)
    assert err.field == "source.serviceConnection.config.scheme"
    assert "sqlite+pysqlite" in err.message


def test_unknown_sink_type_lists_the_supported_ones(tmp_path):
    err = error_of(tmp_path, recipe_dict("x.db", sink={"type": "kafka"}))
    assert err.field == "sink.type"
    assert "console, file, metadata-rest" in err.message


def test_unsupported_pipeline_type_is_a_clear_error(tmp_path):
    data = recipe_dict("x.db", source_config={"type": "DatabaseUsage"})
    err = error_of(tmp_path, data)
    assert err.field == "source.sourceConfig.config.type"
    assert "DatabaseMetadata" in err.message


def test_fields_we_do_not_act_on_are_warned_by_name(tmp_path):
    data = recipe_dict(
        "x.db", source_config={"includeDDL": True, "includeTags": True, "markDeletedSchemas": True}
    )
    recipe = load_dict(tmp_path, data)
    fields = [w.split(": ")[1] for w in recipe.warnings]
    # includeTags is at its default: nothing to warn about
    assert fields == [
        "source.sourceConfig.config.includeDDL",
        "source.sourceConfig.config.markDeletedSchemas",
    ]
    assert all(
        w.startswith(str(tmp_path / "r.yaml")) and w.endswith("not supported yet, ignored")
        for w in recipe.warnings
    )


def older_fields(recipe) -> dict[str, str]:
    """Warned field -> what the warning says of it, for fields of older releases."""
    marker = ": a field of older OpenMetadata releases, "
    return {w.split(": ")[1]: w.split(marker, 1)[1] for w in recipe.warnings if marker in w}


def test_fields_of_older_releases_load_with_a_warning_and_act_as_their_successor(tmp_path):
    data = recipe_dict(
        "x.db",
        source_config={"generateSampleData": True, "sampleDataQuery": "select 1", "dbtConfigSource": {}},
    )
    data["source"]["sourceConfig"]["config"].pop("type")  # older docs print none
    recipe = load_dict(tmp_path, data)
    said = older_fields(recipe)
    assert set(said) == {
        "source.sourceConfig.config.generateSampleData",
        "source.sourceConfig.config.sampleDataQuery",
        "source.sourceConfig.config.dbtConfigSource",
    }
    assert said["source.sourceConfig.config.dbtConfigSource"].startswith(
        "removed in 0.13.1, dbt is a workflow"
    )
    mysql = {
        "type": "mysql",
        "serviceName": "m",
        "serviceConnection": {
            "config": {
                "type": "Mysql",
                "username": "u",
                "password": "s3cret-pw",
                "hostPort": "h:3306",
                "database": "shop",
            }
        },
        "sourceConfig": {"config": {}},
    }
    recipe = load_dict(tmp_path, dict(data, source=mysql))
    assert set(older_fields(recipe)) == {
        "source.serviceConnection.config.password",
        "source.serviceConnection.config.database",
    }
    assert recipe.service_connection == {
        "type": "Mysql",
        "username": "u",
        "hostPort": "h:3306",
        "authType": {"password": "s3cret-pw"},
        "databaseSchema": "shop",
    }
    assert "s3cret-pw" in recipe.secrets  # still masked wherever text could carry it
    # the successor, when set too, wins
    mysql["serviceConnection"]["config"] |= {"databaseSchema": "other", "authType": {"password": "new"}}
    assert load_dict(tmp_path, dict(data, source=mysql)).service_connection["databaseSchema"] == "other"


def test_no_auth_warns_and_an_sso_name_with_a_jwt_still_runs(tmp_path):
    data = recipe_dict("x.db")
    data["workflowConfig"]["openMetadataServerConfig"]["authProvider"] = "no-auth"
    [warning] = load_dict(tmp_path, data).warnings
    assert "openMetadataServerConfig.authProvider: 'no-auth' was removed in 1.3" in warning
    server = data["workflowConfig"]["openMetadataServerConfig"]
    server |= {"authProvider": "google", "securityConfig": {"jwtToken": "a.b.c"}}
    assert load_dict(tmp_path, data).server.jwt_token == "a.b.c"
    server["securityConfig"] = {"secretKey": "k", "audience": "https://www.googleapis.com/oauth2/v4/token"}
    err = error_of(tmp_path, data)
    assert err.field == "workflowConfig.openMetadataServerConfig.authProvider"
    assert err.message.startswith(
        "'google' is a login for people; OpenMetadata servers take the ingestion bot's JWT"
    )


def test_invalid_regex_in_a_filter_is_caught_at_load(tmp_path):
    data = recipe_dict("x.db", source_config={"tableFilterPattern": {"includes": ["orders("]}})
    err = error_of(tmp_path, data)
    assert err.field == "source.sourceConfig.config.tableFilterPattern.includes"
    assert "invalid regex 'orders('" in err.message


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("source:\n  type: sqlite\n   serviceName: x\n")
    with pytest.raises(RecipeError, match=r"bad.yaml: invalid YAML at line 3"):
        load_recipe(path)


def test_env_references_expand_at_run_time_only(tmp_path, monkeypatch):
    data = recipe_dict("x.db", token="${OM_TEST_TOKEN}")
    path = write_recipe(tmp_path / "r.yaml", data)
    monkeypatch.delenv("OM_TEST_TOKEN", raising=False)
    assert load_recipe(path).server.jwt_token == "${OM_TEST_TOKEN}"  # load time: kept literal
    with pytest.raises(RecipeError) as err:
        load_recipe(path, strict_env=True)
    assert err.value.field == "workflowConfig.openMetadataServerConfig.securityConfig.jwtToken"
    assert "export OM_TEST_TOKEN" in err.value.message
    monkeypatch.setenv("OM_TEST_TOKEN", "s3cr3t")
    recipe = load_recipe(path, strict_env=True)
    assert recipe.server.jwt_token == "s3cr3t"
    assert "s3cr3t" not in repr(recipe.workflow)  # secrets are SecretStr


def test_usage_shape_needs_both_stage_and_bulk_sink(tmp_path):
    data = recipe_dict("x.db")
    del data["sink"]
    data["stage"] = {"type": "table-usage", "config": {"filename": "/tmp/x"}}
    err = error_of(tmp_path, data)
    assert err.field == "bulkSink"


def test_sink_and_stage_together_are_refused(tmp_path):
    data = recipe_dict("x.db")
    data["stage"] = {"type": "table-usage"}
    data["bulkSink"] = {"type": "metadata-usage"}
    assert error_of(tmp_path, data).field == "sink"


def test_sidecar_is_parsed_and_checked(tmp_path):
    write_recipe(
        tmp_path / "r.dagster.yaml",
        {
            "schedule": "0 3 * * *",
            "timezone": "Europe/Paris",
            "tags": {"team": "x"},
            "description": "nightly",
        },
    )
    recipe = load_dict(tmp_path, recipe_dict("x.db"))
    assert recipe.sidecar.schedule == "0 3 * * *" and recipe.sidecar.tags == {"team": "x"}
    assert recipe.sidecar.enabled is False


@pytest.mark.parametrize(
    ("side", "field", "words"),
    [
        ({"schedule": "every night"}, "schedule", "not a valid cron"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown timezone"),
        ({"scheduel": "0 3 * * *"}, "scheduel", "not a field"),
    ],
)
def test_bad_sidecar_names_the_sidecar_file_and_field(tmp_path, side, field, words):
    write_recipe(tmp_path / "r.dagster.yaml", side)
    err = error_of(tmp_path, recipe_dict("x.db"))
    assert err.file.endswith("r.dagster.yaml") and err.field == field and words in err.message


def test_job_name_is_the_stem_made_safe():
    assert job_name_for(Path("workflows/my-recipe.v2.yaml")) == "my_recipe_v2"
    assert job_name_for(Path("2024 load.yaml")) == "_2024_load"


def test_secrets_are_collected_and_masked_in_reasons(tmp_path):
    data = recipe_dict("x.db", token="tok-5678-abcd")
    data["source"]["serviceConnection"]["config"]["password"] = "pw-1234"
    recipe = load_dict(tmp_path, data)
    assert recipe.secrets == {"tok-5678-abcd", "pw-1234"}
    assert recipe.mask("server said: pw-1234 / tok-5678-abcd") == "server said: ********** / **********"
    status = Status("sink:x", secrets=recipe.secrets)
    status.failed("svc", "400: {'password': 'pw-1234'}")
    assert status.failures[0].reason == "400: {'password': '**********'}"


def test_every_problem_of_a_section_is_on_its_one_line(tmp_path):
    data = recipe_dict("x.db", source_config={"includeTables": "sometimes", "tablefilterPattern": {}})
    err = error_of(tmp_path, data)
    assert err.field == "source.sourceConfig.config.includeTables"
    also = "; also source.sourceConfig.config.tablefilterPattern: is not a field of this section"
    assert also in err.message
