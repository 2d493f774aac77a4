"""Test suites: every definition passes, fails and aborts as values computed here say."""

import json
import statistics
from typing import Any

import yaml
from dagster import DagsterEventType

from om_dagster.location.definitions import build_definitions
from tests.catalog import ROWS, Catalog, quartile, rows
from tests.conftest import EXAMPLES, require_shared, write_recipe

DATA = rows()
IDS = [i for i, _, _, _ in DATA]
AMOUNTS = [float(a) for _, a, _, _ in DATA if a is not None]
NAMES = [n for _, _, n, _ in DATA if n is not None]


def bounds(value: float, low: str, high: str, ruled: bool = True) -> list[tuple[str, dict[str, str], str]]:
    """A passing, a failing and a bad-parameter case for a `...ToBeBetween` definition: bounds
    the wrong way round, which the server refuses where the definition has a rule for them."""
    upside_down = ("Refused", {low: "10", high: "5"}, "Value 10  is not less than  5")
    return [
        ("Success", {low: str(value - 0.01), high: str(value + 0.01)}, ""),
        ("Failed", {low: str(value + 1)}, ""),
        upside_down if ruled else ("Aborted", {low: "10", high: "5"}, "is greater than"),
    ]


# (definition, column, [(expected status, parameters, what the abort says)]); "Refused": the
# server refuses to create the case, so it has no result and the sink counts a failure
CASES: list[tuple[str, str | None, list[tuple[str, dict[str, str], str]]]] = [
    (
        "tableRowCountToEqual",
        None,
        [
            ("Success", {"value": str(ROWS)}, ""),
            ("Failed", {"value": "499"}, ""),
            ("Aborted", {"value": "many"}, "must be a number"),
        ],
    ),
    (
        "tableRowCountToBeBetween",
        None,
        [
            ("Success", {"minValue": "1"}, ""),
            ("Failed", {"maxValue": "100"}, ""),
            ("Aborted", {}, "give 'minValue'"),
        ],
    ),
    (
        "tableColumnCountToEqual",
        None,
        [
            ("Success", {"columnCount": "4"}, ""),
            ("Failed", {"columnCount": "5"}, ""),
            ("Aborted", {}, "is required"),
        ],
    ),
    (
        "tableColumnCountToBeBetween",
        None,
        [
            ("Success", {"minColValue": "2", "maxColValue": "4"}, ""),
            ("Failed", {"minColValue": "5"}, ""),
            ("Aborted", {"maxColValue": "x"}, "must be a number"),
        ],
    ),
    (
        "tableColumnNameToExist",
        None,
        [
            ("Success", {"columnName": "amount"}, ""),
            ("Failed", {"columnName": "price"}, ""),
            ("Aborted", {}, "is required"),
        ],
    ),
    (
        "tableColumnToMatchSet",
        None,
        [
            ("Success", {"columnNames": "id,amount,name,unset", "ordered": "true"}, ""),
            ("Failed", {"columnNames": "amount,id,name,unset", "ordered": "true"}, ""),
            ("Aborted", {}, "is required"),
        ],
    ),
    (
        "tableCustomSQLQuery",
        None,
        [
            ("Success", {"sqlExpression": "SELECT * FROM sales WHERE id < 0"}, ""),
            ("Failed", {"sqlExpression": "SELECT * FROM sales WHERE id < 5", "threshold": "4"}, ""),
            ("Aborted", {"sqlExpression": "SELECT 1", "strategy": "SOMETIMES"}, "strategy must be"),
        ],
    ),
    (
        "columnValuesToBeBetween",
        "id",
        [
            ("Success", {"minValue": "0", "maxValue": str(ROWS - 1)}, ""),
            ("Failed", {"maxValue": "100"}, ""),
            ("Aborted", {}, "give 'minValue'"),
        ],
    ),
    (
        "columnValuesToBeNotNull",
        "amount",
        [("Failed", {}, "")],
    ),
    ("columnValuesToBeNotNull", "id", [("Success", {}, "")]),
    ("columnValuesToBeUnique", "id", [("Success", {}, "")]),
    ("columnValuesToBeUnique", "name", [("Failed", {}, "")]),
    (
        "columnValuesToBeInSet",
        "name",
        [
            (
                "Success",
                {
                    "allowedValues": json.dumps(sorted(set(NAMES))),
                    "matchEnum": "true",
                },
                "",
            ),
            ("Failed", {"allowedValues": '["x0", "x1"]', "matchEnum": "true"}, ""),
            ("Aborted", {}, "is required"),
        ],
    ),
    (
        "columnValuesToBeNotInSet",
        "name",
        [
            ("Success", {"forbiddenValues": '["zzz"]'}, ""),
            ("Failed", {"forbiddenValues": f'["{NAMES[0]}"]'}, ""),
        ],
    ),
    (
        "columnValuesToMatchRegex",
        "name",
        [
            ("Success", {"regex": "[0-9]$"}, ""),
            ("Failed", {"regex": "^ok"}, ""),
            ("Aborted", {}, "is required"),
        ],
    ),
    (
        "columnValuesToNotMatchRegex",
        "name",
        [("Success", {"forbiddenRegex": "^zzz"}, ""), ("Failed", {"forbiddenRegex": "^ok"}, "")],
    ),
    (
        "columnValueLengthsToBeBetween",
        "name",
        [
            ("Success", {"minLength": str(min(map(len, NAMES))), "maxLength": str(max(map(len, NAMES)))}, ""),
            ("Failed", {"maxLength": "3"}, ""),
            ("Aborted", {"minLength": "x"}, "must be a number"),
        ],
    ),
    (
        "columnValuesMissingCount",
        "amount",
        [
            ("Success", {"missingCountValue": str(ROWS - len(AMOUNTS))}, ""),
            ("Failed", {"missingCountValue": "0"}, ""),
            ("Aborted", {}, "is required"),
        ],
    ),
    (
        "columnValueMaxToBeBetween",
        "amount",
        bounds(max(AMOUNTS), "minValueForMaxInCol", "maxValueForMaxInCol"),
    ),
    (
        "columnValueMinToBeBetween",
        "amount",
        bounds(min(AMOUNTS), "minValueForMinInCol", "maxValueForMinInCol", ruled=False),
    ),
    (
        "columnValueMeanToBeBetween",
        "amount",
        bounds(statistics.fmean(AMOUNTS), "minValueForMeanInCol", "maxValueForMeanInCol"),
    ),
    (
        "columnValueMedianToBeBetween",
        "amount",
        bounds(quartile(AMOUNTS, 0.5), "minValueForMedianInCol", "maxValueForMedianInCol"),
    ),
    (
        "columnValueStdDevToBeBetween",
        "amount",
        bounds(statistics.pstdev(AMOUNTS), "minValueForStdDevInCol", "maxValueForStdDevInCol"),
    ),
    (
        "columnValuesSumToBeBetween",
        "amount",
        bounds(sum(AMOUNTS), "minValueForColSum", "maxValueForColSum"),
    ),
]


