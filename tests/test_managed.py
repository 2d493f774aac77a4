"""Ingestion pipelines defined in OpenMetadata, run by the generic job and launched by the sensor."""

import datetime as dt
import json

import pytest
from dagster import AssetKey, DagsterInstance, DagsterRun, DagsterRunStatus, build_sensor_context

from om_dagster.core.recipe import OpenMetadataServerConfig, RecipeError
from om_dagster.location.definitions import build_definitions
from om_dagster.location.factory import MANAGED_JOB
from om_dagster.openmetadata.client import OpenMetadataClient
from om_dagster.openmetadata.deployed import Store
from om_dagster.openmetadata.managed import airflow_problems, due_runs, pipeline_recipe
from tests.conftest import make_sqlite, metadata_pipeline, seed_pipelines

UTC = dt.UTC


@pytest.fixture
def server(standin, tmp_path, monkeypatch):
    """A SQLite service with its connection and two metadata pipelines on the stand-in."""
    db = make_sqlite(tmp_path / "c.db", "CREATE TABLE a (x INT); CREATE TABLE b (y INT);")
    store = f"sqlite:///{tmp_path / 'bridge.db'}"  # the bridge's store: what the sensor runs
    monkeypatch.setenv("OM_DAGSTER_BRIDGE_DB", store)
    seed_pipelines(standin.url, db, {"nightly": "0 3 * * *", "hourly": "0 * * * *"}, store)
    monkeypatch.setenv("OM_DAGSTER_SERVER_HOST_PORT", standin.url)
    monkeypatch.setenv("OM_DAGSTER_WORKFLOWS_DIR", str(tmp_path / "none"))
    (tmp_path / "none").mkdir()
    return standin


def test_the_generic_job_runs_a_pipeline_named_by_its_tag(server, tmp_path):
    job = build_definitions(tmp_path / "none").resolve_job_def(MANAGED_JOB)
    instance = DagsterInstance.ephemeral()
    result = job.execute_in_process(instance=instance, tags={"om/pipeline_fqn": "svc.nightly"})
    assert result.success
    assert set(server.all("tables")) == {"svc.main.main.a", "svc.main.main.b"}
    assert [s["pipelineState"] for s in server.status_history("svc.nightly")] == ["running", "success"]
    # the key of a recipe file of that service and workflow: one history either way
    [materialized] = result.asset_materializations_for_node("sink")
    assert materialized.asset_key == AssetKey(["openmetadata", "svc", "metadata"])
    run = instance.get_run_by_id(result.run_id)
    assert "svc.main" not in json.dumps(run.run_config) and "databaseMode" not in json.dumps(run.run_config)


def seed_test_suite_pipeline(server, job) -> str:
    """The tables of `svc` ingested, a case on `a` (no rows), and a TestSuite pipeline of the
    table's suite, as the UI creates them: its FQN."""
    assert job.execute_in_process(tags={"om/pipeline_fqn": "svc.nightly"}).success
    om = OpenMetadataClient(OpenMetadataServerConfig(hostPort=server.url))
    suite = om.put("dataQuality/testSuites/basic", {"name": "s", "basicEntityReference": "svc.main.main.a"})
    om.put(
        "dataQuality/testCases",
        {
            "name": "no rows",
            "entityLink": "<#E::table::svc.main.main.a>",
            "testDefinition": "tableRowCountToEqual",
            "parameterValues": [{"name": "value", "value": "0"}],
        },
    )
    pipeline = om.put(
        "services/ingestionPipelines",
        {
            "name": "tests",
            "pipelineType": "TestSuite",
            "service": {"id": suite["id"], "type": "testSuite"},
            "sourceConfig": {"config": {"type": "TestSuite", "entityFullyQualifiedName": "svc.main.main.a"}},
            "airflowConfig": {},
        },
    )
    om.close()
    return pipeline["fullyQualifiedName"]


