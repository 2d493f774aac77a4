"""The PipelineServiceClient operations against a live dagster-webserver on 127.0.0.1."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
import uvicorn

from om_dagster.bridge.app import Bridge, Settings
from om_dagster.bridge.pipeline_service import DagsterPipelineServiceClient, PipelineServiceError
from om_dagster.core.recipe import OpenMetadataServerConfig
from om_dagster.openmetadata.client import OpenMetadataClient
from om_dagster.openmetadata.deployed import Store
from tests.conftest import (
    ROOT,
    make_sqlite,
    metadata_pipeline,
    recipe_dict,
    require_shared,
    seed_pipelines,
    write_recipe,
)
from tests.standin import StandIn

INSTANCE_YAML = """
telemetry:
  enabled: false
run_coordinator:  # runs start at once, without the daemon
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
"""


ASSET = """
query Asset($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) {
    ... on Asset {
      assetMaterializations(limit: 1) {
        runId
        metadataEntries { label ... on IntMetadataEntry { intValue } ... on TextMetadataEntry { text } }
      }
    }
  }
}"""


RUN_TAGS = """
query Run($id: ID!) { runOrError(runId: $id) { ... on Run { status tags { key value } } } }"""


def file_recipe(db: Path, service: str, out: Path) -> dict:
    return recipe_dict(db, service=service, sink={"type": "file", "config": {"filename": str(out)}})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


QUALITY_TESTS = {
    "source": {
        "type": "TestSuite",
        "serviceName": "quality",
        "sourceConfig": {"config": {"type": "TestSuite", "entityFullyQualifiedName": "quality.main.main.a"}},
    },
    "processor": {
        "type": "orm-test-runner",
        "config": {
            "testCases": [
                {
                    "name": "a is empty",
                    "testDefinitionName": "tableRowCountToEqual",
                    "parameterValues": [{"name": "value", "value": "0"}],
                },
                {
                    "name": "a has rows",
                    "testDefinitionName": "tableRowCountToBeBetween",
                    "parameterValues": [{"name": "minValue", "value": "1"}],
                },
            ]
        },
    },
    "sink": {"type": "metadata-rest", "config": {}},
}
CHECKS = """
query Checks($keys: [AssetKeyInput!]) {
  assetNodes(assetKeys: $keys) {
    assetChecksOrError {
      ... on AssetChecks {
        checks { name executionForLatestMaterialization { status evaluation { success } } }
      }
    }
  }
}"""
KILLED = {"killed": "in_sink", "killed_early": "in_source"}  # pipeline: its recipe (job)


@pytest.fixture(scope="module")
def victim(tmp_path_factory):
    """The server of the recipes the kill tests kill: its own stand-in, so that no run of the
    daemon's schedules takes the slow answer meant to hold the victim in place."""
    standin = StandIn().start()
    db = make_sqlite(tmp_path_factory.mktemp("victim") / "v.db", "CREATE TABLE a (x INT);")
    seed_pipelines(standin.url, db, dict.fromkeys(KILLED))
    yield standin, db
    standin.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory, victim):
    """A stand-in OpenMetadata server with a SQLite service and pipelines, and a webserver on
    workspace.yaml whose code location runs them."""
    require_shared()
    tmp = tmp_path_factory.mktemp("live")
    standin = StandIn().start()
    db = make_sqlite(tmp / "c.db", "CREATE TABLE a (x INT); CREATE TABLE b (y INT);")
    schedules = {"nightly": "0 3 * * *", "slow": "0 3 * * *", "minutely": "* * * * *", "by_recipe": None}
    store = f"sqlite:///{tmp / 'bridge.db'}"  # the bridge's store, which the daemon's sensor reads
    seed_pipelines(standin.url, db, schedules, store)
    folder = tmp / "wf"
    recipe = recipe_dict(db, server_url=standin.url)
    recipe["ingestionPipelineFQN"] = "svc.nightly"
    write_recipe(folder / "shop.yaml", recipe)
    write_recipe(folder / "shop.dagster.yaml", {"schedule": "0 3 * * *"})
    every_minute = recipe_dict(db, server_url=standin.url)
    every_minute["ingestionPipelineFQN"] = "svc.by_recipe"
    write_recipe(folder / "every_minute.yaml", every_minute)
    write_recipe(folder / "every_minute.dagster.yaml", {"schedule": "* * * * *", "enabled": True})
    victim_server, victim_db = victim
    for pipeline, job in KILLED.items():
        killed = recipe_dict(victim_db, service="victim", server_url=victim_server.url)
        killed["ingestionPipelineFQN"] = f"svc.{pipeline}"
        write_recipe(folder / f"{job}.yaml", killed)
    # the service's profile and a test suite of its table `a` (empty: one case passes, one fails)
    profiler = recipe_dict(db, service="quality", server_url=standin.url)
    write_recipe(folder / "quality.yaml", profiler)
    profiler["source"]["sourceConfig"]["config"] = {"type": "Profiler"}
    profiler["processor"] = {"type": "orm-profiler", "config": {}}
    write_recipe(folder / "quality_profiler.yaml", profiler)
    write_recipe(
        folder / "quality_tests.yaml",
        QUALITY_TESTS
        | {"workflowConfig": {"openMetadataServerConfig": {"hostPort": standin.url}, "raiseOnError": False}},
    )
    # an upstream recipe, and one after it whose sidecar asks to run when it materializes
    write_recipe(folder / "upstream.yaml", file_recipe(db, "up", tmp / "up.jsonl"))
    write_recipe(folder / "downstream.yaml", file_recipe(db, "down", tmp / "down.jsonl"))
    write_recipe(folder / "downstream.dagster.yaml", {"deps": ["upstream"], "automation": "eager"})
    home = tmp / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    port = free_port()
    env = dict(
        os.environ,
        DAGSTER_HOME=str(home),
        OM_DAGSTER_WORKFLOWS_DIR=str(folder),
        OM_DAGSTER_SERVER_HOST_PORT=standin.url,
        OM_DAGSTER_BRIDGE_DB=store,
    )
    webserver = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster-webserver"),
            "-w",
            "workspace.yaml",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # schedules and sensors need the daemon: it ticks while the other tests run
    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = DagsterPipelineServiceClient("127.0.0.1", port)
    try:
        deadline = time.monotonic() + 120
        while client.get_service_status()["status"] != "healthy":
            assert webserver.poll() is None and time.monotonic() < deadline, "dagster-webserver did not start"
            time.sleep(0.5)
        yield client, standin, env
    finally:  # also when the webserver never started: no server outlives the tests
        for process in (daemon, webserver):
            process.terminate()
            process.wait(timeout=60)
        standin.stop()


