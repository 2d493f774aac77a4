"""What OpenMetadata's server asks of an orchestrator (its PipelineServiceClient), answered by
Dagster over its GraphQL API. See ORCHESTRATOR_API.md in the contract for the Airflow side.

| operation          | Dagster GraphQL                                                              |
|--------------------|------------------------------------------------------------------------------|
| get_service_status | `version`, `workspaceOrError` (the code location loaded)                     |
| deploy             | `sensorOrError` / `startSensor` (the pipelines sensor runs)                  |
| run                | `launchRun` of `openmetadata_ingestion_pipeline`, tag `om/pipeline_fqn`      |
| toggle             | `startSchedule` / `stopSchedule` of a recipe job's schedule; managed         |
|                    | pipelines follow their `enabled` flag at each sensor tick                    |
| delete             | `terminateRuns` of its queued and running runs                               |
| get_status         | `runsOrError` filtered by the tag `om/pipeline_fqn`                          |
| get_last_logs      | `runsOrError` (latest run), `logsForRun`                                     |
| kill               | `runsOrError` (queued/starting/started), `terminateRuns`                     |
"""

from importlib.metadata import version
from typing import Any

import requests
from dagster_graphql import DagsterGraphQLClient

from om_dagster.location.factory import MANAGED_JOB
from om_dagster.location.resources import PIPELINE_TAG, pipeline_tags

SENSOR = "openmetadata_ingestion_pipelines"
REPOSITORY = "__repository__"
STATES = {  # Dagster run status -> OpenMetadata pipelineState
    "QUEUED": "queued",
    "NOT_STARTED": "queued",
    "STARTING": "queued",
    "STARTED": "running",
    "SUCCESS": "success",
    "FAILURE": "failed",
    "CANCELING": "stopped",
    "CANCELED": "stopped",
}
ACTIVE = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED"]

RUNS = """
query Runs($filter: RunsFilter, $limit: Int) {
  runsOrError(filter: $filter, limit: $limit) {
    __typename
    ... on Runs { results { runId status startTime endTime creationTime } }
    ... on PythonError { message }
  }
}"""
LOGS = """
query Logs($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection { events { __typename ... on MessageEvent { message level timestamp } } }
    ... on PythonError { message }
  }
}"""
SENSOR_STATE = """
query Sensor($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
  }
}"""
START_SENSOR = """
mutation Start($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
  }
}"""
JOBS = """
query Jobs($selector: RepositorySelector!) {
  repositoryOrError(repositorySelector: $selector) {
    __typename
    ... on Repository {
      jobs { name tags { key value } }
      schedules { name pipelineName scheduleState { status } }
    }
    ... on PythonError { message }
  }
}"""
TOGGLE_SCHEDULE = {
    True: """
mutation Start($selector: ScheduleSelector!) {
  startSchedule(scheduleSelector: $selector) { __typename ... on PythonError { message } }
}""",
    False: """
mutation Stop($id: String!) {
  stopRunningSchedule(id: $id) { __typename ... on PythonError { message } }
}""",
}
SCHEDULE_STATE_ID = """
query Schedule($selector: ScheduleSelector!) {
  scheduleOrError(scheduleSelector: $selector) { ... on Schedule { scheduleState { id status } } }
}"""
WORKSPACE = """
query Workspace {
  version
  workspaceOrError {
    ... on Workspace { locationEntries { name loadStatus locationOrLoadError { __typename } } }
  }
}"""


class PipelineServiceError(Exception):
    """A call Dagster refused or could not answer; one line."""