def suite_cases(table_fqn: str) -> tuple[list[dict[str, Any]], dict[str, tuple[str, str]]]:
    """The recipe's testCases, and what each must end as."""
    cases, expected = [], {}
    for definition, column, variants in CASES:
        for n, (status, params, says) in enumerate(variants):
            name = f"{column or 'table'}_{definition}_{n}"
            case: dict[str, Any] = {
                "name": name,
                "testDefinitionName": definition,
                "parameterValues": [{"name": k, "value": v} for k, v in params.items()],
                "computePassedFailedRowCount": True,
            }
            if column:
                case["columnName"] = column
            cases.append(case)
            fqn = f"{table_fqn}.{column}.{name}" if column else f"{table_fqn}.{name}"
            expected[fqn] = (status, says)
    return cases, expected


def suite_recipe(catalog: Catalog, cases: list[dict[str, Any]], raise_on_error: bool = False) -> dict:
    server = catalog.recipe["workflowConfig"]["openMetadataServerConfig"]
    return {
        "source": {
            "type": "TestSuite",
            "serviceName": catalog.recipe["source"]["serviceName"],
            "sourceConfig": {
                "config": {"type": "TestSuite", "entityFullyQualifiedName": f"{catalog.prefix}.sales"}
            },
        },
        "processor": {"type": "orm-test-runner", "config": {"testCases": cases}},
        "sink": {"type": "metadata-rest", "config": {}},
        "workflowConfig": {"openMetadataServerConfig": server, "raiseOnError": raise_on_error},
    }


def run_suite(tmp_path, catalog: Catalog, recipe: dict, name: str = "shop_tests"):
    folder = tmp_path / "wf"
    write_recipe(folder / "shop.yaml", catalog.recipe)
    write_recipe(folder / f"{name}.yaml", recipe)
    defs = build_definitions(folder)
    assert defs.resolve_job_def("shop").execute_in_process().success
    return defs, defs.resolve_job_def(name).execute_in_process(raise_on_error=False)