def wait_for(client, fqn: str, run_id: str, states: set[str], seconds: float = 120) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = next((s["pipelineState"] for s in client.get_status(fqn) if s["runId"] == run_id), None)
        if state in states:
            return state
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} never reached {states}")


def test_service_status_is_healthy_with_versions(live):
    client, _, _ = live
    status = client.get_service_status()
    assert status["status"] == "healthy" and status["platform"] == "Dagster"
    assert status["version"] == "0.1.0" and status["dagster"].startswith("1.13")


def test_deploy_starts_the_pipelines_sensor(live):
    client, _, _ = live
    assert client.deploy({"fullyQualifiedName": "svc.nightly", "pipelineType": "metadata"})[
        "message"
    ].startswith("svc.nightly deployed")
    with pytest.raises(PipelineServiceError, match="'usage' pipelines are not supported yet"):
        client.deploy({"fullyQualifiedName": "svc.usage", "pipelineType": "usage"})


def test_run_then_status_and_logs(live):
    client, standin, _ = live
    run_id = client.run("svc.nightly")
    assert wait_for(client, "svc.nightly", run_id, {"success", "failed"}) == "success"
    assert {"svc.main.main.a", "svc.main.main.b"} <= set(standin.all("tables"))
    [entry] = [s for s in client.get_status("svc.nightly") if s["runId"] == run_id]
    assert entry["endDate"] >= entry["startDate"]
    logs = client.get_last_logs("svc.nightly")
    assert "Workflow result: success" in logs["ingestion_task"] and logs["logs"] == logs["ingestion_task"]
    assert [s["pipelineState"] for s in standin.status_history("svc.nightly")][-2:] == ["running", "success"]
    # the key a recipe of that service and workflow has: one history, whichever way it runs
    materialized = client._query(ASSET, {"key": {"path": ["openmetadata", "svc", "metadata"]}})[
        "assetOrError"
    ]
    [last] = materialized["assetMaterializations"]
    entries = {e["label"]: e.get("intValue", e.get("text")) for e in last["metadataEntries"]}
    assert last["runId"] == run_id and entries["state"] == "success"
    assert entries["sink:metadata-rest records"] == 5


