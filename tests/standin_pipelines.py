"""The stand-in server's side of the orchestrator: what OpenMetadata's server does when the UI
deploys, runs, pauses, kills, reads the logs of or deletes an ingestion pipeline, or runs a
Test Connection, down to the calls its stock `AirflowRESTClient` makes.

Follows, as researched in open-metadata/OpenMetadata (newest versions in the code index):
`IngestionPipelineResource` (deploy, trigger, toggleIngestion, kill, logs, status),
`IngestionPipelineRepository` (postDelete: the orchestrator's delete on a hard delete only;
the redeploy when `enabled` changes), `WorkflowResource.trigger` (run_automation),
`AirflowRESTClient` (prefix probe, Basic auth, CSRF token, the endpoints and how their answers
are read), `PipelineServiceClient` (the health check and version comparison) and
`CatalogGenericExceptionMapper` (which status each exception becomes). Only the timing is
not followed: the health check's three tries 5 s apart are one try here.
"""

import base64
import contextlib
import json
import re
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import requests

PREFIXES = ("pluginsv2/api/v2/openmetadata", "api/v2/openmetadata", "api/v1/openmetadata")
# `PipelineServiceClientInterface.TYPE_TO_TASK`: the log key of each pipeline type
TASK_KEYS = {
    "metadata": "ingestion_task",
    "profiler": "profiler_task",
    "autoClassification": "auto_classification_task",
    "lineage": "lineage_task",
    "dbt": "dbt_task",
    "usage": "usage_task",
    "TestSuite": "test_suite_task",
    "dataInsight": "data_insight_task",
    "elasticSearchReindex": "elasticsearch_reindex_task",
    "application": "application_task",
}
VERSION = re.compile(r"(\d+).(\d+).(\d+)")  # the server's regex: its dots match any character


class Refused(Exception):
    """What the server answers instead of the orchestrator's result: an `ErrorMessage`."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def phrase(status: int) -> str:
    """`Response.Status.fromStatusCode(n)` as Java prints it."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "null"


@dataclass
class AirflowClient:
    """`AirflowRESTClient`: `apiEndpoint` and `parameters.username/password`."""

    api_endpoint: str
    username: str
    password: str
    timeout: float = 10
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, path): what tests read
    prefix: str | None = None
    csrf_token: str | None = None
    cookies: list[str] = field(default_factory=list)

    def _headers(self) -> dict[str, str]:
        basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        headers = {"Content-Type": "application/json", "Authorization": f"Basic {basic}"}
        if self.csrf_token:
            headers["X-CSRFToken"] = self.csrf_token
        if self.cookies:
            headers["Cookie"] = "; ".join(self.cookies)
        return headers

    def get(self, path: str, timeout: float, params: dict[str, str] | None = None) -> requests.Response:
        self.calls.append(("GET", path))
        url = f"{self.api_endpoint.rstrip('/')}/{path}"
        return requests.get(url, headers=self._headers(), params=params, timeout=timeout)

    def base(self) -> str:
        """The first prefix whose `health-auth` answers 200 with a string `version`, probed once
        (`detectApiPrefix`); none: the call fails and the next one probes again."""
        if self.prefix is None:
            for prefix in PREFIXES:
                try:
                    answer = self.get(f"{prefix}/health-auth", timeout=5)
                    if answer.status_code == 200 and isinstance(answer.json().get("version"), str):
                        self.prefix = prefix
                        break
                except (requests.RequestException, ValueError, AttributeError):
                    continue
            else:
                raise Refused(
                    400,
                    f"Unable to connect to Airflow APIs at [{self.api_endpoint}]. None of the API versions "
                    "(v3 pluginsv2, v2, v1) responded successfully. Airflow may still be starting up or the "
                    "OpenMetadata plugin may not be installed. This operation will be retried on the next "
                    "API call.",
                )
        return self.prefix

    def _fetch_csrf(self) -> None:
        """Before a POST or DELETE while no token is held: `csrf-token`, else `health` for cookies."""
        if self.csrf_token:
            return
        try:
            answer = self.get(f"{self.base()}/csrf-token", timeout=self.timeout)
        except requests.RequestException:
            try:
                answer = self.get(f"{self.base()}/health", timeout=self.timeout)
            except requests.RequestException:
                return
        for cookie in answer.raw.headers.getlist("Set-Cookie") if answer.raw else []:
            kept = cookie.split(";", 1)[0]
            self.cookies.append(kept)
            if "csrf" in kept.lower():
                self.csrf_token = kept.split("=", 1)[-1]
        try:
            token = answer.json().get("csrf_token")
        except (ValueError, AttributeError):
            token = None
        if isinstance(token, str) and token:
            self.csrf_token = token

    def send(
        self, method: str, endpoint: str, body: Any = None, params: dict[str, str] | None = None
    ) -> requests.Response:
        """One call; a POST or DELETE refused for its CSRF token is retried once with a new one.
        No read timeout, as the Java client sets none (the connect timeout only)."""
        prefix = self.base()
        for attempt in range(2):
            if method in ("POST", "DELETE"):
                self._fetch_csrf()
            self.calls.append((method, f"{prefix}/{endpoint}"))
            answer = requests.request(
                method,
                f"{self.api_endpoint.rstrip('/')}/{prefix}/{endpoint}",
                headers=self._headers(),
                params=params,
                data=None if body is None else json.dumps(body),
                timeout=(self.timeout, None),
            )
            stale = "CSRF token has expired" if method == "DELETE" else "CSRF token"
            if attempt == 0 and answer.status_code == 400 and stale in answer.text:
                self.csrf_token, self.cookies = None, []
                continue
            return answer
        return answer

    def response(self, answer: requests.Response) -> dict[str, Any]:
        """`PipelineServiceClientResponse` of a 200: the raw body as `reason`."""
        return {"code": 200, "reason": answer.text, "platform": "Airflow"}


