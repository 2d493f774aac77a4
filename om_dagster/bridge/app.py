"""The Airflow-compatible bridge: OpenMetadata's stock `AirflowRESTClient` talks to it as to
Airflow's managed-APIs plugin, and Dagster does the work (ORCHESTRATOR_API.md in the
contract: request and answer shapes, status codes).

Starlette under uvicorn: both already come with dagster-webserver, a small ASGI app needs
nothing more, and uvicorn serves it in a thread for tests as in production.

Settings from the environment: `OM_DAGSTER_BRIDGE_USERNAME` / `_PASSWORD` (required; HTTP
Basic, compared in constant time), `OM_DAGSTER_GRAPHQL_URL` (the Dagster webserver's
`/graphql`), `OM_DAGSTER_SERVER_HOST_PORT` and `OM_DAGSTER_JWT_TOKEN` (the OpenMetadata
server and its ingestion bot), `OM_DAGSTER_BRIDGE_DB` (the store; default SQLite under
`DAGSTER_HOME`). Dagster's GraphQL has no authentication: keep it private, the bridge is
the boundary.
"""

import base64
import hmac
import json
import logging
import os
import re
import socket
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from om_dagster.bridge.automation import run_test_connection
from om_dagster.bridge.pipeline_service import DagsterPipelineServiceClient, PipelineServiceError
from om_dagster.core.recipe import OpenMetadataServerConfig, RecipeError
from om_dagster.openmetadata.client import OpenMetadataClient, OpenMetadataError
from om_dagster.openmetadata.deployed import NameTaken, Store
from om_dagster.openmetadata.managed import STEPS, airflow_problems, pipeline_recipe

PREFIX = "/api/v1/openmetadata"
OTHER_PREFIXES = ("/pluginsv2/api/v2/openmetadata", "/api/v2/openmetadata")  # newer servers probe these first
SUPPORTED = tuple(STEPS)
LOG_CHUNK = 2_000_000  # characters of logs an answer carries, as the Airflow plugin pages them
VERSION = re.compile(r"(\d+)\.(\d+)")
log = logging.getLogger("om_dagster.bridge")


@dataclass
class Settings:
    username: str
    password: str
    graphql: str
    server: OpenMetadataServerConfig

    @classmethod
    def from_env(cls) -> "Settings":
        missing = [
            v for v in ("OM_DAGSTER_BRIDGE_USERNAME", "OM_DAGSTER_BRIDGE_PASSWORD") if not os.environ.get(v)
        ]
        if missing:
            raise SystemExit(
                f"om-dagster bridge: set {' and '.join(missing)} (the credentials OpenMetadata sends)"
            )
        host_port = os.environ.get("OM_DAGSTER_SERVER_HOST_PORT", "http://localhost:8585/api")
        token = os.environ.get("OM_DAGSTER_JWT_TOKEN")
        server: dict[str, Any] = {"hostPort": host_port}
        if token:
            server |= {"authProvider": "openmetadata", "securityConfig": {"jwtToken": token}}
        return cls(
            username=os.environ["OM_DAGSTER_BRIDGE_USERNAME"],
            password=os.environ["OM_DAGSTER_BRIDGE_PASSWORD"],
            graphql=os.environ.get("OM_DAGSTER_GRAPHQL_URL", "http://127.0.0.1:3000/graphql"),
            server=OpenMetadataServerConfig.model_validate(server),
        )


def error(status: int, text: str) -> JSONResponse:
    return JSONResponse({"error": text}, status_code=status)


