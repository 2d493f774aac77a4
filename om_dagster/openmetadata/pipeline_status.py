"""Run status for OpenMetadata: what its UI shows for an ingestion pipeline's runs.

A recipe with `ingestionPipelineFQN` reports `running` when a run starts and its final
state with per-step summaries when it ends (`PUT .../pipelineStatus`, upserted by run
id). No Dagster here: the ops and the run status sensors call it.
"""

import time
from typing import Any

from om_dagster.core.recipe import Recipe
from om_dagster.core.status import Status
from om_dagster.openmetadata.client import OpenMetadataClient, OpenMetadataError

FAILURES_SENT = 10  # a sample, as OpenMetadata's own summaries carry


def now_ms() -> int:
    return int(time.time() * 1000)


def step_summary(status: Status) -> dict[str, Any]:
    """`status.json#/definitions/stepSummary`."""
    summary: dict[str, Any] = {
        "name": status.step,
        "records": status.records,
        "updated_records": status.updated,
        "warnings": status.warning_count,
        "errors": status.failure_count,
        "filtered": status.filtered_count,
    }
    if status.failures:
        summary["failures"] = [{"name": f.name, "error": f.reason} for f in status.failures[:FAILURES_SENT]]
    return summary


def run_id(recipe: Recipe, dagster_run_id: str) -> str:
    """The recipe's `pipelineRunId` when it has one (OpenMetadata's own deploys set it)."""
    return recipe.workflow.pipelineRunId or dagster_run_id


def report(
    recipe: Recipe,
    client: OpenMetadataClient,
    dagster_run_id: str,
    state: str,
    started_ms: int,
    statuses: list[Status] = (),
    ended: bool = False,
) -> str | None:
    """Send one status; return a warning to log when the server would not take it, else None.

    A status that cannot be sent never fails the ingestion it describes.
    """
    fqn = recipe.workflow.ingestionPipelineFQN
    if not fqn:
        return None
    body: dict[str, Any] = {
        "runId": run_id(recipe, dagster_run_id),
        "pipelineState": state,
        "startDate": started_ms,
        "timestamp": started_ms,
    }
    if ended:
        body["endDate"] = now_ms()
    if statuses:
        body["status"] = [step_summary(s) for s in statuses]
    try:
        client.put_pipeline_status(fqn, body)
    except OpenMetadataError as err:
        return recipe.mask(f"{recipe.path}: ingestionPipelineFQN: status {state!r} not reported: {err}")
    return None
