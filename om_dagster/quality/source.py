"""The TestSuite source: the table under test, as OpenMetadata holds it, with its test cases.

As OpenMetadata's test-suite workflow does, the table and the cases already defined for it
(in the UI, or by earlier runs) come from the server; the recipe's own cases are added by
the `orm-test-runner` processor.
"""

from collections.abc import Iterator
from typing import Any

from om_dagster.core.recipe import Recipe, field_warnings, parse_model
from om_dagster.core.steps import Kind, Record, Result, Source, StepError
from om_dagster.openmetadata.client import AuthError, OpenMetadataClient, OpenMetadataError
from om_dagster.quality.config import ENTITY_LINK, TestSuiteSourceConfig

SOURCE_CONFIG = "source.sourceConfig.config"
TEST_CASES = "dataQuality/testCases"


def parse_config(recipe: Recipe) -> TestSuiteSourceConfig:
    config = recipe.workflow.source.sourceConfig.config
    return parse_model(TestSuiteSourceConfig, config, recipe.path, SOURCE_CONFIG)


def table_entity(table: dict[str, Any]) -> dict[str, Any]:
    """What the steps after the source need of a table entity (no secrets, no history)."""
    return {
        "id": table["id"],
        "fqn": table["fullyQualifiedName"],
        "service": table["service"]["name"],
        "serviceType": table.get("serviceType"),
        "database": table["database"]["name"],
        "schema": table["databaseSchema"]["name"],
        "name": table["name"],
        "columns": [{"name": c["name"], "dataType": c.get("dataType")} for c in table.get("columns", [])],
        "tableProfilerConfig": table.get("tableProfilerConfig"),
    }


def server_case(case: dict[str, Any]) -> dict[str, Any]:
    """A test case the server holds, as the runner reads cases."""
    match = ENTITY_LINK.match(case.get("entityLink", ""))
    definition = case.get("testDefinition") or {}
    return {
        "id": case["id"],
        "name": case["name"],
        "fqn": case["fullyQualifiedName"],
        "definition": definition.get("name") or definition.get("fullyQualifiedName"),
        "column": match.group("column") if match else None,
        "params": {
            p["name"]: p.get("value") for p in case.get("parameterValues") or [] if p.get("value") is not None
        },
        "computePassedFailedRowCount": bool(case.get("computePassedFailedRowCount")),
    }


class TestSuiteSource(Source):
    type_name = "TestSuite"
    needs_server = True

    def __init__(self, config: dict[str, Any], metadata: OpenMetadataClient | None, recipe: Recipe) -> None:
        super().__init__(config, metadata, recipe)
        if metadata is None:
            raise StepError("the TestSuite source reads the table from OpenMetadata: it needs the server")
        self.client = metadata
        self.source_config = parse_config(recipe)

    @classmethod
    def check(cls, recipe: Recipe) -> list[str]:
        config = parse_config(recipe)
        if not config.entityFullyQualifiedName:
            raise recipe.error(
                f"{SOURCE_CONFIG}.entityFullyQualifiedName",
                "required: the FQN of the table to test (logical test suites are not supported yet)",
            )
        return field_warnings(recipe.path, config, SOURCE_CONFIG)

    def iter_results(self) -> Iterator[Result]:
        fqn = self.source_config.entityFullyQualifiedName or ""
        try:
            table = self.client.get_by_name("tables", fqn, fields="columns,tableProfilerConfig")
            if table is None:
                raise StepError(
                    f"{self.recipe.path}: {SOURCE_CONFIG}.entityFullyQualifiedName: OpenMetadata has "
                    f"no table {fqn!r}: run its service's metadata recipe first"
                )
            query = {
                "entityLink": f"<#E::table::{fqn}>",
                "includeAllTests": "true",
                "fields": "testDefinition",
            }
            cases = [server_case(c) for c in self.client.list(TEST_CASES, query)]
        except AuthError as err:
            raise StepError(str(err)) from None
        except OpenMetadataError as err:
            raise StepError(f"could not read the table under test: {err}") from None
        yield Record(Kind.TABLE_ENTITY, table_entity(table) | {"cases": cases})
