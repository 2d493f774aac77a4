"""Recipes as Dagster jobs: in process, through the CLI, broken ones, secrets, plugins."""

import json
import shutil
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance

from om_dagster.core.recipe import RecipeError
from om_dagster.location.definitions import build_definitions
from tests.conftest import ROOT, execute_job, make_sqlite, recipe_dict, write_recipe

DDL = """
CREATE TABLE a (id INTEGER PRIMARY KEY, name VARCHAR(10) NOT NULL);
CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a (id));
CREATE TABLE c (x TEXT);
"""


@pytest.fixture
def folder(tmp_path):
    make_sqlite(tmp_path / "data" / "cat.db", DDL)
    return tmp_path / "workflows"


def upstream(job) -> dict[str, list[str]]:
    """Each op of the recipe's asset (the job's node `<job>_steps`) and the ops it reads from."""
    steps = job.graph.node_named(f"{job.name}_steps").definition
    deps = steps.dependency_structure
    return {
        node.name: [
            out.node.name
            for outs in deps.input_to_upstream_outputs_for_node(node.name).values()
            for out in outs
        ]
        for node in steps.nodes
    }


def run(defs, name, **kw):
    return defs.resolve_job_def(name).execute_in_process(raise_on_error=False, **kw)


def step_failure(result) -> str:
    [event] = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    return event.step_failure_data.user_failure_data.description


def materialization(result):
    [event] = [e for e in result.all_events if e.event_type == DagsterEventType.ASSET_MATERIALIZATION]
    return event.step_materialization_data.materialization


def test_a_recipe_job_ingests_and_materializes_its_service(tmp_path, folder, standin):
    write_recipe(
        folder / "shop-catalog.yaml",
        recipe_dict(tmp_path / "data" / "cat.db", service="shop", server_url=standin.url),
    )
    defs = build_definitions(folder)
    job = defs.resolve_job_def("shop_catalog")
    assert upstream(job) == {"source": [], "sink": ["source"]}
    assert job.tags["om/service"] == "shop" and job.tags["om/recipe"] == "shop-catalog.yaml"
    result = run(defs, "shop_catalog")
    assert result.success
    assert set(standin.all("tables")) == {"shop.main.main.a", "shop.main.main.b", "shop.main.main.c"}
    mat = materialization(result)
    assert mat.asset_key == AssetKey(["openmetadata", "shop", "metadata"])
    assert mat.metadata["state"].value == "success"
    assert mat.metadata["source:sqlite records"].value == 6
    assert mat.metadata["sink:metadata-rest records"].value == 6


def test_failures_beyond_the_threshold_fail_the_run(tmp_path, folder, standin):
    db = make_sqlite(
        tmp_path / "data" / "bad.db",
        'CREATE TABLE "x::1" (a INT); CREATE TABLE "x::2" (a INT); CREATE TABLE ok (a INT);',
    )
    write_recipe(folder / "r.yaml", recipe_dict(db, server_url=standin.url, successThreshold=90))
    result = run(build_definitions(folder), "r")
    assert not result.success
    message = step_failure(result)
    assert message.startswith(f"{folder / 'r.yaml'}: step sink:metadata-rest has 2 failures")
    assert "successThreshold 90%" in message


def test_without_raise_on_error_the_run_succeeds_and_reports_failed(tmp_path, folder, standin):
    db = make_sqlite(tmp_path / "data" / "bad.db", 'CREATE TABLE "x::1" (a INT); CREATE TABLE ok (a INT);')
    write_recipe(folder / "r.yaml", recipe_dict(db, server_url=standin.url, raiseOnError=False))
    result = run(build_definitions(folder), "r")
    assert result.success
    assert materialization(result).metadata["state"].value == "failed"
    assert materialization(result).metadata["sink:metadata-rest failures"].value == 1


def test_a_broken_recipe_does_not_stop_the_good_one(tmp_path, folder):
    good = recipe_dict(
        tmp_path / "data" / "cat.db",
        sink={"type": "file", "config": {"filename": str(tmp_path / "out.jsonl")}},
    )
    write_recipe(folder / "good.yaml", good)
    broken = recipe_dict(tmp_path / "data" / "cat.db")
    broken["source"]["sourceConfig"]["config"]["tableFilterPattern"] = {"include": ["a"]}
    write_recipe(folder / "broken.yaml", broken)
    defs = build_definitions(folder)
    assert run(defs, "good").success
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 6
    expected = (
        f"{folder / 'broken.yaml'}: source.sourceConfig.config.tableFilterPattern.include: "
        "is not a field of this section"
    )
    assert expected in defs.resolve_job_def("broken").description
    result = run(defs, "broken")
    assert not result.success and step_failure(result).startswith(expected)