def test_a_test_suite_pipeline_runs_the_cases_the_server_holds(server, tmp_path):
    """A TestSuite pipeline (its service a test suite, as the UI creates it) runs the table's
    cases on the service's connection, read from the server as the metadata run's is."""
    job = build_definitions(tmp_path / "none").resolve_job_def(MANAGED_JOB)
    fqn = seed_test_suite_pipeline(server, job)
    assert fqn == "svc.main.main.a.testSuite.tests"  # `IngestionPipelineRepository`: the suite's FQN
    recipe = pipeline_recipe(OpenMetadataServerConfig(hostPort=server.url), fqn)
    assert recipe.workflow.source.type == "TestSuite" and recipe.workflow.source.serviceConnection is None
    result = job.execute_in_process(tags={"om/pipeline_fqn": fqn})
    assert result.success
    assert server.test_results("svc.main.main.a.no rows")[0]["testCaseStatus"] == "Success"
    assert [s["pipelineState"] for s in server.status_history(fqn)] == ["running", "success"]
    ran = {e.step_key for e in result.all_events if e.is_step_success}
    assert ran == {"source", "managed_processor", "sink"}  # the stage and bulk sink skipped


def test_a_profiler_pipeline_runs_its_processor(server, tmp_path):
    """The generic job's branch after the source follows the pipeline's type: a profiler
    pipeline profiles (its processor runs), then writes the profiles."""
    job = build_definitions(tmp_path / "none").resolve_job_def(MANAGED_JOB)
    assert job.execute_in_process(tags={"om/pipeline_fqn": "svc.nightly"}).success
    om = OpenMetadataClient(OpenMetadataServerConfig(hostPort=server.url))
    service = om.get_by_name("services/databaseServices", "svc")
    om.put(
        "services/ingestionPipelines",
        {
            "name": "profile",
            "pipelineType": "profiler",
            "service": {"id": service["id"], "type": "databaseService"},
            "sourceConfig": {"config": {"type": "Profiler"}},
            "airflowConfig": {},
        },
    )
    om.close()
    result = job.execute_in_process(tags={"om/pipeline_fqn": "svc.profile"})
    assert result.success
    assert [p["tableProfile"]["rowCount"] for p in server.profiles("svc.main.main.a")] == [0]
    assert {e.step_key for e in result.all_events if e.is_step_success} == {
        "source",
        "managed_processor",
        "sink",
    }


def test_a_test_suite_pipeline_of_a_missing_suite_is_one_line(server, tmp_path):
    fqn = seed_test_suite_pipeline(server, build_definitions(tmp_path / "none").resolve_job_def(MANAGED_JOB))
    del server.state.entities["dataQuality/testSuites"]["svc.main.main.a.testSuite"]  # deleted since
    with pytest.raises(RecipeError, match=rf"^openmetadata:{fqn}: service: no test suite"):
        pipeline_recipe(OpenMetadataServerConfig(hostPort=server.url), fqn)


def test_the_generic_job_without_a_pipeline_tag_says_what_to_do(server, tmp_path):
    job = build_definitions(tmp_path / "none").resolve_job_def(MANAGED_JOB)
    result = job.execute_in_process(raise_on_error=False)
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "launch this job with the run tag om/pipeline_fqn=<service>.<pipeline name>" in (
        failure.step_failure_data.user_failure_data.description
    )


def test_an_unknown_pipeline_is_one_line(server, tmp_path):
    with pytest.raises(RecipeError, match=r"openmetadata:svc.nope: ingestionPipelineFQN: no such ingestion"):
        pipeline_recipe(OpenMetadataServerConfig(hostPort=server.url), "svc.nope")


def pipelines(*specs):
    return [
        {"fullyQualifiedName": fqn, "airflowConfig": {"scheduleInterval": cron}, "enabled": enabled}
        for fqn, cron, enabled in specs
    ]


def test_each_tick_runs_once_and_new_pipelines_start_at_their_next_tick():
    listed = pipelines(("svc.hourly", "0 * * * *", True))
    due, cursor = due_runs(listed, {}, dt.datetime(2026, 11, 22, 10, 30, tzinfo=UTC))
    assert due == []  # first sight: no catching up
    due, cursor = due_runs(listed, cursor, dt.datetime(2026, 11, 22, 10, 59, tzinfo=UTC))
    assert due == []  # same tick
    due, cursor = due_runs(listed, cursor, dt.datetime(2026, 11, 22, 11, 0, 5, tzinfo=UTC))
    assert due == [("svc.hourly", dt.datetime(2026, 11, 22, 11, 0, tzinfo=UTC))]
    due, cursor = due_runs(listed, cursor, dt.datetime(2026, 11, 22, 11, 1, tzinfo=UTC))
    assert due == []  # that tick ran: the cursor (kept by the sensor across restarts) says so


def test_disabled_or_unscheduled_pipelines_never_run():
    listed = pipelines(("svc.off", "0 * * * *", False), ("svc.manual", None, True))
    cursor = {"svc.off": 0.0, "svc.manual": 0.0}
    assert due_runs(listed, cursor, dt.datetime(2026, 11, 22, 11, 0, tzinfo=UTC))[0] == []