def test_toggle_starts_and_stops_the_schedule_of_recipes_reporting_to_it(live):
    client, _, _ = live
    assert client.toggle("svc.nightly", True)["message"] == "svc.nightly enabled: shop_schedule"
    assert client.toggle("svc.nightly", False)["message"] == "svc.nightly disabled: shop_schedule"
    assert "follows its `enabled` flag" in client.toggle("svc.slow", False)["message"]


def test_kill_terminates_a_running_run_and_openmetadata_hears_it(live):
    client, standin, _ = live
    # the run waits in its sink; a run the daemon starts meanwhile may take a slow answer too
    # (one slow answer alone was once taken by a schedule's run, and this run never waited)
    standin.delay("GET", "/api/v1/tables", seconds=30, times=4)
    try:
        run_id = client.run("svc.slow")
        wait_for(client, "svc.slow", run_id, {"running"})
        assert client.kill("svc.slow")["message"] == "svc.slow: 1 run(s) terminated"
    finally:
        standin.delay_next.clear()  # no later run is slowed
    assert wait_for(client, "svc.slow", run_id, {"stopped", "failed"}) == "stopped"
    # told by the run itself, or (a run killed before it could say so) by the stopped-runs
    # sensor on its next tick: wait for OpenMetadata to hear it, not a fixed time
    deadline = time.monotonic() + 120
    while standin.status_history("svc.slow")[-1]["pipelineState"] == "running":
        assert time.monotonic() < deadline, "OpenMetadata never heard that the run stopped"
        time.sleep(0.5)
    assert [s["pipelineState"] for s in standin.status_history("svc.slow")] == ["running", "stopped"]
    with pytest.raises(PipelineServiceError, match="no queued or running run to kill"):
        client.kill("svc.slow")


def test_delete_stops_what_runs_and_unreachable_dagster_is_unhealthy(live):
    client, _, _ = live
    assert client.delete("svc.slow")["message"] == "svc.slow deleted; 0 run(s) stopped"
    gone = DagsterPipelineServiceClient("127.0.0.1", free_port(), timeout=2).get_service_status()
    assert gone["status"] == "unhealthy" and "cannot reach Dagster" in gone["reason"]


def test_the_daemon_runs_a_schedule_tick_and_a_sensor_tick(live):
    """Once for real: the recipe's every-minute schedule and the pipelines sensor both launch."""
    client, standin, _ = live
    deadline = time.monotonic() + 200  # a minute boundary, plus the sensor's 60 s interval
    while time.monotonic() < deadline:
        scheduled = [s for s in client.get_status("svc.by_recipe") if s["pipelineState"] == "success"]
        sensed = [s for s in client.get_status("svc.minutely") if s["pipelineState"] == "success"]
        if scheduled and sensed:
            break
        time.sleep(2)
    assert scheduled, "no run of the every-minute schedule"
    assert sensed, f"no run launched by the pipelines sensor: {client.get_status('svc.minutely')}"
    assert "success" in [s["pipelineState"] for s in standin.status_history("svc.minutely")]


def test_automation_eager_runs_a_recipe_after_its_upstream_materializes(live):
    """Once for real: the daemon's automation sensor launches `downstream` (sidecar
    `automation: eager`, `deps: [upstream]`) after a run materializes `upstream`."""
    client, _, _ = live
    down = {"key": {"path": ["openmetadata", "down", "metadata"]}}
    assert client._query(ASSET, down)["assetOrError"]["assetMaterializations"] == []
    upstream_run = client.graphql.submit_job_execution(
        "upstream", repository_location_name="om_dagster", repository_name="__repository__"
    )
    deadline = time.monotonic() + 180  # the sensor ticks every 15 s, once upstream is done
    while time.monotonic() < deadline:
        materialized = client._query(ASSET, down)["assetOrError"]["assetMaterializations"]
        if materialized:
            break
        time.sleep(2)
    assert materialized, "the daemon never materialized the downstream asset"
    run = client._query(RUN_TAGS, {"id": materialized[0]["runId"]})["runOrError"]
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert materialized[0]["runId"] != upstream_run
    assert tags.get("dagster/from_automation_condition") == "true", tags


