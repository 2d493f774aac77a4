"""`orm-test-runner`: the recipe's test cases and the server's, run by the table's database.

The database is the tested table's service: its connection comes from the recipe's
`source.serviceConnection` when it has one, else from OpenMetadata (the service entity,
which only the ingestion bot may read unmasked), as OpenMetadata's runner does.
"""

import time
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from om_dagster.core.loader import build_recipe
from om_dagster.core.recipe import Recipe, RecipeError, field_warnings, parse_model
from om_dagster.core.steps import Failure, Kind, Processor, Record, Result, StepError, first_line
from om_dagster.openmetadata import fqn as fqns
from om_dagster.openmetadata.client import OpenMetadataClient, OpenMetadataError
from om_dagster.openmetadata.managed import MASK, NOT_A_BOT, SOURCE_TYPES
from om_dagster.profiler.dialects import dialect_for
from om_dagster.quality.config import TestCaseConfig, TestRunnerConfig
from om_dagster.quality.source import TestSuiteSource, parse_config
from om_dagster.quality.table import Case, run_cases
from om_dagster.sources.database import DatabaseSource

CONFIG = "processor.config"


def case_fqn(table_fqn: str, name: str, column: str | None) -> str:
    """`<table>.<name>`, or `<table>.<column>.<name>` for a column test (API.md section 4)."""
    parts = [column, name] if column else [name]
    return ".".join([table_fqn, *(fqns.quote_name(p) for p in parts)])


def recipe_case(table_fqn: str, config: TestCaseConfig) -> tuple[Case, dict[str, Any]]:
    """A recipe's case to run, and the `createTestCase.json` body that defines it."""
    column = config.column()
    link = f"<#E::table::{table_fqn}::columns::{column}>" if column else f"<#E::table::{table_fqn}>"
    create: dict[str, Any] = {
        "name": config.name,
        "testDefinition": config.testDefinitionName,
        "entityLink": link,
        "computePassedFailedRowCount": config.computePassedFailedRowCount,
    }
    if config.params():  # sent only when given: the server refuses values for a definition without parameters
        create["parameterValues"] = [{"name": k, "value": v} for k, v in config.params().items()]
    if config.description:
        create["description"] = config.description
    if config.displayName:
        create["displayName"] = config.displayName
    case = Case(
        config.name,
        case_fqn(table_fqn, config.name, column),
        config.testDefinitionName,
        column,
        config.params(),
        config.computePassedFailedRowCount,
    )
    return case, create


class DatabaseOf:
    """Engines on the databases of tested tables' services, one per service and database."""

    def __init__(self, recipe: Recipe, client: OpenMetadataClient | None) -> None:
        self.recipe = recipe
        self.client = client
        self.connectors: dict[str, DatabaseSource] = {}
        self.engines: dict[tuple[str, str], Any] = {}

    def engine(self, table: dict[str, Any]) -> Any:
        key = (table["service"], table["database"])
        if key not in self.engines:
            self.engines[key] = self.connector(table["service"]).engine_for(table["database"])
        return self.engines[key]

    def connector(self, service: str) -> DatabaseSource:
        if service not in self.connectors:
            self.connectors[service] = self._connector(service)
        return self.connectors[service]

    def _connector(self, service: str) -> DatabaseSource:
        own = self.recipe.workflow.source.serviceConnection
        connection = own.config if own is not None else self._server_connection(service)
        source_type = SOURCE_TYPES.get(str(connection.get("type")))
        if source_type is None:
            raise StepError(
                f"{self.recipe.path}: service {service!r}: no tests on {connection.get('type')!r} here"
            )
        data = {
            "source": {
                "type": source_type,
                "serviceName": service,
                "serviceConnection": {"config": connection},
                "sourceConfig": {"config": {"type": "DatabaseMetadata"}},
            },
            "sink": {"type": "console"},
            "workflowConfig": self.recipe.workflow.workflowConfig.model_dump(mode="json", exclude_none=True),
        }
        try:
            database = build_recipe(data, self.recipe.path)
        except RecipeError as err:
            raise StepError(f"the connection of service {service!r}: {err.message}") from None
        dialect = database.steps["source"]
        if not issubclass(dialect, DatabaseSource):
            raise StepError(f"{self.recipe.path}: service {service!r} has no SQL engine to run tests with")
        return dialect.connector(database)  # type: ignore[return-value]

    def _server_connection(self, service: str) -> dict[str, Any]:
        if self.client is None:
            raise StepError(
                "the test runner reads the service's connection from OpenMetadata: it needs the server"
            )
        try:
            entity = self.client.get_by_name(
                "services/databaseServices", fqns.quote_name(service), fields="connection"
            )
        except OpenMetadataError as err:
            raise StepError(f"could not read service {service!r} from OpenMetadata: {err}") from None
        connection = ((entity or {}).get("connection") or {}).get("config")
        if not connection:
            raise StepError(
                f"{self.recipe.path}: service {service!r} has no connection the token may read: add "
                "source.serviceConnection to the recipe, or use the ingestion bot's token"
            )
        if MASK in str(connection):
            raise StepError(f"{self.recipe.path}: the connection of service {service!r}: {NOT_A_BOT}")
        return connection

    def close(self) -> None:
        for engine in self.engines.values():
            engine.dispose()