def test_a_tick_waits_while_max_active_runs_still_run():
    """Airflow's `maxActiveRuns` (default 1): a tick that comes while the last run still runs
    is launched once it ends, once however many ticks passed meanwhile."""
    listed = pipelines(("svc.hourly", "0 * * * *", True))
    cursor = {"svc.hourly": dt.datetime(2026, 11, 22, 10, 0, tzinfo=UTC).timestamp()}
    at = dt.datetime(2026, 11, 22, 11, 0, 5, tzinfo=UTC)
    due, held = due_runs(listed, cursor, at, active=lambda fqn: 1)
    assert due == [] and held == cursor  # still due
    due, held = due_runs(listed, held, at + dt.timedelta(hours=1), active=lambda fqn: 0)
    assert due == [("svc.hourly", dt.datetime(2026, 11, 22, 12, 0, tzinfo=UTC))]
    listed[0]["airflowConfig"]["maxActiveRuns"] = 2
    assert due_runs(listed, cursor, at, active=lambda fqn: 1)[0] == [("svc.hourly", at.replace(second=0))]


def test_no_tick_runs_before_the_start_date_or_after_the_end_date():
    listed = pipelines(("svc.hourly", "0 * * * *", True))
    listed[0]["airflowConfig"] |= {
        "startDate": "2026-11-22T12:00:00Z",
        "endDate": "2026-11-22T13:30:00+00:00",
    }
    cursor = {"svc.hourly": 0.0}
    runs = []
    for hour in (11, 12, 13, 14):
        due, cursor = due_runs(listed, cursor, dt.datetime(2026, 11, 22, hour, 0, 1, tzinfo=UTC))
        runs += [tick.hour for _, tick in due]
    assert runs == [12, 13]
    assert airflow_problems({"startDate": "next tuesday"}) == [
        "airflowConfig.startDate: 'next tuesday' is not an ISO 8601 date-time"
    ]


def test_the_sensor_holds_a_tick_while_the_pipeline_runs_and_sets_its_timeout(server, tmp_path):
    """`workflowTimeout` becomes the run's `dagster/max_runtime` (run monitoring fails it
    past that, as Airflow's dagrun_timeout); a running run of the pipeline holds its next tick."""
    store = Store()
    entity = store.get("nightly").entity
    entity["airflowConfig"] |= {"workflowTimeout": 900}
    store.deploy(entity)
    store.close()
    defs = build_definitions(tmp_path / "none")
    sensor = next(s for s in defs.sensors if s.name == "openmetadata_ingestion_pipelines")
    instance = DagsterInstance.ephemeral()
    long_ago = json.dumps({"svc.nightly": 0.0, "svc.hourly": 0.0})
    result = sensor.evaluate_tick(build_sensor_context(cursor=long_ago, instance=instance))
    tags = {r.tags["om/pipeline_fqn"]: r.tags for r in result.run_requests}
    assert (
        tags["svc.nightly"]["dagster/max_runtime"] == "900"
        and "dagster/max_runtime" not in tags["svc.hourly"]
    )
    job = defs.resolve_job_def(MANAGED_JOB)
    instance.add_run(
        DagsterRun(
            job_name=job.name,
            run_id="running-1",
            status=DagsterRunStatus.STARTED,
            tags={"om/pipeline_fqn": "svc.nightly"},
        )
    )
    held = sensor.evaluate_tick(build_sensor_context(cursor=long_ago, instance=instance))
    assert [r.tags["om/pipeline_fqn"] for r in held.run_requests] == ["svc.hourly"]
    assert json.loads(held.cursor)["svc.nightly"] == 0.0  # still due


def test_the_sensor_launches_pipelines_whose_tick_came(server, tmp_path):
    defs = build_definitions(tmp_path / "none")
    sensor = next(s for s in defs.sensors if s.name == "openmetadata_ingestion_pipelines")
    long_ago = json.dumps({"svc.nightly": 0.0, "svc.hourly": 0.0})
    result = sensor.evaluate_tick(build_sensor_context(cursor=long_ago, instance=DagsterInstance.ephemeral()))
    assert sorted(r.tags["om/pipeline_fqn"] for r in result.run_requests) == ["svc.hourly", "svc.nightly"]
    assert all(r.run_key.startswith(r.tags["om/pipeline_fqn"] + "@") for r in result.run_requests)
    again = sensor.evaluate_tick(
        build_sensor_context(cursor=result.cursor, instance=DagsterInstance.ephemeral())
    )
    assert list(again.run_requests) == []


