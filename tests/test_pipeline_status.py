"""Run status in OpenMetadata for recipes with `ingestionPipelineFQN`."""

import os
import socket
import subprocess
import sys

import pytest
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    build_run_status_sensor_context,
    build_sensor_context,
)

from om_dagster.core.recipe import OpenMetadataServerConfig
from om_dagster.location.definitions import build_definitions
from om_dagster.openmetadata.client import OpenMetadataClient
from tests.conftest import make_sqlite, metadata_pipeline, recipe_dict, write_recipe

PIPELINE = "svc.sqlite_metadata"


@pytest.fixture
def pipeline(standin) -> str:
    """A database service and its metadata ingestion pipeline on the stand-in server."""
    om = OpenMetadataClient(OpenMetadataServerConfig(hostPort=standin.url))
    service = om.put("services/databaseServices", {"name": "svc", "serviceType": "SQLite"})
    metadata_pipeline(om, service["id"], "sqlite_metadata")
    return PIPELINE


def folder_with(tmp_path, standin, db, **workflow):
    data = recipe_dict(db, server_url=standin.url, **workflow)
    data["ingestionPipelineFQN"] = PIPELINE
    write_recipe(tmp_path / "wf" / "r.yaml", data)
    return tmp_path / "wf"


def states(standin) -> list[str]:
    return [s["pipelineState"] for s in standin.status_history(PIPELINE)]


def test_a_run_reports_running_then_success_with_step_summaries(tmp_path, standin, pipeline):
    db = make_sqlite(tmp_path / "c.db", "CREATE TABLE a (x INT); CREATE TABLE b (y INT);")
    result = build_definitions(folder_with(tmp_path, standin, db)).resolve_job_def("r").execute_in_process()
    assert result.success
    assert states(standin) == ["running", "success"]
    running, final = standin.status_history(PIPELINE)
    assert running["runId"] == final["runId"] == result.run_id
    assert final["endDate"] >= final["startDate"] == running["startDate"]
    assert [(s["name"], s["records"], s["errors"]) for s in final["status"]] == [
        ("source:sqlite", 5, 0),
        ("sink:metadata-rest", 5, 0),
    ]
    assert result.dagster_run.tags.get("om/pipeline_fqn") == PIPELINE


def test_failures_beyond_the_threshold_report_failed_with_the_entities(tmp_path, standin, pipeline):
    db = make_sqlite(tmp_path / "c.db", 'CREATE TABLE "x::1" (a INT); CREATE TABLE ok (a INT);')
    job = build_definitions(folder_with(tmp_path, standin, db)).resolve_job_def("r")
    assert not job.execute_in_process(raise_on_error=False).success
    assert states(standin) == ["running", "failed"]
    sink = standin.status_history(PIPELINE)[-1]["status"][1]
    assert sink["errors"] == 1 and sink["failures"][0]["name"] == "svc.main.main.x::1"


def test_the_recipe_pipeline_run_id_is_the_run_id(tmp_path, standin, pipeline):
    db = make_sqlite(tmp_path / "c.db", "CREATE TABLE a (x INT);")
    folder = folder_with(tmp_path, standin, db)
    text = (folder / "r.yaml").read_text() + "pipelineRunId: 0b6d9d2e-5f1c-4c1e-9d3a-2b8f6f7d1a11\n"
    (folder / "r.yaml").write_text(text)
    build_definitions(folder).resolve_job_def("r").execute_in_process()
    assert {s["runId"] for s in standin.status_history(PIPELINE)} == {"0b6d9d2e-5f1c-4c1e-9d3a-2b8f6f7d1a11"}


def tick_failed_runs_sensor(defs, instance, result) -> None:
    """What the daemon does for a failed run: the failure sensor, on that run's failure."""
    failure = next(e for e in result.all_events if e.event_type == DagsterEventType.RUN_FAILURE)
    sensor = next(s for s in defs.sensors if s.name == "openmetadata_failed_runs")
    context = build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_event=failure,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
    ).for_run_failure()
    sensor(context)


def test_a_crashed_run_is_marked_failed_by_the_sensor(tmp_path, standin, pipeline):
    folder = folder_with(tmp_path, standin, tmp_path / "missing.db")  # the source step fails
    defs = build_definitions(folder)
    instance = DagsterInstance.ephemeral()
    result = defs.resolve_job_def("r").execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success and states(standin) == ["running"]
    tick_failed_runs_sensor(defs, instance, result)
    assert states(standin) == ["running", "failed"]
    assert standin.status_history(PIPELINE)[-1]["runId"] == result.run_id


def test_a_crashed_run_of_the_asset_graph_is_marked_failed_too(tmp_path, standin, pipeline):
    """`dagster asset materialize` and the Assets page run the asset outside its recipe's job:
    the sensor finds the recipe by the asset the run selected."""
    defs = build_definitions(folder_with(tmp_path, standin, tmp_path / "missing.db"))
    instance = DagsterInstance.ephemeral()
    graph = defs.resolve_implicit_global_asset_job_def()
    key = AssetKey(["openmetadata", "svc", "metadata"])
    result = graph.execute_in_process(instance=instance, asset_selection=[key], raise_on_error=False)
    assert not result.success and result.dagster_run.job_name != "r"
    tick_failed_runs_sensor(defs, instance, result)
    assert states(standin) == ["running", "failed"]