class Bridge:
    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store or Store()
        url = urlsplit(settings.graphql)
        self.dagster = DagsterPipelineServiceClient(url.hostname or "127.0.0.1", url.port or 80)
        self.server_version: str | None = None

    # --- plumbing -------------------------------------------------------------------------

    def authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        same_user = hmac.compare_digest(user.encode(), self.settings.username.encode())
        same_password = hmac.compare_digest(password.encode(), self.settings.password.encode())
        return same_user and same_password

    def version(self) -> str:
        """The OpenMetadata server's own version: newer servers compare its major.minor with
        theirs, older ones the whole of it; Dagster's would match neither."""
        if self.server_version is None:
            client = OpenMetadataClient(self.settings.server)
            try:
                self.server_version = client.version()
            finally:
                client.close()
        return self.server_version

    # --- the endpoints ----------------------------------------------------------------------

    def health(self, request: Request, body: dict[str, Any]) -> Response:
        try:
            return JSONResponse({"status": "healthy", "version": self.version()})
        except OpenMetadataError as err:
            return error(503, f"OpenMetadata is not reachable: {err}")

    def health_auth(self, request: Request, body: dict[str, Any]) -> Response:
        status = self.dagster.get_service_status()
        if status["status"] != "healthy":
            return error(503, status.get("reason", "Dagster is not healthy"))
        return self.health(request, body)

    def csrf_token(self, request: Request, body: dict[str, Any]) -> Response:
        return JSONResponse({"csrf_token": None})

    def deploy(self, request: Request, body: dict[str, Any]) -> Response:
        entity = body
        if not entity.get("name"):
            return error(400, "the body is not an IngestionPipeline (no name)")
        kind = entity.get("pipelineType") or "metadata"
        if kind not in SUPPORTED:
            return error(
                400,
                f"pipelineType {kind!r} is not supported by om-dagster; supported: {', '.join(SUPPORTED)}",
            )
        if problems := airflow_problems(entity.get("airflowConfig") or {}):
            return error(400, f"{entity['name']}: " + "; ".join(problems))
        if (entity.get("airflowConfig") or {}).get("pipelineCatchup"):
            log.warning(
                "%s: airflowConfig.pipelineCatchup is not honoured: missed ticks are not run", entity["name"]
            )
        try:
            if entity.get("fullyQualifiedName"):  # built as the run will build it: fails now, not then
                pipeline_recipe(self.settings.server, entity["fullyQualifiedName"])
            deployed = self.store.deploy(entity)
        except NameTaken as err:
            return error(400, str(err))
        except RecipeError as err:
            return error(400, f"{entity['name']}: {err}")
        return JSONResponse({"message": f"Workflow [{deployed.name}] has been created"})

    def trigger(self, request: Request, body: dict[str, Any]) -> Response:
        deployed = self.store.get(str(body.get("dag_id", "")))
        if deployed is None:
            return error(500, f"Workflow [{body.get('dag_id')}] not found: deploy it first")
        try:
            run_id = self.dagster.run(deployed.fqn, deployed.timeout)
        except Exception as err:  # the GraphQL client raises its own kinds
            return error(500, f"Workflow [{deployed.name}] could not be started: {err}")
        return JSONResponse(
            {"message": f"Workflow [{deployed.name}] has been triggered {run_id}", "run_id": run_id}
        )

    def status(self, request: Request, body: dict[str, Any]) -> Response:
        name = request.query_params.get("dag_id", "")
        deployed = self.store.get(name)
        if deployed is None:
            return error(404, f"DAG {name} not found.")
        only_queued = request.query_params.get("only_queued", "").lower() == "true"
        try:
            return JSONResponse(self.dagster.get_status(deployed.fqn, only_queued)[:10])
        except PipelineServiceError as err:
            return error(500, str(err))

    def toggle(self, body: dict[str, Any], enabled: bool) -> Response:
        name = str(body.get("dag_id", ""))
        if not self.store.set_enabled(name, enabled):
            return error(404, f"DAG {name} not found.")
        verb = "enabled" if enabled else "disabled"
        return JSONResponse({"message": f"DAG {name} has been {verb}"})

    def enable(self, request: Request, body: dict[str, Any]) -> Response:
        return self.toggle(body, True)

    def disable(self, request: Request, body: dict[str, Any]) -> Response:
        return self.toggle(body, False)

    def kill(self, request: Request, body: dict[str, Any]) -> Response:
        deployed = self.store.get(str(body.get("dag_id", "")))
        if deployed is None:
            return error(404, f"DAG {body.get('dag_id')} not found.")
        try:
            return JSONResponse(self.dagster.kill(deployed.fqn))
        except PipelineServiceError as err:
            return error(404, str(err))

    def delete(self, request: Request, body: dict[str, Any]) -> Response:
        name = request.query_params.get("dag_id", "")
        deployed = self.store.delete(name)
        if deployed is None:
            return error(500, f"DAG {name} not found.")
        try:
            answer = self.dagster.delete(deployed.fqn)
        except PipelineServiceError as err:
            answer = {"message": f"DAG {name} deleted; its runs could not be stopped: {err}"}
        return JSONResponse(answer)

    def last_dag_logs(self, request: Request, body: dict[str, Any]) -> Response:
        name = request.query_params.get("dag_id", "")
        task = request.query_params.get("task_id", "ingestion_task")
        deployed = self.store.get(name)
        if deployed is None:
            return error(404, f"DAG {name} not found.")
        try:
            text = self.dagster.get_last_logs(deployed.fqn, task)[task]
        except PipelineServiceError as err:
            return error(404, str(err))
        chunks = [text[i : i + LOG_CHUNK] for i in range(0, len(text), LOG_CHUNK)] or [""]
        try:
            after = int(request.query_params.get("after", "0"))
        except ValueError:
            return error(400, "after is not a number")
        if not 0 <= after < len(chunks):
            return error(400, f"after {after} is out of range (0 to {len(chunks) - 1})")
        answer: dict[str, Any] = {task: chunks[after], "logs": chunks[after], "total": len(chunks)}
        if after + 1 < len(chunks):
            answer["after"] = after + 1
        return JSONResponse(answer)

    def ip(self, request: Request, body: dict[str, Any]) -> Response:
        found = os.environ.get("OM_DAGSTER_BRIDGE_IP")
        if not found:
            try:
                found = socket.gethostbyname(socket.gethostname())
            except OSError:
                found = "unknown"
        return JSONResponse({"ip": found})

    def run_automation(self, request: Request, body: dict[str, Any]) -> Response:
        """Answered at once; the test runs in the background and reports into the Workflow
        entity, which the UI polls (the Airflow plugin runs it inline: the server waits)."""
        if body.get("workflowType", "TEST_CONNECTION") != "TEST_CONNECTION" or not body.get("id"):
            return error(
                400, f"only TEST_CONNECTION workflows with an id are run, not {body.get('workflowType')!r}"
            )
        thread = threading.Thread(
            target=run_test_connection, args=(body, self.settings.server), name="test-connection", daemon=True
        )
        thread.start()
        return JSONResponse({"message": f"Workflow [{body.get('name')}] has been triggered."})

    # --- the app ---------------------------------------------------------------------------

    def app(self) -> Starlette:
        protected = {
            "health-auth": (self.health_auth, ["GET"]),
            "csrf-token": (self.csrf_token, ["GET"]),
            "deploy": (self.deploy, ["POST"]),
            "trigger": (self.trigger, ["POST"]),
            "status": (self.status, ["GET"]),
            "enable": (self.enable, ["POST"]),
            "disable": (self.disable, ["POST"]),
            "kill": (self.kill, ["POST"]),
            "delete": (self.delete, ["DELETE"]),
            "last_dag_logs": (self.last_dag_logs, ["GET"]),
            "ip": (self.ip, ["GET"]),
            "run_automation": (self.run_automation, ["POST"]),
        }

        def endpoint(handler: Any, auth: bool = True) -> Any:
            """The handler in a worker thread (it waits on Dagster, OpenMetadata, the store),
            after the Basic credentials are checked."""

            async def answer(request: Request) -> Response:
                if auth and not self.authorized(request):
                    return JSONResponse(
                        {"error": "Authentication failed"},
                        status_code=401,
                        headers={"WWW-Authenticate": 'Basic realm="om-dagster"'},
                    )
                body = await _body(request) if request.method in ("POST", "PUT") else {}
                return await run_in_threadpool(handler, request, body)

            return answer

        routes = [Route("/health", endpoint(self.health, auth=False), methods=["GET"])]
        routes += [
            Route(f"/{path}", endpoint(handler), methods=methods)
            for path, (handler, methods) in protected.items()
        ]
        mounts = [Mount(PREFIX, routes=routes)]
        mounts += [Mount(prefix, routes=[Route("/{rest:path}", _absent)]) for prefix in OTHER_PREFIXES]
        return Starlette(routes=mounts)


async def _absent(request: Request) -> Response:
    return error(404, "not here: om-dagster serves /api/v1/openmetadata")


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except json.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}