class TestRunnerProcessor(Processor):
    type_name = "orm-test-runner"

    def __init__(self, config: dict[str, Any], metadata: OpenMetadataClient | None, recipe: Recipe) -> None:
        super().__init__(config, metadata, recipe)
        self.runner_config = parse_model(TestRunnerConfig, config, recipe.path, CONFIG)
        self.source_config = parse_config(recipe)
        self.databases = DatabaseOf(recipe, metadata)

    @classmethod
    def check(cls, recipe: Recipe) -> list[str]:
        source = recipe.steps.get("source")
        if not (isinstance(source, type) and issubclass(source, TestSuiteSource)):
            raise recipe.error(
                "processor.type", "orm-test-runner runs a TestSuite recipe: set source.type: TestSuite"
            )
        config = parse_model(TestRunnerConfig, recipe.workflow.processor.config or {}, recipe.path, CONFIG)
        return field_warnings(recipe.path, config, CONFIG)

    def run(self, records: Iterable[Record]) -> Iterator[Record]:
        for record in records:
            if record.kind != Kind.TABLE_ENTITY:
                yield record
                continue
            result = self.process(record)
            if isinstance(result, Failure):
                self.status.failed(result.name, result.reason)
            else:
                self.status.scanned()
                yield result

    def process(self, record: Record) -> Result:
        table = record.body
        wanted = set(self.source_config.testCases or ())
        ours = [
            recipe_case(table["fqn"], c)
            for c in self.runner_config.testCases
            if c.table() in (None, table["fqn"])
        ]
        names = {case.name for case, _ in ours}
        theirs = [
            (
                Case(
                    c["name"],
                    c["fqn"],
                    c["definition"],
                    c["column"],
                    c["params"],
                    c["computePassedFailedRowCount"],
                    c["id"],
                ),
                None,
            )
            for c in table.get("cases", [])
            if c["name"] not in names
        ]
        chosen = [(case, create) for case, create in ours + theirs if not wanted or case.name in wanted]
        return run_table(self.databases, table, chosen)

    def close(self) -> None:
        self.databases.close()


def run_table(
    databases: DatabaseOf, table: dict[str, Any], chosen: list[tuple[Case, dict[str, Any] | None]]
) -> Result:
    """A table's test results record, or its failure when its database cannot be reached."""
    try:
        engine = databases.engine(table)
        with engine.connect() as conn:
            return run_on(conn, dialect_for(engine), table, chosen)
    except (SQLAlchemyError, StepError) as err:
        return Failure(table["fqn"], f"tests not run: {first_line(err)}")


def run_on(
    conn: Any, dialect: Any, table: dict[str, Any], chosen: list[tuple[Case, dict[str, Any] | None]]
) -> Record:
    """The cases of a table on an open connection, as the record the sink sends."""
    columns = [c["name"] for c in table["columns"]]
    results, statements = run_cases(
        conn, dialect, table["schema"], table["name"], columns, [c for c, _ in chosen]
    )
    now = int(time.time() * 1000)
    creates = dict((case.name, create) for case, create in chosen)
    return Record(
        Kind.TEST_RESULTS,
        {
            "id": table["id"],
            "fqn": table["fqn"],
            "statements": statements,
            "cases": [
                {
                    "name": case.name,
                    "fqn": case.fqn,
                    "definition": case.definition,
                    "column": case.column,
                    "id": case.id,
                    "create": creates[case.name],
                    "result": outcome.body(now),
                    "failedRowsSample": outcome.sample,
                }
                for case, outcome in results
            ],
        },
    )