def kill_mid_step(live, victim, job: str, held: str) -> list[dict]:
    """`dagster job execute` of `job`, killed (-9) while its request to `held` waits on the
    victim server, the daemon running: the dead-runs sensor (every 30 s) marks the run
    FAILURE, and the failure sensor reports `failed` with an end to OpenMetadata."""
    client, _, env = live
    server, _ = victim
    pipeline = f"svc.{next(p for p, j in KILLED.items() if j == job)}"
    server.delay("GET", held, seconds=120, times=1)
    asked = server.count("GET", held)
    command = [str(Path(sys.executable).parent / "dagster"), "job", "execute", "-m", "om_dagster", "-j", job]
    run = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while server.count("GET", held) == asked:
        assert run.poll() is None and time.monotonic() < deadline, f"the run never asked for {held}"
        time.sleep(0.2)
    before = server.status_history(pipeline)
    run.kill()
    run.wait()
    deadline = time.monotonic() + 150
    while len(server.status_history(pipeline)) == len(before) and time.monotonic() < deadline:
        time.sleep(1)
    after = server.status_history(pipeline)[len(before) :]
    assert [s["pipelineState"] for s in after] == ["failed"], after
    [failed] = after
    assert failed["endDate"] >= failed["startDate"]
    assert all(s["runId"] == failed["runId"] for s in before)
    status = client._query(RUN_TAGS, {"id": failed["runId"]})["runOrError"]["status"]
    assert status == "FAILURE"
    return before


def test_a_run_killed_in_its_source_ends_failed_in_dagster_and_openmetadata(live, victim):
    """Held in the source step, on the check of the token, before it reports `running`."""
    before = kill_mid_step(live, victim, "in_source", "/api/v1/services/databaseServices")
    assert before == []


def test_a_run_killed_in_its_sink_ends_failed_in_dagster_and_openmetadata(live, victim):
    """Held in the sink, on its first list of the tables the server holds."""
    before = kill_mid_step(live, victim, "in_sink", "/api/v1/tables")
    assert [s["pipelineState"] for s in before] == ["running"]


def test_graphql_shows_the_profile_as_metadata_and_each_test_case_as_a_check(live):
    """What the UI reads: the profiler asset's materialization carries the tables' shape,
    and each test case of the suite is an asset check that passed or failed as it should."""
    client, _, env = live
    dagster = str(Path(sys.executable).parent / "dagster")
    for job in ("quality", "quality_profiler", "quality_tests"):
        done = subprocess.run(
            [dagster, "job", "execute", "-m", "om_dagster", "-j", job],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert "RUN_SUCCESS" in done.stderr, done.stderr[-2000:]
    profile = client._query(ASSET, {"key": {"path": ["openmetadata", "quality", "profiler"]}})
    [materialization] = profile["assetOrError"]["assetMaterializations"]
    entries = {e["label"]: e for e in materialization["metadataEntries"]}
    assert entries["tables profiled"]["intValue"] == 2
    [node] = client._query(CHECKS, {"keys": [{"path": ["openmetadata", "quality", "test_suite"]}]})[
        "assetNodes"
    ]
    checks = {
        c["name"]: c["executionForLatestMaterialization"]
        for c in node["assetChecksOrError"]["checks"]
        if c["name"] != "ingestion_failures"
    }
    assert {name: (e["status"], e["evaluation"]["success"]) for name, e in checks.items()} == {
        "a_is_empty": ("SUCCEEDED", True),
        "a_has_rows": ("FAILED", False),
    }


# --- the Airflow-compatible bridge, in front of the same Dagster --------------------------

BOT_TOKEN = "eyJhbGciOiJSUzI1NiJ9.bot-token-never-stored.sig"
BASIC = ("openmetadata", "bridge-password")


@pytest.fixture(scope="module")
def bridge(live, tmp_path_factory):
    """`om-dagster bridge` on uvicorn in a thread, its store a SQLite file, for the live
    webserver and the live stand-in server."""
    client, standin, env = live
    settings = Settings(
        username=BASIC[0],
        password=BASIC[1],
        graphql=client.url,
        server=OpenMetadataServerConfig(hostPort=standin.url),
    )
    db = Path(env["OM_DAGSTER_BRIDGE_DB"].removeprefix("sqlite:///"))  # the daemon's sensor reads it
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            Bridge(settings, Store(env["OM_DAGSTER_BRIDGE_DB"])).app(),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the bridge did not start"
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}/api/v1/openmetadata"
    # the server's orchestrator is the bridge: `pipelineServiceClientConfiguration` with the
    # Airflow client, `apiEndpoint` the bridge, its credentials
    standin.use_orchestrator(f"http://127.0.0.1:{port}", *BASIC)
    # a pipeline on a 5-minute cron, deployed now so that its tick comes while the others run
    om = OpenMetadataClient(OpenMetadataServerConfig(hostPort=standin.url))
    metadata_pipeline(om, om.get_by_name("services/databaseServices", "svc")["id"], "bridged", "*/5 * * * *")
    om.close()
    assert call("POST", f"{base}/deploy", json=deploy_payload(standin, "svc.bridged")).status_code == 200
    yield base, db, standin
    server.should_exit = True
    thread.join(timeout=10)