def test_the_sensor_leaves_runs_that_reported_their_end(tmp_path, standin, pipeline):
    db = make_sqlite(tmp_path / "c.db", 'CREATE TABLE "x::1" (a INT);')
    defs = build_definitions(folder_with(tmp_path, standin, db))
    instance = DagsterInstance.ephemeral()
    result = defs.resolve_job_def("r").execute_in_process(instance=instance, raise_on_error=False)
    failure = next(e for e in result.all_events if e.event_type == DagsterEventType.RUN_FAILURE)
    run = instance.get_run_by_id(result.run_id)
    assert run.tags["om/status_reported"] == "failed"
    sensor = next(s for s in defs.sensors if s.name == "openmetadata_failed_runs")
    sensor(
        build_run_status_sensor_context(
            sensor_name=sensor.name, dagster_event=failure, dagster_instance=instance, dagster_run=run
        ).for_run_failure()
    )
    assert states(standin) == ["running", "failed"]  # not sent twice, summaries kept


def test_a_pipeline_the_server_does_not_know_is_a_warning_not_a_failure(tmp_path, standin):
    db = make_sqlite(tmp_path / "c.db", "CREATE TABLE a (x INT);")
    instance = DagsterInstance.ephemeral()
    job = build_definitions(folder_with(tmp_path, standin, db)).resolve_job_def("r")
    result = job.execute_in_process(instance=instance)
    assert result.success
    logged = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any("ingestionPipelineFQN: status 'running' not reported" in message for message in logged)
    assert any(
        "ingestionPipeline instance for svc.sqlite_metadata not found" in message for message in logged
    )


def test_a_terminated_run_is_marked_stopped_by_the_sensor(tmp_path, standin, pipeline):
    db = make_sqlite(tmp_path / "c.db", "CREATE TABLE a (x INT);")
    defs = build_definitions(folder_with(tmp_path, standin, db))
    instance = DagsterInstance.ephemeral()
    job = defs.resolve_job_def("r")
    run = instance.create_run_for_job(job, run_id="5e1f0c3a-9d2b-4c7e-8f6a-1b2c3d4e5f60", tags=job.tags)
    instance.report_run_canceled(run)  # what terminating a queued or running run leaves
    canceled = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.RUN_CANCELED).records
    sensor = next(s for s in defs.sensors if s.name == "openmetadata_stopped_runs")
    sensor(
        build_run_status_sensor_context(
            sensor_name=sensor.name,
            dagster_event=canceled[0].event_log_entry.dagster_event,
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(run.run_id),
        )
    )
    [status] = standin.status_history(PIPELINE)
    assert (status["pipelineState"], status["runId"]) == ("stopped", run.run_id) and "endDate" in status


def test_a_run_whose_process_died_is_marked_failed_then_reported(tmp_path, standin, pipeline):
    """kill -9 or out of memory: no launcher tells Dagster of a `dagster job execute` run, so
    `openmetadata_dead_runs` finds STARTED runs whose process is gone on this host."""
    db = make_sqlite(tmp_path / "c.db", "CREATE TABLE a (x INT);")
    defs = build_definitions(folder_with(tmp_path, standin, db))
    instance = DagsterInstance.ephemeral()
    job = defs.resolve_job_def("r")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    here = socket.gethostname()
    tags = {**job.tags, "om/process": f"{here}:{gone.pid}"}
    dead = instance.create_run_for_job(job, status=DagsterRunStatus.STARTED, tags=tags)
    alive = instance.create_run_for_job(
        job, status=DagsterRunStatus.STARTED, tags={**job.tags, "om/process": f"{here}:{os.getpid()}"}
    )
    elsewhere = instance.create_run_for_job(
        job, status=DagsterRunStatus.STARTED, tags={**job.tags, "om/process": f"other-host:{gone.pid}"}
    )
    sensor = next(s for s in defs.sensors if s.name == "openmetadata_dead_runs")
    sensor.evaluate_tick(build_sensor_context(instance=instance))
    statuses = {r.run_id: instance.get_run_by_id(r.run_id).status for r in (dead, alive, elsewhere)}
    assert statuses == {
        dead.run_id: DagsterRunStatus.FAILURE,
        alive.run_id: DagsterRunStatus.STARTED,
        elsewhere.run_id: DagsterRunStatus.STARTED,
    }
    failure = instance.get_records_for_run(dead.run_id, of_type=DagsterEventType.RUN_FAILURE).records[0]
    report = next(s for s in defs.sensors if s.name == "openmetadata_failed_runs")
    report(
        build_run_status_sensor_context(
            sensor_name=report.name,
            dagster_event=failure.event_log_entry.dagster_event,
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(dead.run_id),
        ).for_run_failure()
    )
    [status] = standin.status_history(PIPELINE)
    assert (status["pipelineState"], status["runId"]) == ("failed", dead.run_id) and "endDate" in status
