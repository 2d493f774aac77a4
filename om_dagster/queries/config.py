"""`sourceConfig.config` of usage and lineage recipes (`databaseServiceQueryUsagePipeline.json`,
`databaseServiceQueryLineagePipeline.json`), and the query record every query source yields."""

from datetime import UTC, datetime
from typing import Any, Literal

from om_dagster.core.recipe import FilterPattern, Model, Recipe, parse_model
from om_dagster.core.steps import Kind, Record

SOURCE_CONFIG = "source.sourceConfig.config"


class QueryConfig(Model):
    """What usage and lineage recipes share."""

    queryLogDuration: int = 1
    queryLogFilePath: str | None = None
    resultLimit: int = 1000
    filterCondition: str | None = None


class UsageConfig(QueryConfig):
    unsupported = frozenset({"processQueryCostAnalysis"})

    type: Literal["DatabaseUsage"] = "DatabaseUsage"
    stageFileLocation: str = "/tmp/query_log"
    processQueryCostAnalysis: bool = True


class LineageConfig(QueryConfig):
    unsupported = frozenset(
        {
            "queryParserConfig",
            "storedProcedureFilterPattern",
            "overrideViewLineage",
            "processStoredProcedureLineage",
            "threads",
            "processCrossDatabaseLineage",
            "crossDatabaseServiceNames",
            "incrementalLineageProcessing",
        }
    )

    type: Literal["DatabaseLineage"] = "DatabaseLineage"
    parsingTimeoutLimit: int = 300
    schemaFilterPattern: FilterPattern | None = None
    tableFilterPattern: FilterPattern | None = None
    databaseFilterPattern: FilterPattern | None = None
    processViewLineage: bool = True
    processQueryLineage: bool = True
    # temporary tables are always followed (within a session of the log), columns included
    enableTempTableLineage: bool = False
    queryParserConfig: Any = None
    storedProcedureFilterPattern: FilterPattern | None = None
    overrideViewLineage: bool = False
    processStoredProcedureLineage: bool = True
    threads: int = 1
    processCrossDatabaseLineage: bool = False
    crossDatabaseServiceNames: list[str] | None = None
    incrementalLineageProcessing: bool = True


def query_config(recipe: Recipe) -> UsageConfig | LineageConfig:
    """The recipe's usage or lineage `sourceConfig` (the kind from its `type`, or from the
    source's name as OpenMetadata reads it: `*-usage`, `*-lineage`)."""
    model = UsageConfig if recipe.workflow_kind == "usage" else LineageConfig
    return parse_model(model, recipe.workflow.source.sourceConfig.config, recipe.path, SOURCE_CONFIG)


def query_record(
    text: str,
    *,
    database: str | None = None,
    schema: str | None = None,
    user: str | None = None,
    start: datetime | None = None,
    duration_ms: float | None = None,
    aborted: bool = False,
    session: str | None = None,
    count: int = 1,
) -> Record:
    """A query as every source gives it (times in UTC); `count`: how many runs it stands for
    (a statistics view gives one row for many runs)."""
    body: dict[str, Any] = {"query": text, "count": count, "aborted": aborted}
    for name, value in (("database", database), ("schema", schema), ("user", user), ("session", session)):
        if value:
            body[name] = value
    if start is not None:
        body["start"] = start.astimezone(UTC).isoformat() if start.tzinfo else start.isoformat() + "+00:00"
    if duration_ms is not None:
        body["duration"] = duration_ms
    return Record(Kind.QUERY, body)
