"""Test Connection (`run_automation`): the steps of the service type's test-connection
definition that om-dagster can check, run against the connection the UI sent, each result
PATCHed into the automations Workflow entity as it comes, as OpenMetadata's runner does
(ORCHESTRATOR_API.md section 4). The bridge answers at once and runs this in the background.

Checked for the SQL sources: `CheckAccess` (a connection and `SELECT 1`), `GetDatabases`,
`GetSchemas`, `GetTables`, `GetViews` (SQLAlchemy's inspector). A step we cannot check is
reported not passed with a message saying so; the run is `Successful` when every mandatory
step passed.
"""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy.engine import Engine

from om_dagster.core.loader import build_recipe
from om_dagster.core.recipe import OpenMetadataServerConfig
from om_dagster.core.registry import resolve
from om_dagster.core.steps import first_line
from om_dagster.openmetadata import fqn
from om_dagster.openmetadata.client import OpenMetadataClient, OpenMetadataError
from om_dagster.openmetadata.managed import SOURCE_TYPES
from om_dagster.sources.database import DatabaseSource


def _access(engine: Engine) -> str:
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text("SELECT 1"))
    return "connected"


def _schemas(engine: Engine) -> str:
    return f"{len(sqlalchemy.inspect(engine).get_schema_names())} schemas"


def _tables(engine: Engine) -> str:
    inspector = sqlalchemy.inspect(engine)
    return f"{sum(len(inspector.get_table_names(s)) for s in inspector.get_schema_names())} tables"


def _views(engine: Engine) -> str:
    inspector = sqlalchemy.inspect(engine)
    return f"{sum(len(inspector.get_view_names(s)) for s in inspector.get_schema_names())} views"


CHECKS: dict[str, Callable[[Engine], str]] = {
    "CheckAccess": _access,
    "GetDatabases": _schemas,
    "GetSchemas": _schemas,
    "GetTables": _tables,
    "GetViews": _views,
}


def _stored_request(client: OpenMetadataClient, workflow: dict[str, Any]) -> dict[str, Any]:
    """The test's request as the server holds it, read with the bot's token: the server sends
    the Workflow as stored, its secrets encrypted with its Fernet key, and the bot reads them
    decrypted (OpenMetadata's runner reads it again by name too). The one sent, if that fails."""
    try:
        held = client.get_by_name("automations/workflows", fqn.quote_name(workflow["name"]))
    except OpenMetadataError:
        held = None
    return ((held or workflow).get("request")) or {}


def run_test_connection(workflow: dict[str, Any], server: OpenMetadataServerConfig) -> str:
    """Run the workflow's connection test, PATCHing each step's result into it; its final status."""
    client = OpenMetadataClient(server)
    steps: list[dict[str, Any]] = []
    try:
        request = _stored_request(client, workflow)
        config = (request.get("connection") or {}).get("config") or {}
        kind = config.get("type") or request.get("connectionType") or "?"
        definition = client.get_by_name(
            "services/testConnectionDefinitions", f"{kind}.testConnectionDefinition"
        )
        wanted = (definition or {}).get("steps") or [{"name": "CheckAccess", "mandatory": True}]
        _patch(client, workflow, "Running", steps, "Running")
        try:
            engine = _engine(kind, config, request.get("serviceName") or "test-connection", server)
        except Exception as err:  # a connection the source cannot even build (a bad field...)
            steps += [
                {
                    "name": s["name"],
                    "mandatory": bool(s.get("mandatory", True)),
                    "passed": False,
                    "message": s.get("errorMessage") or "failed",
                    "errorLog": first_line(err),
                }
                for s in wanted
            ]
            engine = None
            wanted = []
        try:
            for step in wanted:
                steps.append(_step(step, engine))
                _patch(client, workflow, "Running", steps, "Running")
        finally:
            if engine is not None:
                engine.dispose()
        passed = all(s["passed"] for s in steps if s["mandatory"])
        final = "Successful" if passed else "Failed"
        _patch(client, workflow, final, steps, final)
        return final
    except OpenMetadataError:
        return "Failed"  # nowhere to report to
    finally:
        client.close()


def _engine(
    kind: str, config: dict[str, Any], service: str, server: OpenMetadataServerConfig
) -> Engine | None:
    """An engine on the connection the UI sent, through the source class ingestion would use."""
    source_type = SOURCE_TYPES.get(kind)
    if source_type is None:
        return None
    recipe = build_recipe(
        {
            "source": {
                "type": source_type,
                "serviceName": service,
                "serviceConnection": {"config": config},
                "sourceConfig": {"config": {"type": "DatabaseMetadata"}},
            },
            "sink": {"type": "metadata-rest", "config": {}},
            "workflowConfig": {"openMetadataServerConfig": server.model_dump(mode="json", exclude_none=True)},
        },
        Path(f"test-connection:{service}"),
    )
    source = resolve("source", source_type, recipe)
    if not issubclass(source, DatabaseSource):
        return None
    name, engine = next(iter(source.connector(recipe).databases()))
    del name
    return engine


def _step(step: dict[str, Any], engine: Engine | None) -> dict[str, Any]:
    result: dict[str, Any] = {"name": step["name"], "mandatory": bool(step.get("mandatory", True))}
    check = CHECKS.get(step["name"])
    if engine is None or check is None:
        return result | {"passed": False, "message": f"{step['name']}: not checked by om-dagster"}
    try:
        return result | {"passed": True, "message": check(engine)}
    except Exception as err:  # the database's own words, in the UI
        return result | {
            "passed": False,
            "message": step.get("errorMessage") or "failed",
            "errorLog": first_line(err),
        }


def _patch(
    client: OpenMetadataClient, workflow: dict[str, Any], status: str, steps: list, result: str
) -> None:
    """`PATCH /automations/workflows/{id}`: the workflow's status and its response so far."""
    response = {"status": result, "steps": steps, "lastUpdatedAt": int(time.time() * 1000)}
    ops = [
        {"op": "add", "path": "/status", "value": status},
        {"op": "add", "path": "/response", "value": response},
    ]
    client.patch("automations/workflows", workflow["id"], ops, workflow.get("name", "?"))