def test_every_definition_passes_fails_and_aborts_as_computed_here(tmp_path, catalog, standin):
    table = f"{catalog.prefix}.sales"
    cases, expected = suite_cases(table)
    _, result = run_suite(tmp_path, catalog, suite_recipe(catalog, cases))
    assert result.success
    assert f"{table}.testSuite" in standin.state.entities["dataQuality/testSuites"]
    cases_held = standin.state.entities["dataQuality/testCases"]
    got = {fqn: standin.test_results(fqn)[0] for fqn in expected if fqn in cases_held}
    assert {f: r["testCaseStatus"] for f, r in got.items()} == {
        f: e[0] for f, e in expected.items() if e[0] != "Refused"
    }
    for fqn, (status, says) in expected.items():
        if status != "Refused":
            assert says in got[fqn]["result"], (fqn, got[fqn]["result"])
    [metadata] = [
        e.event_specific_data.materialization.metadata
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_MATERIALIZATION
    ]
    refused = [f for f, (status, _) in expected.items() if status == "Refused"]
    assert metadata["failures"].value == len(refused) and not set(refused) & set(cases_held)
    assert "returned 400: Value 10 is not less than 5" in metadata["failed entities"].value
    # passed/failed rows are filtered counts of the same scan
    between = got[f"{table}.id.id_columnValuesToBeBetween_1"]
    assert (between["passedRows"], between["failedRows"]) == (101, ROWS - 101)
    nulls = got[f"{table}.amount.amount_columnValuesToBeNotNull_0"]
    assert nulls["failedRows"] == ROWS - len(AMOUNTS)
    # a failed case that counts its rows sends some of them; a passing one none
    sample = standin.failed_rows(f"{table}.amount.amount_columnValuesToBeNotNull_0")
    assert sample["columns"] == ["id", "amount", "name", "unset"]
    assert sample["rows"] and all(row[1] is None for row in sample["rows"])
    assert {row[0] for row in sample["rows"]} <= {i for i, a, _, _ in DATA if a is None}
    assert standin.failed_rows(f"{table}.id.id_columnValuesToBeNotNull_0") is None
    assert {v["name"]: v["value"] for v in nulls["testResultValue"]} == {
        "nullCount": str(ROWS - len(AMOUNTS))
    }


def test_each_case_is_an_asset_check_and_failures_fail_the_run_under_raise_on_error(
    tmp_path, catalog, standin
):
    table = f"{catalog.prefix}.sales"
    cases = [
        {
            "name": "enough rows",
            "testDefinitionName": "tableRowCountToBeBetween",
            "parameterValues": [{"name": "minValue", "value": 10}],
        },
        {"name": "ids unique", "testDefinitionName": "columnValuesToBeUnique", "columnName": "id"},
        {"name": "names unique", "testDefinitionName": "columnValuesToBeUnique", "columnName": "name"},
    ]
    _, result = run_suite(tmp_path, catalog, suite_recipe(catalog, cases, raise_on_error=True))
    assert not result.success
    checks = {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
    }
    assert {n: c.passed for n, c in checks.items() if n != "ingestion_failures"} == {
        "enough_rows": True,
        "ids_unique": True,
        "names_unique": False,
    }
    assert checks["names_unique"].metadata["uniqueCount"].value == str(
        sum(1 for n in set(NAMES) if NAMES.count(n) == 1)
    )
    failure = next(e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE)
    assert (
        "1 of 3 test cases did not pass: names unique"
        in failure.step_failure_data.user_failure_data.description
    )
    # the results were recorded before the run failed
    assert standin.test_results(f"{table}.name.names unique")[0]["testCaseStatus"] == "Failed"


def test_the_official_test_suite_example_runs_with_entity_links(tmp_path, catalog, standin):
    """`test_suite.yaml` names its cases' columns in `entityLink` (1.13), which 2.0.7 refuses."""
    require_shared()
    table = f"{catalog.prefix}.sales"
    data = yaml.safe_load((EXAMPLES / "test_suite.yaml").read_text())
    data["source"]["serviceName"] = catalog.recipe["source"]["serviceName"]
    data["source"]["sourceConfig"]["config"]["entityFullyQualifiedName"] = table
    data["processor"]["config"]["testCases"] = [
        {
            "name": "amount_max",
            "description": "largest sale",
            "testDefinitionName": "columnValueMaxToBeBetween",
            "entityLink": f"<#E::table::{table}::columns::amount>",
            "parameterValues": [{"name": "maxValueForMaxInCol", "value": str(max(AMOUNTS) + 1)}],
        }
    ]
    data["workflowConfig"]["openMetadataServerConfig"]["hostPort"] = catalog.recipe["workflowConfig"][
        "openMetadataServerConfig"
    ]["hostPort"]
    _, result = run_suite(tmp_path, catalog, data, name="test_suite")
    assert result.success
    [outcome] = standin.test_results(f"{table}.amount.amount_max")
    assert outcome["testCaseStatus"] == "Success"