def pipelines_sensor(tmp_path):
    (tmp_path / "none").mkdir()
    defs = build_definitions(tmp_path / "none")
    return next(s for s in defs.sensors if s.name == "openmetadata_ingestion_pipelines")


def test_the_sensor_without_a_store_skips_and_creates_none(tmp_path, monkeypatch):
    """A code location whose bridge never deployed anything: a skip saying so, and no empty
    database left behind by a read."""
    db = tmp_path / "never.db"
    monkeypatch.setenv("OM_DAGSTER_BRIDGE_DB", f"sqlite:///{db}")
    monkeypatch.setenv("OM_DAGSTER_SERVER_HOST_PORT", "http://127.0.0.1:1/api")  # the sensor's switch
    sensor = pipelines_sensor(tmp_path)
    result = sensor.evaluate_tick(build_sensor_context(instance=DagsterInstance.ephemeral()))
    assert list(result.run_requests) == []
    assert "no pipeline deployed through the bridge yet" in result.skip_message
    assert not db.exists()


def test_the_sensor_never_shows_the_stores_password(tmp_path, monkeypatch):
    monkeypatch.setenv("OM_DAGSTER_BRIDGE_DB", "postgresql+psycopg2://om:st0re-s3cret@127.0.0.1:1/om")
    monkeypatch.setenv("OM_DAGSTER_SERVER_HOST_PORT", "http://127.0.0.1:1/api")
    sensor = pipelines_sensor(tmp_path)
    result = sensor.evaluate_tick(build_sensor_context(instance=DagsterInstance.ephemeral()))
    assert (
        "cannot read the bridge's store (postgresql+psycopg2://om:***@127.0.0.1:1/om)" in result.skip_message
    )
    assert "st0re-s3cret" not in result.skip_message


def test_the_sensor_runs_only_pipelines_matching_the_pattern(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OM_DAGSTER_PIPELINE_PATTERN", r"\.nightly$")
    sensor = next(
        s
        for s in build_definitions(tmp_path / "none").sensors
        if s.name == "openmetadata_ingestion_pipelines"
    )
    long_ago = json.dumps({"svc.nightly": 0.0, "svc.hourly": 0.0})
    result = sensor.evaluate_tick(build_sensor_context(cursor=long_ago, instance=DagsterInstance.ephemeral()))
    assert [r.tags["om/pipeline_fqn"] for r in result.run_requests] == ["svc.nightly"]


def test_a_token_that_is_not_a_bots_is_told_so_never_run_on_masked_secrets(server):
    """The server masks connection passwords for people's tokens and drops the pipeline's
    sourceConfig without VIEW_ALL: building a recipe from either would fail late or ingest
    without the pipeline's filters."""
    server.token, server.user_tokens = "bot-token", {"person-token"}
    bot = OpenMetadataClient(
        OpenMetadataServerConfig(
            hostPort=server.url, authProvider="openmetadata", securityConfig={"jwtToken": "bot-token"}
        )
    )
    connection = {
        "type": "Postgres",
        "username": "u",
        "authType": {"password": "pg-s3cret"},
        "hostPort": "127.0.0.1:1",
        "database": "d",
    }
    service = bot.put(
        "services/databaseServices",
        {"name": "pg", "serviceType": "Postgres", "connection": {"config": connection}},
    )
    metadata_pipeline(bot, service["id"], "meta")
    person = OpenMetadataServerConfig(
        hostPort=server.url, authProvider="openmetadata", securityConfig={"jwtToken": "person-token"}
    )
    with pytest.raises(RecipeError) as err:
        pipeline_recipe(person, "pg.meta")
    assert str(err.value).startswith("openmetadata:pg.meta: service.connection: the server masks it")
    assert "ingestion bot's JWT" in str(err.value)
    with pytest.raises(
        RecipeError, match=r"svc.nightly: sourceConfig: the server sent none: the server masks"
    ):
        pipeline_recipe(person, "svc.nightly")
    recipe = pipeline_recipe(
        OpenMetadataServerConfig(
            hostPort=server.url, authProvider="openmetadata", securityConfig={"jwtToken": "bot-token"}
        ),
        "pg.meta",
    )
    assert "pg-s3cret" in recipe.secrets  # the bot reads the real connection
    bot.close()
