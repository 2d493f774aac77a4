"""Ingestion pipelines defined in OpenMetadata, run on Dagster.

`pipeline_recipe` builds a pipeline's recipe from the server's entities when its run starts
(so secrets never enter run config); `due_runs` says which pipelines' cron ticks have come
since the sensor last looked. No Dagster here.
"""

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from om_dagster.core.loader import build_recipe
from om_dagster.core.recipe import OpenMetadataServerConfig, Recipe, RecipeError
from om_dagster.openmetadata.client import OpenMetadataClient, OpenMetadataError

# OpenMetadata serviceType -> the recipe's source type
SOURCE_TYPES = {
    "SQLite": "sqlite",
    "Mysql": "mysql",
    "Postgres": "postgres",
    "Snowflake": "snowflake",
    "Glue": "glue",
    "DynamoDB": "dynamodb",
}
PIPELINES = "services/ingestionPipelines"
SINK = {"sink": {"type": "metadata-rest", "config": {}}}


def _usage_steps(source_config: dict[str, Any]) -> dict[str, Any]:
    folder = {"filename": (source_config.get("config") or {}).get("stageFileLocation") or "/tmp/query_log"}
    return {
        "processor": {"type": "query-parser", "config": {}},
        "stage": {"type": "table-usage", "config": folder},
        "bulkSink": {"type": "metadata-usage", "config": folder},
    }


# the steps after the source of each pipelineType, as OpenMetadata's workflow builders set them
STEPS = {
    "metadata": lambda _: SINK,
    "lineage": lambda _: SINK,
    "profiler": lambda _: {"processor": {"type": "orm-profiler", "config": {}}, **SINK},
    "usage": _usage_steps,
    "TestSuite": lambda _: {"processor": {"type": "orm-test-runner", "config": {}}, **SINK},
}
TEST_SUITES = "dataQuality/testSuites"
SOURCE_SUFFIX = {"usage": "-usage", "lineage": "-lineage"}  # postgres -> postgres-usage
MASK = "*********"
NOT_A_BOT = (
    "the server masks it for this token, which is not a bot's: set OM_DAGSTER_JWT_TOKEN to the "
    "ingestion bot's JWT (OpenMetadata: Settings > Bots > ingestion-bot)"
)


def pipeline_recipe(server: OpenMetadataServerConfig, pipeline_fqn: str) -> Recipe:
    """The recipe `metadata ingest` would get from OpenMetadata's deploy of this pipeline."""
    origin = Path(f"openmetadata:{pipeline_fqn}")
    client = OpenMetadataClient(server)
    try:
        pipeline = client.get_by_name(PIPELINES, pipeline_fqn, fields="sourceConfig,airflowConfig")
        if pipeline is None:
            raise RecipeError(origin, "ingestionPipelineFQN", "no such ingestion pipeline on the server")
        if pipeline.get("pipelineType") not in STEPS:
            raise RecipeError(
                origin,
                "pipelineType",
                f"{pipeline.get('pipelineType')!r} pipelines are not supported yet; supported: "
                + ", ".join(STEPS),
            )
        reference = pipeline["service"]
        if pipeline["pipelineType"] == "TestSuite":
            return _test_suite_recipe(client, pipeline, server, origin)
        service = client.get_by_name(
            "services/databaseServices", reference["fullyQualifiedName"], fields="connection"
        )
    except OpenMetadataError as err:
        raise RecipeError(origin, "", f"cannot read the pipeline from OpenMetadata: {err}") from None
    finally:
        client.close()
    if service is None or not (service.get("connection") or {}).get("config"):
        raise RecipeError(origin, "service.connection", "the service has no connection the bot may read")
    # The server masks secrets for every caller but bots (`PasswordEntityMasker`) and drops a
    # pipeline's sourceConfig for callers without VIEW_ALL: running on either would fail later
    # on a password of asterisks, or ingest without the pipeline's filters.
    if MASK in json.dumps(service["connection"]["config"]):
        raise RecipeError(origin, "service.connection", NOT_A_BOT)
    source_config = pipeline.get("sourceConfig") or {}
    if not source_config.get("config"):
        raise RecipeError(origin, "sourceConfig", f"the server sent none: {NOT_A_BOT}")
    source_type = SOURCE_TYPES.get(service.get("serviceType", ""))
    if source_type is None:
        raise RecipeError(
            origin, "service.serviceType", f"{service.get('serviceType')!r} is not supported yet"
        )
    kind = pipeline["pipelineType"]
    source = {
        "type": source_type + SOURCE_SUFFIX.get(kind, ""),
        "serviceName": service["name"],
        "serviceConnection": {"config": service["connection"]["config"]},
        "sourceConfig": source_config,
    }
    return build_recipe(_recipe(pipeline, source, server), origin)