def call(method: str, url: str, auth: tuple[str, str] | None = BASIC, **kwargs):
    return requests.request(method, url, auth=auth, timeout=60, **kwargs)


def deploy_payload(standin, fqn: str, **changes) -> dict:
    """The IngestionPipeline as the server sends it to deploy: secrets decrypted, the bot's JWT."""
    entity = {
        k: v for k, v in standin.get("services/ingestionPipelines", fqn).items() if not k.startswith("_")
    }
    entity["openMetadataServerConnection"] = {
        "hostPort": standin.url,
        "authProvider": "openmetadata",
        "securityConfig": {"jwtToken": BOT_TOKEN},
    }
    return entity | changes


def test_the_bridge_answers_health_auth_csrf_and_other_prefixes_as_airflow_s_plugin(bridge):
    base, _, standin = bridge
    health = call("GET", f"{base}/health", auth=None)
    assert health.status_code == 200 and health.json() == {"status": "healthy", "version": standin.version}
    assert call("GET", f"{base}/health-auth", auth=None).status_code == 401
    assert call("GET", f"{base}/health-auth", auth=("openmetadata", "wrong")).status_code == 401
    assert (
        call("GET", f"{base}/health-auth").json()["version"] == standin.version
    )  # the server's, not Dagster's
    assert call("GET", f"{base}/csrf-token").json() == {"csrf_token": None}
    for prefix in ("/pluginsv2/api/v2/openmetadata", "/api/v2/openmetadata"):  # the newer probes: 404 at once
        assert call("GET", base.replace("/api/v1/openmetadata", prefix) + "/health-auth").status_code == 404
    assert "ip" in call("GET", f"{base}/ip").json()