def test_a_json_recipe_is_a_job_and_a_namesake_yaml_is_a_clear_error(tmp_path, folder):
    sink = {"type": "file", "config": {"filename": str(tmp_path / "out.jsonl")}}
    data = recipe_dict(tmp_path / "data" / "cat.db", sink=sink)
    folder.mkdir()
    (folder / "from-json.json").write_text(json.dumps(data, indent=2))
    (folder / "twice.json").write_text(json.dumps(data))
    write_recipe(folder / "twice.yaml", data)
    defs = build_definitions(folder)
    result = run(defs, "from_json")
    assert result.success
    assert defs.resolve_job_def("from_json").tags["om/recipe"] == "from-json.json"
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 6
    clash = f"{folder / 'twice.json'}: job name 'twice' is also that of {folder / 'twice.yaml'}"
    assert clash in defs.resolve_job_def("twice").description
    result = run(defs, "twice")
    assert not result.success and step_failure(result).startswith(clash)
    with pytest.raises(RecipeError, match="job name 'twice' is also that of"):
        build_definitions(folder, strict=True)


def test_invalid_json_names_the_line(tmp_path, folder):
    folder.mkdir()
    (folder / "bad.json").write_text('{\n  "source": {\n    "type": "sqlite",\n  }\n}\n')
    defs = build_definitions(folder)
    assert (
        f"{folder / 'bad.json'}: invalid JSON at line 4, column 3" in defs.resolve_job_def("bad").description
    )


def test_strict_mode_stops_loading_at_the_broken_recipe(tmp_path, folder):
    write_recipe(folder / "broken.yaml", {"source": {"type": "sqlite"}})
    with pytest.raises(RecipeError, match=r"broken.yaml: source.sourceConfig: required field is missing"):
        build_definitions(folder, strict=True)
    write_recipe(folder / "also.yaml", {"sink": {}})
    with pytest.raises(RecipeError) as err:
        build_definitions(folder, strict=True)
    message = str(err.value)  # every broken recipe, on one line
    assert message.startswith(f"{folder}: 2 recipes do not load: {folder / 'also.yaml'}: ")
    assert f" | {folder / 'broken.yaml'}: source.sourceConfig: required field is missing" in message


def test_secrets_stay_out_of_run_config_and_event_logs(tmp_path, folder, standin, monkeypatch):
    secret = "eyJ-very-secret-token"
    standin.token = secret
    monkeypatch.setenv("OM_TEST_JWT", secret)
    write_recipe(
        folder / "r.yaml",
        recipe_dict(tmp_path / "data" / "cat.db", server_url=standin.url, token="${OM_TEST_JWT}"),
    )
    instance = DagsterInstance.ephemeral()
    result = run(build_definitions(folder), "r", instance=instance)
    assert result.success and len(standin.all("tables")) == 3
    run_record = instance.get_run_by_id(result.run_id)
    assert secret not in repr(run_record.run_config) and secret not in repr(run_record.tags)
    logs = instance.all_logs(result.run_id)
    assert logs and not any(secret in repr(entry) for entry in logs)


