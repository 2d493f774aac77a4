"""Steps by role and `type`, as the recipe names them.

Built-in steps are listed here; other packages add theirs through the entry-point
group `om_dagster.connectors` (`name = "package.module:StepClass"`), and the step
class's `role` and `type_name` say where it goes.
"""

from functools import cache
from importlib import import_module
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from om_dagster.core.steps import Step

if TYPE_CHECKING:
    from om_dagster.core.recipe import Recipe

ENTRY_POINT_GROUP = "om_dagster.connectors"

BUILTIN: dict[tuple[str, str], str] = {
    ("source", "sqlite"): "om_dagster.sources.sqlite:SqliteSource",
    ("source", "mysql"): "om_dagster.sources.mysql:MysqlSource",
    ("source", "postgres"): "om_dagster.sources.postgres:PostgresSource",
    ("source", "snowflake"): "om_dagster.sources.snowflake:SnowflakeSource",
    ("source", "glue"): "om_dagster.sources.glue:GlueSource",
    ("source", "dynamodb"): "om_dagster.sources.dynamodb:DynamoDBSource",
    ("sink", "metadata-rest"): "om_dagster.sinks.metadata_rest:MetadataRestSink",
    ("sink", "file"): "om_dagster.sinks.file:FileSink",
    ("sink", "console"): "om_dagster.sinks.console:ConsoleSink",
    ("source", "TestSuite"): "om_dagster.quality.source:TestSuiteSource",
    ("processor", "orm-profiler"): "om_dagster.profiler.processor:OrmProfilerProcessor",
    ("processor", "orm-test-runner"): "om_dagster.quality.runner:TestRunnerProcessor",
    ("source", "query-log-usage"): "om_dagster.queries.log:QueryLogUsageSource",
    ("source", "query-log-lineage"): "om_dagster.lineage.source:QueryLogLineageSource",
    ("source", "mysql-usage"): "om_dagster.queries.mysql:MysqlUsageSource",
    ("source", "mysql-lineage"): "om_dagster.lineage.source:MysqlLineageSource",
    ("source", "postgres-usage"): "om_dagster.queries.postgres:PostgresUsageSource",
    ("source", "postgres-lineage"): "om_dagster.lineage.source:PostgresLineageSource",
    ("source", "snowflake-usage"): "om_dagster.queries.snowflake:SnowflakeUsageSource",
    ("source", "snowflake-lineage"): "om_dagster.lineage.source:SnowflakeLineageSource",
    ("processor", "query-parser"): "om_dagster.queries.processor:QueryParserProcessor",
    ("stage", "table-usage"): "om_dagster.usage.stage:TableUsageStage",
    ("bulkSink", "metadata-usage"): "om_dagster.usage.bulk_sink:MetadataUsageBulkSink",
}
# Workflows whose source reads what the server holds through the dialect of `source.type`:
# a function of (that type's metadata source class, the recipe) giving the workflow's source.
BY_WORKFLOW: dict[str, str] = {
    "profiler": "om_dagster.profiler.source:profiler_source",
}


def _load(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(import_module(module), name)


@cache
def _plugins() -> dict[tuple[str, str], type[Step]]:
    found: dict[tuple[str, str], type[Step]] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        cls = entry.load()
        found[(cls.role, cls.type_name)] = cls
    return found


def known(role: str) -> list[str]:
    names = {t for r, t in BUILTIN if r == role} | {t for r, t in _plugins() if r == role}
    return sorted(names)


def resolve(role: str, type_name: str, recipe: "Recipe") -> type[Step]:
    """The step class for `role`/`type`, or the recipe's error naming what is supported."""
    key = (role, type_name)
    found = _plugins().get(key) or (_load(BUILTIN[key]) if key in BUILTIN else None)
    if found is not None:
        by_workflow = BY_WORKFLOW.get(recipe.workflow_kind) if role == "source" else None
        return _load(by_workflow)(found, recipe) if by_workflow else found
    supported = ", ".join(known(role)) or "none yet"
    raise recipe.error(
        f"{role}.type",
        f"unknown {role} type {type_name!r}; supported here: {supported}",
    )
