"""Test cases as Dagster asset checks, and a test run's results as asset metadata.

Each test case a recipe defines is an asset check of the recipe's asset, declared when the
code location loads (its name, made a Dagster name); it is evaluated from the results the
sink just wrote, which the materialization carries, with the observed values and row
counts as its metadata. Cases defined on the server only appear in the metadata's table.
Severity comes from the sidecar's `severity` (ERROR by default). Under the recipe's
`raiseOnError` a failed case fails the run, after every result is recorded; otherwise the
run passes and the checks show red.
"""

from collections.abc import Iterable, Iterator
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    Failure,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
    multi_asset_check,
)

from om_dagster.core.recipe import JOB_NAME_UNSAFE, Recipe
from om_dagster.core.steps import Kind, Record
from om_dagster.quality.config import TestRunnerConfig

RESULTS = "test results"  # the materialization's JSON of every case's result, by case FQN
SHOWN = 200
SCHEMA = TableSchema(
    columns=[
        TableColumn("test case", "string"),
        TableColumn("status", "string"),
        TableColumn("result", "string"),
        TableColumn("failed rows", "int"),
    ]
)


def check_name(case: str) -> str:
    return JOB_NAME_UNSAFE.sub("_", case)


def results_metadata(records: Iterable[Record]) -> dict[str, MetadataValue]:
    """Counts, a table of the cases (the first `SHOWN`), and every result for the checks."""
    results: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.kind != Kind.TEST_RESULTS:
            continue
        for case in record.body["cases"]:
            result = case["result"]
            results[case["fqn"]] = {
                "name": case["name"],
                "status": result["testCaseStatus"],
                "result": result.get("result", ""),
                "values": {v["name"]: v["value"] for v in result.get("testResultValue", [])},
                "passedRows": result.get("passedRows"),
                "failedRows": result.get("failedRows"),
            }
    if not results:
        return {}
    statuses = [r["status"] for r in results.values()]
    rows = [
        TableRecord(
            {
                "test case": fqn,
                "status": r["status"],
                "result": r["result"],
                "failed rows": int(r["failedRows"] or 0),
            }
        )
        for fqn, r in list(results.items())[:SHOWN]
    ]
    return {
        "test cases": MetadataValue.int(len(results)),
        "tests failed": MetadataValue.int(statuses.count("Failed")),
        "tests aborted": MetadataValue.int(statuses.count("Aborted")),
        "test cases run": MetadataValue.table(rows, schema=SCHEMA),
        RESULTS: MetadataValue.json(results),
    }


def recipe_cases(recipe: Recipe) -> list[str]:
    """The names of the cases the recipe itself defines."""
    processor = recipe.workflow.processor
    if processor is None or processor.type != "orm-test-runner":
        return []
    return [case.name for case in TestRunnerConfig.model_validate(processor.config or {}).testCases]


def test_case_checks(recipe: Recipe, key: AssetKey) -> AssetChecksDefinition | None:
    """One check per test case of the recipe, evaluated from its asset's latest results."""
    names = recipe_cases(recipe)
    if not names:
        return None
    severity = AssetCheckSeverity.WARN if recipe.sidecar.severity == "WARN" else AssetCheckSeverity.ERROR
    by_check = {check_name(name): name for name in names}
    raise_on_error = recipe.workflow.workflowConfig.raiseOnError
    path = recipe.path

    @multi_asset_check(
        specs=[
            AssetCheckSpec(check, asset=key, description=f"OpenMetadata test case {name!r}")
            for check, name in by_check.items()
        ],
        name=f"{JOB_NAME_UNSAFE.sub('_', '__'.join(key.path))}_test_cases",
    )
    def test_cases(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
        event = context.instance.get_latest_materialization_event(key)
        metadata = event.asset_materialization.metadata if event and event.asset_materialization else {}
        results = metadata[RESULTS].value if RESULTS in metadata else {}
        by_name = {r["name"]: (fqn, r) for fqn, r in results.items()}
        failed = []
        for check, name in by_check.items():
            fqn, result = by_name.get(name, (None, None))
            if result is None:
                yield AssetCheckResult(
                    check_name=check,
                    passed=False,
                    severity=severity,
                    description="no result in the latest run (its table was not reached)",
                )
                failed.append(name)
                continue
            passed = result["status"] == "Success"
            if not passed:
                failed.append(name)
            yield AssetCheckResult(
                check_name=check,
                passed=passed,
                severity=severity,
                description=f"{result['status']}: {result['result']}",
                metadata={
                    "test case": MetadataValue.text(fqn or name),
                    "status": MetadataValue.text(result["status"]),
                    **{k: MetadataValue.text(str(v)) for k, v in result["values"].items()},
                    **{
                        k: MetadataValue.int(int(result[k]))
                        for k in ("passedRows", "failedRows")
                        if result.get(k) is not None
                    },
                },
            )
        if failed and raise_on_error:
            shown = ", ".join(failed[:10]) + (f" and {len(failed) - 10} more" if len(failed) > 10 else "")
            raise Failure(
                description=f"{path}: {len(failed)} of {len(by_check)} test cases did not pass: {shown} "
                "(raiseOnError: true; set it to false to record failed tests without failing the run)"
            )

    return test_cases