def _test_suite_recipe(
    client: OpenMetadataClient, pipeline: dict[str, Any], server: OpenMetadataServerConfig, origin: Path
) -> Recipe:
    """As OpenMetadata's test-suite builder: the suite's name as the service, no connection
    (the test runner reads the tested table's service connection from the server)."""
    reference = pipeline["service"]
    if client.get_by_name(TEST_SUITES, reference["fullyQualifiedName"]) is None:
        raise RecipeError(
            origin, "service", f"no test suite {reference['fullyQualifiedName']!r} on the server"
        )
    if not (pipeline.get("sourceConfig") or {}).get("config"):
        raise RecipeError(origin, "sourceConfig", f"the server sent none: {NOT_A_BOT}")
    source = {"type": "TestSuite", "serviceName": reference["name"], "sourceConfig": pipeline["sourceConfig"]}
    return build_recipe(_recipe(pipeline, source, server), origin)


def _recipe(
    pipeline: dict[str, Any], source: dict[str, Any], server: OpenMetadataServerConfig
) -> dict[str, Any]:
    return {
        "source": source,
        **STEPS[pipeline["pipelineType"]](source["sourceConfig"]),
        "workflowConfig": {
            "loggerLevel": pipeline.get("loggerLevel", "INFO"),
            "raiseOnError": pipeline.get("raiseOnError", True),
            "openMetadataServerConfig": server.model_dump(mode="json", exclude_none=True) | _token(server),
        },
        "ingestionPipelineFQN": pipeline["fullyQualifiedName"],
    }


def _token(server: OpenMetadataServerConfig) -> dict[str, Any]:
    """model_dump masks SecretStr: put the token back, for this in-memory recipe only."""
    return {"securityConfig": {"jwtToken": server.jwt_token}} if server.jwt_token else {}


def latest_tick(cron: str, timezone: str, now: dt.datetime) -> dt.datetime | None:
    """The last time the cron fired at or before `now`."""
    from dagster._utils.schedules import reverse_cron_string_iterator

    ticks = reverse_cron_string_iterator(
        end_timestamp=now.timestamp(), cron_string=cron, execution_timezone=timezone
    )
    return next(ticks, None)


def due_runs(
    pipelines: list[dict[str, Any]],
    cursor: dict[str, float],
    now: dt.datetime,
    active: Callable[[str], int] = lambda fqn: 0,
) -> tuple[list[tuple[str, dt.datetime]], dict[str, float]]:
    """(pipeline FQN, tick) to launch now, and the new cursor (last tick seen per pipeline).

    A pipeline seen for the first time starts from its next tick (nothing catches up), a
    disabled one never runs, and each tick runs once, whatever the sensor's restarts. As
    Airflow reads `airflowConfig`: no tick before `startDate` or after `endDate`, and a tick
    that comes while `maxActiveRuns` runs (`active(fqn)`) are still queued or running waits
    until one ends (ticks missed meanwhile are one run, as without catch-up).
    """
    due: list[tuple[str, dt.datetime]] = []
    new_cursor: dict[str, float] = {}
    for pipeline in pipelines:
        fqn = pipeline["fullyQualifiedName"]
        config = pipeline.get("airflowConfig") or {}
        cron = config.get("scheduleInterval")
        if not cron or pipeline.get("enabled") is False:
            continue
        tick = latest_tick(cron, config.get("pipelineTimezone") or "UTC", now)
        if tick is None:
            continue
        seen = cursor.get(fqn)
        new_cursor[fqn] = tick.timestamp()
        if seen is None or tick.timestamp() <= seen or not _within(tick, config):
            continue
        if active(fqn) >= (config.get("maxActiveRuns") or 1):
            new_cursor[fqn] = seen  # still due at the next look
            continue
        due.append((fqn, tick))
    return due, new_cursor


def airflow_problems(config: dict[str, Any]) -> list[str]:
    """What of a pipeline's `airflowConfig` cannot be read as written (checked at deploy)."""
    return [
        f"airflowConfig.{key}: {config[key]!r} is not an ISO 8601 date-time"
        for key in ("startDate", "endDate")
        if config.get(key) and _instant(config[key]) is None
    ]


def _within(tick: dt.datetime, config: dict[str, Any]) -> bool:
    start, end = _instant(config.get("startDate")), _instant(config.get("endDate"))
    return (start is None or tick >= start) and (end is None or tick <= end)


def _instant(value: Any) -> dt.datetime | None:
    """An `airflowConfig` date (ISO 8601; without an offset, UTC), or None."""
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
