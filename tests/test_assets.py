"""Recipes as software-defined assets: keys, groups, kinds, dependencies, pools, automation,
the check on every ingestion, and what GraphQL shows of them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dagster import AssetCheckSeverity, AssetKey, AutomationCondition, DagsterEventType, DagsterInstance
from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

from om_dagster.core.recipe import RecipeError
from om_dagster.core.registry import known
from om_dagster.location.definitions import build_definitions
from tests.conftest import EXAMPLES, ROOT, execute_job, make_sqlite, recipe_dict, require_shared, write_recipe

DDL = "CREATE TABLE a (id INTEGER PRIMARY KEY); CREATE TABLE b (x TEXT); CREATE TABLE c (y TEXT);"

ASSET_NODES = """
{
  assetNodes {
    assetKey { path }
    groupName
    isMaterializable
    kinds
    assetMaterializations(limit: 1) { metadataEntries { label ... on IntMetadataEntry { intValue } } }
    assetChecksOrError { ... on AssetChecks { checks { name executionForLatestMaterialization { status } } } }
  }
}"""


def file_recipe(tmp_path, db, service: str, out: str, **workflow) -> dict:
    sink = {"type": "file", "config": {"filename": str(tmp_path / out)}}
    return recipe_dict(db, service=service, sink=sink, **workflow)


def key(*path: str) -> AssetKey:
    return AssetKey(["openmetadata", *path])


def test_graphql_shows_an_asset_per_recipe_grouped_by_service_with_its_run_and_check(tmp_path, monkeypatch):
    db = make_sqlite(tmp_path / "cat.db", DDL)
    folder = tmp_path / "wf"
    write_recipe(folder / "shop.yaml", file_recipe(tmp_path, db, "shop", "shop.jsonl"))
    write_recipe(folder / "crm.yaml", file_recipe(tmp_path, db, "crm-db", "crm.jsonl"))
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    done = execute_job(folder, "shop", DAGSTER_HOME=str(home))
    assert "RUN_SUCCESS" in done.stderr, done.stderr[-2000:]
    monkeypatch.setenv("OM_DAGSTER_WORKFLOWS_DIR", str(folder))  # for the workspace's code server
    with (
        DagsterInstance.from_config(str(home)) as instance,
        define_out_of_process_context(str(ROOT / "workspace.yaml"), None, instance) as context,
    ):
        result = execute_dagster_graphql(context, ASSET_NODES)
    assert result.errors is None, result.errors
    nodes = {tuple(n["assetKey"]["path"]): n for n in result.data["assetNodes"]}
    assert set(nodes) == {("openmetadata", "shop", "metadata"), ("openmetadata", "crm_db", "metadata")}
    shop, crm = nodes[("openmetadata", "shop", "metadata")], nodes[("openmetadata", "crm_db", "metadata")]
    assert (shop["groupName"], crm["groupName"]) == ("shop", "crm_db")
    assert shop["isMaterializable"] and crm["isMaterializable"]
    assert set(shop["kinds"]) == {"openmetadata", "sqlite"}
    [materialized] = shop["assetMaterializations"]
    counts = {e["label"]: e.get("intValue") for e in materialized["metadataEntries"]}
    assert (
        counts["source:sqlite records"] == 6 and counts["sink:file records"] == 6 and counts["failures"] == 0
    )
    [check] = shop["assetChecksOrError"]["checks"]
    assert check["name"] == "ingestion_failures"
    assert check["executionForLatestMaterialization"]["status"] == "SUCCEEDED"
    assert crm["assetMaterializations"] == []


def test_a_table_that_fails_fails_the_check_not_the_run(tmp_path):
    db = make_sqlite(
        tmp_path / "cat.db",
        DDL + "CREATE TABLE t (x INTEGER); CREATE VIEW broken AS SELECT x FROM t; DROP TABLE t;",
    )
    folder = tmp_path / "wf"
    write_recipe(folder / "shop.yaml", file_recipe(tmp_path, db, "shop", "out.jsonl", successThreshold=50))
    result = build_definitions(folder).resolve_job_def("shop").execute_in_process(raise_on_error=False)
    assert result.success  # 3 of 4 tables: above the threshold
    [evaluation] = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    assert evaluation.check_name == "ingestion_failures" and not evaluation.passed
    assert evaluation.severity == AssetCheckSeverity.WARN
    assert evaluation.description == "1 failed: see `failed entities`"
    assert "shop.main.main.broken" in evaluation.metadata["failed entities"].value


def test_keys_dependencies_pools_and_automation_from_the_recipes_and_sidecars(tmp_path):
    db = make_sqlite(tmp_path / "cat.db", DDL)
    folder = tmp_path / "wf"
    # two metadata recipes of one service (other filters): both load, each key names its recipe
    write_recipe(folder / "all_tables.yaml", file_recipe(tmp_path, db, "shop", "1.jsonl"))
    narrow = file_recipe(
        tmp_path, db, "shop", "2.jsonl", source_config={"tableFilterPattern": {"includes": ["a"]}}
    )
    write_recipe(folder / "only_a.yaml", narrow)
    write_recipe(folder / "crm.yaml", file_recipe(tmp_path, db, "crm", "3.jsonl"))
    write_recipe(
        folder / "crm.dagster.yaml",
        {"deps": ["only_a"], "automation": "eager", "owners": ["data@example.com"]},
    )
    write_recipe(folder / "late.yaml", file_recipe(tmp_path, db, "late", "4.jsonl"))
    write_recipe(
        folder / "late.dagster.yaml", {"automation": {"on_cron": "0 2 * * *"}, "timezone": "Europe/Paris"}
    )
    defs = build_definitions(folder)
    graph = defs.resolve_asset_graph()
    assert graph.get_all_asset_keys() == {
        key("shop", "metadata", "all_tables"),
        key("shop", "metadata", "only_a"),
        key("crm", "metadata"),
        key("late", "metadata"),
    }
    crm = graph.get(key("crm", "metadata"))
    assert crm.parent_keys == {key("shop", "metadata", "only_a")}
    assert crm.automation_condition == AutomationCondition.eager() and crm.owners == ["data@example.com"]
    assert graph.get(key("late", "metadata")).automation_condition == AutomationCondition.on_cron(
        "0 2 * * *", cron_timezone="Europe/Paris"
    )
    assert graph.get(key("shop", "metadata", "only_a")).automation_condition is None
    assert "openmetadata_automation" in {s.name for s in defs.sensors}
    # every op of a recipe runs in its service's pool
    job = defs.resolve_job_def("crm")
    steps = job.graph.node_named("crm_steps").definition
    assert {n.name: n.tags["dagster/concurrency_key"] for n in steps.nodes} == {
        "source": "openmetadata_crm",
        "sink": "openmetadata_crm",
    }
    # the asset's job runs its asset and its check, after the upstream it names
    result = job.execute_in_process(raise_on_error=False)
    assert result.success


def test_a_sidecar_naming_an_unknown_upstream_is_its_recipes_error(tmp_path):
    db = make_sqlite(tmp_path / "cat.db", DDL)
    folder = tmp_path / "wf"
    write_recipe(folder / "crm.yaml", file_recipe(tmp_path, db, "crm", "o.jsonl"))
    write_recipe(folder / "crm.dagster.yaml", {"deps": ["nope"]})
    write_recipe(folder / "shop.yaml", file_recipe(tmp_path, db, "shop", "p.jsonl"))
    defs = build_definitions(folder)
    assert f"{folder / 'crm.dagster.yaml'}: deps: no recipe 'nope'" in defs.resolve_job_def("crm").description
    assert defs.resolve_job_def("shop").execute_in_process().success
    with pytest.raises(RecipeError, match="deps: no recipe 'nope'"):
        build_definitions(folder, strict=True)


def test_dagster_definitions_validate_is_clean_on_workflows_and_the_supported_examples(tmp_path):
    require_shared()
    folder = tmp_path / "examples"
    folder.mkdir()
    for path in sorted(EXAMPLES.glob("*.yaml")):
        source = yaml.safe_load(path.read_text())["source"]
        workflow = source["sourceConfig"]["config"].get("type", "DatabaseMetadata")
        if source["type"] in known("source") and workflow == "DatabaseMetadata":
            (folder / path.name).write_text(path.read_text())  # a copy for this test only
    assert len(list(folder.iterdir())) >= 5
    validate = [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-m", "om_dagster"]
    for recipes in (folder, ROOT / "workflows"):
        env = dict(os.environ, OM_DAGSTER_WORKFLOWS_DIR=str(recipes), OM_DAGSTER_STRICT="1")
        done = subprocess.run(validate, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert "Validation successful" in done.stdout + done.stderr


USAGE_SOURCE = """
from om_dagster.core.steps import Source


class QueryLog(Source):
    type_name = "fake-usage"

    def iter_results(self):
        return iter(())
"""


def test_a_later_workflow_comes_after_its_services_metadata_asset(tmp_path, plugin):
    """OpenMetadata's usage, lineage, profiler and test-suite workflows run on the metadata
    already there: their asset depends on the service's metadata asset(s) in the folder."""
    plugin(USAGE_SOURCE, {"fake-usage": "QueryLog"})
    db = make_sqlite(tmp_path / "cat.db", DDL)
    folder = tmp_path / "wf"
    write_recipe(folder / "shop.yaml", file_recipe(tmp_path, db, "shop", "1.jsonl"))
    usage = file_recipe(tmp_path, db, "shop", "2.jsonl")
    usage["source"] = {"type": "fake-usage", "serviceName": "shop", "sourceConfig": {"config": {}}}
    write_recipe(folder / "shop_usage.yaml", usage)
    graph = build_definitions(folder).resolve_asset_graph()
    assert graph.get(key("shop", "usage")).parent_keys == {key("shop", "metadata")}
    assert graph.get(key("shop", "metadata")).parent_keys == set()