def test_the_bridge_deploys_runs_toggles_logs_kills_and_deletes(bridge, live):
    base, db, standin = bridge
    client = live[0]
    unsupported = call(
        "POST", f"{base}/deploy", json=deploy_payload(standin, "svc.nightly", pipelineType="dbt")
    )
    assert unsupported.status_code == 400 and "'dbt'" in unsupported.json()["error"]
    deployed = call("POST", f"{base}/deploy", json=deploy_payload(standin, "svc.nightly"))
    assert deployed.status_code == 200, deployed.text
    assert deployed.json() == {"message": "Workflow [nightly] has been created"}
    assert BOT_TOKEN.encode() not in db.read_bytes()  # the store keeps no secret
    for verb in ("enable", "disable"):
        assert call("POST", f"{base}/{verb}", json={"dag_id": "nowhere"}).status_code == 404
    assert call("POST", f"{base}/disable", json={"dag_id": "nightly"}).status_code == 200
    assert Store(f"sqlite:///{db}").get("nightly").enabled is False
    assert call("POST", f"{base}/enable", json={"dag_id": "nightly"}).status_code == 200
    assert (
        call("GET", f"{base}/status", params={"dag_id": "nowhere", "only_queued": "true"}).status_code == 404
    )
    assert call("POST", f"{base}/kill", json={"dag_id": "nightly"}).status_code == 404  # nothing runs
    triggered = call("POST", f"{base}/trigger", json={"dag_id": "nightly"})
    assert triggered.status_code == 200, triggered.text
    run_id = triggered.json()["run_id"]
    assert wait_for(client, "svc.nightly", run_id, {"success", "failed"}) == "success"
    statuses = call("GET", f"{base}/status", params={"dag_id": "nightly", "only_queued": "false"}).json()
    assert run_id in {s["runId"] for s in statuses}
    assert call("GET", f"{base}/status", params={"dag_id": "nightly", "only_queued": "true"}).json() == []
    logs = call("GET", f"{base}/last_dag_logs", params={"dag_id": "nightly", "task_id": "ingestion_task"})
    assert logs.status_code == 200
    page = logs.json()
    assert page["ingestion_task"] == page["logs"] and "Workflow result: success" in page["logs"]
    assert page["total"] == 1 and "after" not in page
    assert call("GET", f"{base}/last_dag_logs", params={"dag_id": "nightly", "after": "5"}).status_code == 400
    assert call("DELETE", f"{base}/delete", params={"dag_id": "nightly"}).status_code == 200
    assert call("DELETE", f"{base}/delete", params={"dag_id": "nightly"}).status_code == 500
    assert call("POST", f"{base}/trigger", json={"dag_id": "nightly"}).status_code == 500