def test_a_wrong_token_fails_the_run_with_one_line(tmp_path, folder, standin):
    standin.token = "right"
    write_recipe(
        folder / "r.yaml",
        recipe_dict(tmp_path / "data" / "cat.db", server_url=standin.url, token="wrong-token"),
    )
    result = run(build_definitions(folder), "r")
    message = step_failure(result)
    assert "refused the token (401)" in message and "wrong-token" not in message
    # found before the source reads the catalog, and named by the recipe
    [failed] = [e.step_key for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    assert failed == "r_steps.source" and message.startswith(f"{folder / 'r.yaml'}: ")
    assert standin.count("GET", "/api/v1/tables") == 0 and standin.count("PUT") == 0


def test_a_failure_we_raise_prints_as_its_line_without_a_stack_trace(tmp_path, folder, standin):
    """`dagster job execute` of a run refused by the server: the step's and the run's failure
    are our one line, not buried under Dagster's stack trace."""
    standin.token = "right"
    recipe = recipe_dict(tmp_path / "data" / "cat.db", server_url=standin.url, token="wrong-token")
    write_recipe(folder / "refused.yaml", recipe)
    done = execute_job(folder, "refused")
    line = f"{folder / 'refused.yaml'}: the OpenMetadata server refused the token (401)"
    assert done.stderr.count(line) == 2, done.stderr[-3000:]  # STEP_FAILURE and RUN_FAILURE
    assert "Stack Trace" not in done.stderr and "Traceback" not in done.stderr
    assert "wrong-token" not in done.stderr


def test_dagster_job_execute_against_the_server_twice_without_duplicates(tmp_path, folder, standin):
    write_recipe(
        folder / "cli_recipe.yaml", recipe_dict(tmp_path / "data" / "cat.db", server_url=standin.url)
    )
    first = execute_job(folder, "cli_recipe")
    assert "RUN_SUCCESS" in first.stderr + first.stdout, first.stderr[-3000:]
    tables = {k: (v["id"], v["version"]) for k, v in standin.all("tables").items()}
    assert set(tables) == {"svc.main.main.a", "svc.main.main.b", "svc.main.main.c"}
    second = execute_job(folder, "cli_recipe")
    assert "RUN_SUCCESS" in second.stderr + second.stdout, second.stderr[-3000:]
    assert {k: (v["id"], v["version"]) for k, v in standin.all("tables").items()} == tables
    assert "unchanged" in second.stderr and "Workflow result: success" in second.stderr


@pytest.mark.parametrize("cwd", [ROOT, Path("/tmp")], ids=["from the project root", "from /tmp"])
def test_the_embedded_default_job_runs_green_with_no_server(tmp_path, cwd):
    """README command 1, from anywhere: the recipe's relative paths are from its folder, and
    its output folder is no package name to shadow `om_dagster`."""
    out = Path("/tmp/om-dagster/sample_sqlite.jsonl")
    out.unlink(missing_ok=True)
    stale = Path("/tmp/om_dagster")  # earlier versions' output folder: it would shadow the package
    if stale.is_dir() and {p.name for p in stale.iterdir()} <= {"sample_sqlite.jsonl"}:
        shutil.rmtree(stale)
    done = execute_job(None, "sample_sqlite", cwd=cwd)
    assert "RUN_SUCCESS" in done.stderr, done.stderr[-3000:]
    names = [line.split('"name": "')[1].split('"')[0] for line in out.read_text().splitlines()]
    assert names[:3] == ["sample_sqlite", "main", "main"] and "customer_totals" in names


PLUGIN = """
from om_dagster.core.steps import BulkSink, Processor, Record, Stage


class Upper(Processor):
    type_name = "upper-names"

    def process(self, record):
        return Record(record.kind, dict(record.body, displayName=record.body["name"].upper()))


class CountStage(Stage):
    type_name = "count-columns"

    def run(self, records):
        for record in records:
            if record.kind == "table":
                self.status.scanned()
                body = {"name": record.body["displayName"], "n": len(record.body["columns"])}
                yield Record("columnCount", body)


class Collect(BulkSink):
    type_name = "collect"

    def run(self, records):
        with open(self.config["filename"], "w") as out:
            for record in records:
                out.write(f"{record.body['name']}={record.body['n']}\\n")
                self.status.scanned()
"""


def test_third_party_steps_plug_in_through_entry_points(tmp_path, folder, plugin):
    plugin(
        PLUGIN,
        {"upper": "Upper", "count": "CountStage", "collect": "Collect"},
    )
    data = recipe_dict(tmp_path / "data" / "cat.db")
    del data["sink"]
    data["processor"] = {"type": "upper-names"}
    data["stage"] = {"type": "count-columns"}
    data["bulkSink"] = {"type": "collect", "config": {"filename": str(tmp_path / "counts.txt")}}
    write_recipe(folder / "usage.yaml", data)
    defs = build_definitions(folder)
    assert upstream(defs.resolve_job_def("usage")) == {
        "source": [],
        "processor": ["source"],
        "stage": ["processor"],
        "bulk_sink": ["stage"],
    }
    result = run(defs, "usage")
    assert result.success
    assert (tmp_path / "counts.txt").read_text().splitlines() == ["A=2", "B=2", "C=1"]