class PipelineService:
    """The server's pipeline operations, as the stand-in answers them."""

    def __init__(self, server: Any, client: AirflowClient) -> None:
        self.server = server  # the StandIn: its entities and its version
        self.client = client

    def _call(self, name: str, method: str, endpoint: str, body: Any = None, **params: str):
        try:
            return self.client.send(method, endpoint, body, params or None)
        except requests.RequestException as err:
            raise Refused(400, f"Failed to deploy pipeline [{name}] due to [{err}].") from None

    def deploy(self, pipeline: dict[str, Any], bot: dict[str, Any]) -> dict[str, Any]:
        """`deployIngestionPipeline`: the whole entity, decrypted, with the bot's connection."""
        name = pipeline["name"]
        answer = self._call(name, "POST", "deploy", pipeline | {"openMetadataServerConnection": bot})
        if answer.status_code != 200:
            raise Refused(
                400,
                f"{name} Failed to deploy Ingestion Pipeline due to airflow API returned "
                f"{phrase(answer.status_code)} and response {answer.text}",
            )
        return self.client.response(answer)

    def trigger(self, pipeline: dict[str, Any]) -> dict[str, Any]:
        """`runPipeline`: the orchestrator's body is dropped on failure; the server writes no
        status (an Airflow answer carries no runId)."""
        name = pipeline["name"]
        answer = self._call(name, "POST", "trigger", {"dag_id": name})
        if answer.status_code != 200:
            raise Refused(
                400, f"Failed to deploy pipeline [{name}] due to [Failed to trigger IngestionPipeline]."
            )
        return self.client.response(answer)

    def toggle(self, pipeline: dict[str, Any]) -> int:
        """`toggleIngestion`: disable when enabled, else enable; the status the bridge gave
        (404: the pipeline is not deployed there)."""
        name = pipeline["name"]
        verb = "disable" if pipeline.get("enabled", True) else "enable"
        answer = self._call(name, "POST", verb, {"dag_id": name})
        if answer.status_code not in (200, 404):
            raise Refused(
                answer.status_code,
                f"Pipeline Exception [{name}] due to [Failed to toggle ingestion pipeline state].",
            )
        return answer.status_code

    def kill(self, pipeline: dict[str, Any]) -> dict[str, Any]:
        name = pipeline["name"]
        answer = self._call(name, "POST", "kill", {"dag_id": name})
        if answer.status_code != 200:
            raise Refused(400, f"Failed to kill running workflows due to {answer.text}")
        return self.client.response(answer)

    def delete(self, pipeline: dict[str, Any]) -> None:
        """On a hard delete; its failure is ignored by the caller."""
        with contextlib.suppress(requests.RequestException, Refused):
            self.client.send("DELETE", "delete", params={"dag_id": pipeline["name"]})

    def last_logs(self, pipeline: dict[str, Any], after: str | None) -> tuple[int, dict[str, str]]:
        params = {"after": after} if after is not None else {}
        params |= {
            "dag_id": pipeline["name"],
            "task_id": TASK_KEYS.get(pipeline.get("pipelineType"), "ingestion_task"),
        }
        answer = self._call(pipeline["name"], "GET", "last_dag_logs", **params)
        if answer.status_code != 200:
            raise Refused(400, f"Failed to get last ingestion logs due to {answer.text}")
        logs = {
            k: v if isinstance(v, str) else json.dumps(v) for k, v in answer.json().items()
        }  # Map<String,String>
        return (503, {"error": logs["error"]}) if "error" in logs else (200, logs)

    def queued(self, pipeline: dict[str, Any]) -> list[dict[str, Any]]:
        """`getQueuedPipelineStatus`: what the orchestrator has queued; anything wrong: none."""
        try:
            answer = self.client.send(
                "GET", "status", params={"dag_id": pipeline["name"], "only_queued": "true"}
            )
        except (requests.RequestException, Refused):
            return []
        return answer.json() if answer.status_code == 200 else []

    def status(self) -> dict[str, Any]:
        """`getServiceStatus`: healthy when the orchestrator's major.minor is the server's."""
        url = f"{self.client.api_endpoint}/{self.client.base()}/health-auth"
        try:
            answer = self.client.get(f"{self.client.base()}/health-auth", timeout=self.client.timeout)
        except requests.RequestException as err:
            return {
                "code": 500,
                "reason": f"Failed to get Airflow status at [{url}] due to [{err}].",
                "platform": "Airflow",
            }
        if answer.status_code in (401, 403):
            who = f"user [{self.client.username}]"
            reason = f"Authentication failed for {who} trying to access the Airflow APIs at [{url}]"
            return {"code": 500, "reason": reason, "platform": "Airflow"}
        if answer.status_code == 404:
            reason = (
                f"Airflow APIs not found at [{url}]. Please validate if the OpenMetadata Airflow plugin is "
                "installed correctly. Follow [this guide](https://docs.open-metadata.org/deployment/ingestion/"
                "openmetadata) for further details."
            )
            return {"code": 500, "reason": reason, "platform": "Airflow"}
        if answer.status_code != 200:
            reason = f"Unexpected status response at [{url}]: code [{answer.status_code}] - [{answer.text}]"
            return {"code": 500, "reason": reason, "platform": "Airflow"}
        reported = answer.json()["version"]
        a, b = VERSION.search(reported), VERSION.search(self.server.version)
        if a is None or b is None:
            raise Refused(500, f"Cannot extract version x.y.z from {reported} and {self.server.version}")
        if a.groups()[:2] == b.groups()[:2]:
            return {"code": 200, "version": reported, "platform": "Airflow"}
        theirs, ours = a.group(0), b.group(0)
        if theirs < ours:  # `String.compareTo`, as the server compares them
            reason = f"Ingestion version [{theirs}] is older than Server Version [{ours}]. "
            reason += "Please upgrade your ingestion client."
        else:
            reason = f"Server version [{ours}] is older than Ingestion Version [{theirs}]. "
            reason += "Please upgrade your server or downgrade the ingestion client."
        return {"code": 500, "reason": reason, "platform": "Airflow"}

    def run_automation(self, workflow: dict[str, Any], bot: dict[str, Any]) -> dict[str, Any]:
        """`WorkflowResource.trigger`: the Workflow as stored, with the ingestion bot's connection."""
        name = workflow["name"]
        try:
            answer = self.client.send(
                "POST", "run_automation", workflow | {"openMetadataServerConnection": bot}
            )
        except requests.RequestException:
            raise Refused(
                400,
                f"Failed to deploy pipeline [{name}] due to [No response from the test connection. Make sure "
                "your service is reachable and accepting connections].",
            ) from None
        if answer.status_code != 200:
            raise Refused(
                400,
                f"{name} Failed to trigger workflow due to airflow API returned {phrase(answer.status_code)} "
                f"and response {answer.text}",
            )
        return self.client.response(answer)