class DagsterPipelineServiceClient:
    """The operations of OpenMetadata's PipelineServiceClient, for a Dagster webserver."""

    def __init__(self, host: str, port: int, location: str = "om_dagster", timeout: float = 30.0) -> None:
        self.url = f"http://{host}:{port}/graphql"
        self.location = location
        self.timeout = timeout
        self.graphql = DagsterGraphQLClient(host, port_number=port, timeout=int(timeout))

    # --- plumbing -------------------------------------------------------------------

    def _query(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = requests.post(
                self.url, json={"query": query, "variables": variables or {}}, timeout=self.timeout
            )
        except requests.RequestException as err:
            raise PipelineServiceError(f"cannot reach Dagster at {self.url}: {err}") from None
        data = response.json() if response.content else {}
        if response.status_code != 200 or data.get("errors"):
            problem = (data.get("errors") or [{}])[0].get("message", response.reason)
            raise PipelineServiceError(
                f"Dagster GraphQL refused the call ({response.status_code}): {problem}"
            )
        return data["data"]

    def _repository(self) -> dict[str, str]:
        return {"repositoryLocationName": self.location, "repositoryName": REPOSITORY}

    def _runs(self, pipeline_fqn: str, statuses: list[str] | None = None, limit: int = 10) -> list[dict]:
        run_filter: dict[str, Any] = {"tags": [{"key": PIPELINE_TAG, "value": pipeline_fqn}]}
        if statuses:
            run_filter["statuses"] = statuses
        found = self._query(RUNS, {"filter": run_filter, "limit": limit})["runsOrError"]
        if found["__typename"] != "Runs":
            raise PipelineServiceError(f"cannot list runs: {found.get('message', found['__typename'])}")
        return found["results"]

    # --- the operations ---------------------------------------------------------------

    def get_service_status(self) -> dict[str, Any]:
        """Health and version: `healthy` once the code location has loaded."""
        try:
            data = self._query(WORKSPACE)
        except PipelineServiceError as err:
            return {"status": "unhealthy", "reason": str(err), "platform": "Dagster"}
        entries = (data.get("workspaceOrError") or {}).get("locationEntries") or []
        ours = next((e for e in entries if e["name"] == self.location), None)
        loaded = (
            bool(ours) and (ours.get("locationOrLoadError") or {}).get("__typename") == "RepositoryLocation"
        )
        return {
            "status": "healthy" if loaded else "unhealthy",
            "version": version("om-dagster"),
            "dagster": data.get("version"),
            "platform": "Dagster",
            **({} if loaded else {"reason": f"code location {self.location!r} is not loaded"}),
        }

    def deploy(self, pipeline: dict[str, Any]) -> dict[str, str]:
        """Nothing to generate: the pipelines sensor reads OpenMetadata at each tick. Deploying
        makes sure it runs."""
        name = pipeline.get("fullyQualifiedName") or pipeline.get("name", "?")
        if pipeline.get("pipelineType", "metadata") != "metadata":
            raise PipelineServiceError(
                f"{name}: {pipeline.get('pipelineType')!r} pipelines are not supported "
                "yet; supported: metadata"
            )
        selector = {**self._repository(), "sensorName": SENSOR}
        state = self._query(SENSOR_STATE, {"selector": selector})["sensorOrError"]
        if state["__typename"] != "Sensor":
            raise PipelineServiceError(
                f"{name}: the sensor {SENSOR} is not in the code location (set "
                "OM_DAGSTER_SERVER_HOST_PORT where it runs)"
            )
        if state["sensorState"]["status"] != "RUNNING":
            started = self._query(START_SENSOR, {"selector": selector})["startSensor"]
            if started["__typename"] != "Sensor":
                raise PipelineServiceError(f"{name}: cannot start {SENSOR}: {started.get('message')}")
        return {"message": f"{name} deployed: {SENSOR} runs it on its schedule"}

    def run(self, pipeline_fqn: str, timeout: int | None = None) -> str:
        """Launch a run now (failed past `timeout` seconds, if given); its id."""
        return self.graphql.submit_job_execution(
            MANAGED_JOB,
            repository_location_name=self.location,
            repository_name=REPOSITORY,
            tags=pipeline_tags(pipeline_fqn, timeout),
        )

    def toggle(self, pipeline_fqn: str, enabled: bool) -> dict[str, str]:
        """Start or stop the schedules of recipe jobs that report to this pipeline."""
        repository = self._query(JOBS, {"selector": self._repository()})["repositoryOrError"]
        if repository["__typename"] != "Repository":
            raise PipelineServiceError(f"cannot read the code location: {repository.get('message')}")
        jobs = {
            j["name"] for j in repository["jobs"] if {"key": PIPELINE_TAG, "value": pipeline_fqn} in j["tags"]
        }
        schedules = [s for s in repository["schedules"] if s["pipelineName"] in jobs]
        for schedule in schedules:
            selector = {**self._repository(), "scheduleName": schedule["name"]}
            if enabled:
                answer = self._query(TOGGLE_SCHEDULE[True], {"selector": selector})["startSchedule"]
            else:
                found = self._query(SCHEDULE_STATE_ID, {"selector": selector})["scheduleOrError"]
                answer = self._query(TOGGLE_SCHEDULE[False], {"id": found["scheduleState"]["id"]})[
                    "stopRunningSchedule"
                ]
            if answer["__typename"] == "PythonError":
                raise PipelineServiceError(f"{schedule['name']}: {answer['message']}")
        verb = "enabled" if enabled else "disabled"
        if not schedules:
            return {"message": f"{pipeline_fqn} {verb}: the pipelines sensor follows its `enabled` flag"}
        return {"message": f"{pipeline_fqn} {verb}: " + ", ".join(s["name"] for s in schedules)}

    def delete(self, pipeline_fqn: str) -> dict[str, str]:
        """A pipeline lives in OpenMetadata: deleting it here stops what still runs for it."""
        killed = self._terminate(pipeline_fqn)
        return {"message": f"{pipeline_fqn} deleted; {killed} run(s) stopped"}

    def get_status(self, pipeline_fqn: str, only_queued: bool = False) -> list[dict[str, Any]]:
        """Recent runs as OpenMetadata's `pipelineStatus` entries (epoch ms)."""
        statuses = ["QUEUED", "NOT_STARTED", "STARTING"] if only_queued else None
        found = []
        for run in self._runs(pipeline_fqn, statuses):
            started = run.get("startTime") or run.get("creationTime")
            entry: dict[str, Any] = {
                "runId": run["runId"],
                "pipelineState": STATES.get(run["status"], "queued"),
                "startDate": int(started * 1000) if started else None,
                "timestamp": int((run.get("creationTime") or started or 0) * 1000),
            }
            if run.get("endTime"):
                entry["endDate"] = int(run["endTime"] * 1000)
            found.append({k: v for k, v in entry.items() if v is not None})
        return found

    def get_last_logs(self, pipeline_fqn: str, task_id: str = "ingestion_task") -> dict[str, str]:
        """The latest run's log messages, keyed as OpenMetadata's UI reads them."""
        runs = self._runs(pipeline_fqn, limit=1)
        if not runs:
            raise PipelineServiceError(f"{pipeline_fqn}: no run yet")
        logs = self._query(LOGS, {"runId": runs[0]["runId"]})["logsForRun"]
        if logs["__typename"] != "EventConnection":
            raise PipelineServiceError(f"{pipeline_fqn}: cannot read logs: {logs.get('message')}")
        text = "\n".join(e["message"] for e in logs["events"] if e.get("message"))
        return {task_id: text, "logs": text, "total": "1"}

    def kill(self, pipeline_fqn: str) -> dict[str, str]:
        """Terminate the pipeline's queued and running runs."""
        killed = self._terminate(pipeline_fqn)
        if not killed:
            raise PipelineServiceError(f"{pipeline_fqn}: no queued or running run to kill")
        return {"message": f"{pipeline_fqn}: {killed} run(s) terminated"}

    def _terminate(self, pipeline_fqn: str) -> int:
        run_ids = [r["runId"] for r in self._runs(pipeline_fqn, ACTIVE, limit=100)]
        if run_ids:
            self.graphql.terminate_runs(run_ids)
        return len(run_ids)