def connection_test(standin, config: dict, connection_type: str) -> dict:
    """A Test Connection as the UI runs it: the workflow created on the server, triggered
    there (the server sends it to the bridge's run_automation, its secrets encrypted), then
    polled until its status is final."""
    om = OpenMetadataClient(OpenMetadataServerConfig(hostPort=standin.url))
    request = {
        "connection": {"config": config},
        "serviceType": "Database",
        "connectionType": connection_type,
        "serviceName": "trial",
    }
    workflow = om.put(
        "automations/workflows",
        {
            "name": f"test-connection-{connection_type}-{time.monotonic_ns()}",
            "workflowType": "TEST_CONNECTION",
            "request": request,
        },
    )
    answer = requests.post(f"{standin.url}/v1/automations/workflows/trigger/{workflow['id']}", timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["code"] == 200 and answer.json()["platform"] == "Airflow"
    assert json.loads(answer.json()["reason"]) == {
        "message": f"Workflow [{workflow['name']}] has been triggered."
    }
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        held = om.get_by_name("automations/workflows", workflow["name"])
        if held.get("status") in ("Successful", "Failed"):
            om.close()
            return held
        time.sleep(0.2)
    raise AssertionError(f"the test never ended: {held}")


def test_test_connection_reports_each_step_into_the_workflow(bridge, tmp_path, postgres):
    _, _, standin = bridge
    db = make_sqlite(tmp_path / "trial.db", "CREATE TABLE t (x INT); CREATE VIEW v AS SELECT x FROM t;")
    reachable = connection_test(standin, {"type": "SQLite", "databaseMode": str(db)}, "SQLite")
    assert reachable["status"] == "Successful" and reachable["response"]["status"] == "Successful"
    steps = {s["name"]: s for s in reachable["response"]["steps"]}
    assert list(steps) == ["CheckAccess", "GetSchemas", "GetTables", "GetViews"]
    assert all(s["passed"] for s in steps.values()) and steps["GetTables"]["message"] == "1 tables"
    # a password: the server sends it encrypted, the bridge reads the workflow again as the bot
    config = {
        "type": "Postgres",
        "hostPort": postgres.host_port,
        "username": postgres.user,
        "authType": {"password": postgres.password},
        "database": postgres.database,
    }
    with_password = connection_test(standin, config, "Postgres")
    assert with_password["status"] == "Successful", with_password["response"]
    unreachable = connection_test(
        standin,
        {
            "type": "Postgres",
            "hostPort": "127.0.0.1:1",
            "username": "u",
            "authType": {"password": "p"},
            "database": "d",
        },
        "Postgres",
    )
    assert unreachable["status"] == "Failed"
    access = unreachable["response"]["steps"][0]
    assert access["name"] == "CheckAccess" and not access["passed"] and "127.0.0.1" in access["errorLog"]


def ui(standin, method: str, path: str, **kwargs) -> requests.Response:
    """A button of OpenMetadata's UI: a call to the server, which calls the bridge."""
    return requests.request(method, f"{standin.url}/v1/{path}", timeout=120, **kwargs)


def test_the_ui_buttons_on_an_unmodified_server_drive_dagster_through_the_bridge(bridge, live):
    """Deploy, run, logs, pause and resume, kill, delete and the health badge, each as the UI
    asks the server and the server's AirflowRESTClient asks the bridge (its prefix probe,
    Basic auth, CSRF probe before each POST and DELETE), with the server's answers."""
    _, db, standin = bridge
    client = live[0]
    airflow = standin.pipelines.client
    om = OpenMetadataClient(OpenMetadataServerConfig(hostPort=standin.url))
    service = om.get_by_name("services/databaseServices", "svc")
    pipeline = om.put(
        "services/ingestionPipelines",
        {
            "name": "ui",
            "pipelineType": "metadata",
            "service": {"id": service["id"], "type": "databaseService"},
            "sourceConfig": {"config": {"type": "DatabaseMetadata"}},
            "airflowConfig": {"workflowTimeout": 600},
        },
    )
    om.close()
    pid = pipeline["id"]
    airflow.prefix, mark = None, len(airflow.calls)  # a server just started: it probes
    health = ui(standin, "GET", "services/ingestionPipelines/status")
    assert health.status_code == 200
    assert health.json() == {"code": 200, "version": standin.version, "platform": "Airflow"}
    assert [path for _, path in airflow.calls[mark:]] == [
        "pluginsv2/api/v2/openmetadata/health-auth",  # 404 at once
        "api/v2/openmetadata/health-auth",
        "api/v1/openmetadata/health-auth",  # found
        "api/v1/openmetadata/health-auth",  # the health check itself
    ]

    deployed = ui(standin, "POST", f"services/ingestionPipelines/deploy/{pid}")
    assert deployed.status_code == 200, deployed.text
    assert deployed.json()["code"] == 200 and deployed.json()["platform"] == "Airflow"
    assert json.loads(deployed.json()["reason"]) == {"message": "Workflow [ui] has been created"}
    assert airflow.calls[-2:] == [
        ("GET", "api/v1/openmetadata/csrf-token"),
        ("POST", "api/v1/openmetadata/deploy"),
    ]
    assert standin.get("services/ingestionPipelines", "svc.ui")["deployed"] is True
    assert BOT_TOKEN.encode() not in db.read_bytes() and b"standin-ingestion-bot-jwt" not in db.read_bytes()

    triggered = ui(standin, "POST", f"services/ingestionPipelines/trigger/{pid}")
    assert triggered.status_code == 200, triggered.text
    run_id = json.loads(triggered.json()["reason"])["run_id"]
    assert wait_for(client, "svc.ui", run_id, {"success", "failed"}) == "success"
    assert [s["pipelineState"] for s in standin.status_history("svc.ui")] == ["running", "success"]
    run = client._query(RUN_TAGS, {"id": run_id})["runOrError"]
    assert {"key": "dagster/max_runtime", "value": "600"} in run["tags"]  # workflowTimeout
    logs = ui(standin, "GET", f"services/ingestionPipelines/logs/{pid}/last")
    assert logs.status_code == 200
    assert "Workflow result: success" in logs.json()["ingestion_task"] and logs.json()["total"] == "1"

    mark = len(airflow.calls)
    paused = ui(standin, "POST", f"services/ingestionPipelines/toggleIngestion/{pid}")
    assert paused.status_code == 200 and paused.json()["enabled"] is False
    assert Store(f"sqlite:///{db}").get("ui").enabled is False
    # disabled, then deployed again as the server redeploys a deployed pipeline whose `enabled` changed
    posts = [path for method, path in airflow.calls[mark:] if method == "POST"]
    assert posts == ["api/v1/openmetadata/disable", "api/v1/openmetadata/deploy"]
    resumed = ui(standin, "POST", f"services/ingestionPipelines/toggleIngestion/{pid}")
    assert resumed.json()["enabled"] is True and Store(f"sqlite:///{db}").get("ui").enabled is True

    nothing = ui(standin, "POST", f"services/ingestionPipelines/kill/{pid}")
    assert nothing.status_code == 400
    assert nothing.json()["message"].startswith("Failed to kill running workflows due to {")

    gone = ui(standin, "DELETE", f"services/ingestionPipelines/{pid}", params={"hardDelete": "true"})
    assert gone.status_code == 200 and Store(f"sqlite:///{db}").get("ui") is None
    assert airflow.calls[-1] == ("DELETE", "api/v1/openmetadata/delete")


def test_wrong_credentials_leave_the_server_unable_to_reach_the_bridge(bridge):
    """The server's client with the wrong password: every probe gets a 401 (no detail), no
    prefix is found, and the health badge says so."""
    base, _, standin = bridge
    right = standin.pipelines.client
    wrong = standin.use_orchestrator(right.api_endpoint, BASIC[0], "not-the-password")
    try:
        health = ui(standin, "GET", "services/ingestionPipelines/status")
        assert health.status_code == 400
        assert health.json()["message"].startswith(
            f"Unable to connect to Airflow APIs at [{right.api_endpoint}]"
        )
        assert len(wrong.calls) == 3
        refused = requests.get(f"{base}/health-auth", auth=(BASIC[0], "not-the-password"), timeout=10)
        assert refused.status_code == 401 and refused.json() == {"error": "Authentication failed"}
    finally:
        standin.use_orchestrator(right.api_endpoint, right.username, right.password)


def test_a_kill_through_the_bridge_during_a_long_run_leaves_it_stopped_in_openmetadata(bridge, live):
    base, _, standin = bridge
    client = live[0]
    assert call("POST", f"{base}/deploy", json=deploy_payload(standin, "svc.slow")).status_code == 200
    standin.delay("GET", "/api/v1/tables", seconds=30, times=4)  # the run waits in its sink
    try:
        run_id = call("POST", f"{base}/trigger", json={"dag_id": "slow"}).json()["run_id"]
        wait_for(client, "svc.slow", run_id, {"running"})
        killed = call("POST", f"{base}/kill", json={"dag_id": "slow"})
        assert killed.status_code == 200 and killed.json()["message"] == "svc.slow: 1 run(s) terminated"
    finally:
        standin.delay_next.clear()
    deadline = time.monotonic() + 120
    while standin.status_history("svc.slow")[-1]["pipelineState"] == "running":
        assert time.monotonic() < deadline, "OpenMetadata never heard that the run stopped"
        time.sleep(0.5)
    assert standin.status_history("svc.slow")[-1]["pipelineState"] in ("stopped", "failed")
    assert call("POST", f"{base}/kill", json={"dag_id": "slow"}).status_code == 404  # nothing runs now


def test_a_pipeline_deployed_through_the_bridge_runs_on_its_cron_and_reports(bridge, live):
    """Deployed with a 5-minute cron, the daemon's pipelines sensor (reading the bridge's
    store) runs it at its next tick; the run reports running, then success, to OpenMetadata.
    Paused, it would not (`due_runs`, tested in test_managed)."""
    _, _, standin = bridge  # deployed `svc.bridged` as it started: the tick comes meanwhile
    client = live[0]
    deadline = time.monotonic() + 420  # the sensor sees it (within 60 s), then its next 5-minute tick
    while time.monotonic() < deadline:
        if any(s["pipelineState"] == "success" for s in client.get_status("svc.bridged")):
            break
        time.sleep(2)
    else:
        raise AssertionError(f"the deployed pipeline never ran: {client.get_status('svc.bridged')}")
    assert [s["pipelineState"] for s in standin.status_history("svc.bridged")][:2] == ["running", "success"]
    # nothing secret of a deployed pipeline reached Dagster's storage (runs, events, logs)
    home = Path(live[2]["DAGSTER_HOME"])
    assert not [f for f in home.rglob("*") if f.is_file() and BOT_TOKEN.encode() in f.read_bytes()]