def test_the_seed_documents_tests_in_the_profiler_run_translated_with_a_warning(tmp_path, standin):
    """0.10's `processor.config.test_suite` (table_tests, column_tests) in a Profiler recipe:
    profiles, then the tests as cases named after their definitions, with a warning."""
    from om_dagster.core.loader import load_recipe
    from tests.catalog import profiler_recipe, sqlite_catalog
    from tests.conftest import recipe_dict

    db = sqlite_catalog(tmp_path / "shop.db")
    table = "svc.main.main.sales"
    old = profiler_recipe(db, standin.url)
    old["processor"]["config"] = {
        "test_suite": {
            "name": "sales_suite",
            "tests": [
                {
                    "table": table,
                    "table_tests": [
                        {"testCase": {"config": {"value": ROWS}, "tableTestType": "tableRowCountToEqual"}}
                    ],
                    "column_tests": [
                        {
                            "columnName": "id",
                            "testCase": {
                                "config": {"minValue": 0, "maxValue": 99},
                                "columnTestType": "columnValuesToBeBetween",
                            },
                        }
                    ],
                }
            ],
        }
    }
    folder = tmp_path / "wf"
    write_recipe(folder / "shop.yaml", recipe_dict(db, server_url=standin.url))
    path = write_recipe(folder / "old.yaml", old)
    [warning] = [w for w in load_recipe(path).warnings if "test_suite" in w]
    assert "processor.config.test_suite: a field of older OpenMetadata releases" in warning
    assert "orm-test-runner" in warning
    defs = build_definitions(folder)
    assert defs.resolve_job_def("shop").execute_in_process().success
    result = defs.resolve_job_def("old").execute_in_process(raise_on_error=False)
    assert result.success
    assert standin.profiles(table)
    assert standin.test_results(f"{table}.tableRowCountToEqual")[0]["testCaseStatus"] == "Success"
    assert standin.test_results(f"{table}.id.id_columnValuesToBeBetween")[0]["testCaseStatus"] == "Failed"
    # a rerun updates the same cases
    assert defs.resolve_job_def("old").execute_in_process(raise_on_error=False).success
    assert len(standin.test_results(f"{table}.tableRowCountToEqual")) == 2
    assert len(standin.state.entities["dataQuality/testCases"]) == 2


def test_rows_inserted_in_a_range_are_counted_from_the_column(tmp_path, standin):
    import datetime as dt

    import sqlalchemy

    from tests.conftest import make_sqlite, recipe_dict

    now = dt.datetime.now()
    stamps = [now - dt.timedelta(hours=h) for h in (1, 2, 3)] + [
        now - dt.timedelta(days=d) for d in (3, 4, 5, 6, 7)
    ]
    db = make_sqlite(tmp_path / "events.db", "CREATE TABLE events (id INTEGER, at TIMESTAMP)")
    engine = sqlalchemy.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(
            sqlalchemy.text("INSERT INTO events VALUES (:i, :at)"),
            [{"i": i, "at": at.isoformat(sep=" ")} for i, at in enumerate(stamps)],
        )
    engine.dispose()
    table = "svc.main.main.events"
    since = {"columnName": "at", "rangeType": "DAY", "rangeInterval": "1"}
    cases = [
        {
            "name": name,
            "testDefinitionName": "tableRowInsertedCountToBeBetween",
            "parameterValues": [{"name": k, "value": v} for k, v in (since | bounds).items()],
        }
        for name, bounds in (("recent", {"min": "2", "max": "4"}), ("too_few", {"min": "5"}))
    ]
    catalog = Catalog(recipe_dict(db, server_url=standin.url), "svc.main.main")
    recipe = suite_recipe(catalog, cases)
    recipe["source"]["sourceConfig"]["config"]["entityFullyQualifiedName"] = table
    run_suite(tmp_path, catalog, recipe)
    recent, too_few = (standin.test_results(f"{table}.{n}")[0] for n in ("recent", "too_few"))
    assert (recent["testCaseStatus"], too_few["testCaseStatus"]) == ("Success", "Failed")
    assert {v["name"]: v["value"] for v in recent["testResultValue"]} == {"rowCount": "3"}
