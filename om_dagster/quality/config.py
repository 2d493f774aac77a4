"""Test-suite recipes: `sourceConfig.config` of type TestSuite and the `orm-test-runner` processor.

A case names its column with `columnName` (2.0) or in its `entityLink` (1.13's example,
`<#E::table::<fqn>::columns::<column>>`). The seed documents' 0.10 form, the profiler
processor's `test_suite.tests[].table_tests/column_tests`, becomes cases with the same
definitions and parameters, named deterministically so reruns update the same cases.
"""

import json
import re
from typing import Any, Literal

from pydantic import Field, field_validator

from om_dagster.core.recipe import Model

ENTITY_LINK = re.compile(r"^<#E::table::(?P<table>.+?)(?:::columns::(?P<column>[^:>]+))?>$")
# 0.10's test types that were renamed (their config keys are today's parameter names)
LEGACY_DEFINITIONS = {
    "columnValuesMissingCountToBeEqual": "columnValuesMissingCount",
    "columnValuesLengthsToBeBetween": "columnValueLengthsToBeBetween",
}


class ParameterValue(Model):
    name: str
    value: Any = None

    @field_validator("value", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        """OpenMetadata stores parameter values as strings; YAML gives numbers and lists."""
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, list | tuple):
            return json.dumps(list(value))
        return str(value)


class TestCaseConfig(Model):
    """`processor.config.testCases[]` (`testSuitePipeline`'s runner config)."""

    unsupported = frozenset({"useDynamicAssertion", "dimensionColumns", "topDimensions"})

    name: str
    description: str | None = None
    displayName: str | None = None
    testDefinitionName: str
    columnName: str | None = None
    entityLink: str | None = None
    parameterValues: list[ParameterValue] = Field(default_factory=list)
    computePassedFailedRowCount: bool = False
    useDynamicAssertion: bool = False
    dimensionColumns: list[str] = Field(default_factory=list)
    topDimensions: int | None = None

    @field_validator("entityLink")
    @classmethod
    def _link(cls, value: str | None) -> str | None:
        if value is not None and not ENTITY_LINK.match(value):
            raise ValueError(
                "expected <#E::table::<table FQN>> or <#E::table::<table FQN>::columns::<column>>"
            )
        return value

    def column(self) -> str | None:
        if self.columnName:
            return self.columnName
        match = ENTITY_LINK.match(self.entityLink or "")
        return match.group("column") if match else None

    def table(self) -> str | None:
        match = ENTITY_LINK.match(self.entityLink or "")
        return match.group("table") if match else None

    def params(self) -> dict[str, str]:
        return {p.name: p.value for p in self.parameterValues if p.value is not None}


class LegacyTestCase(Model):
    config: dict[str, Any] = Field(default_factory=dict)
    tableTestType: str | None = None
    columnTestType: str | None = None


class LegacyTableTest(Model):
    testCase: LegacyTestCase
    name: str | None = None


class LegacyColumnTest(Model):
    columnName: str
    testCase: LegacyTestCase
    name: str | None = None


class LegacyTableTests(Model):
    table: str
    table_tests: list[LegacyTableTest] = Field(default_factory=list)
    column_tests: list[LegacyColumnTest] = Field(default_factory=list)


class LegacyTestSuite(Model):
    """0.10's `processor.config.test_suite` (the profiler processor's tests)."""

    name: str | None = None
    tests: list[LegacyTableTests] = Field(default_factory=list)

    def cases(self) -> dict[str, list[TestCaseConfig]]:
        """Today's cases by table FQN, named `<definition>` or `<column>_<definition>` (with
        a number when a table has two alike)."""
        out: dict[str, list[TestCaseConfig]] = {}
        for tests in self.tests:
            cases = out.setdefault(tests.table, [])
            items = [(None, t) for t in tests.table_tests] + [(c.columnName, c) for c in tests.column_tests]
            seen: dict[str, int] = {}
            for column, item in items:
                kind = item.testCase.columnTestType if column else item.testCase.tableTestType
                if not kind:
                    raise ValueError(
                        f"{tests.table}: a test without {'columnTestType' if column else 'tableTestType'}"
                    )
                definition = LEGACY_DEFINITIONS.get(kind, kind)
                base = item.name or (f"{column}_{definition}" if column else definition)
                seen[base] = seen.get(base, 0) + 1
                name = base if seen[base] == 1 else f"{base}_{seen[base]}"
                cases.append(
                    TestCaseConfig(
                        name=name,
                        testDefinitionName=definition,
                        columnName=column,
                        parameterValues=[
                            ParameterValue(name=k, value=v) for k, v in item.testCase.config.items()
                        ],
                    )
                )
        return out


class TestSuiteSourceConfig(Model):
    """`sourceConfig.config` of type TestSuite (`testSuitePipeline.json`)."""

    unsupported = frozenset(
        {"serviceConnections", "profileSample", "profileSampleType", "samplingMethodType"}
    )

    type: Literal["TestSuite"] = "TestSuite"
    entityFullyQualifiedName: str | None = None
    testCases: list[str] | None = None
    serviceConnections: Any = None
    profileSample: float | None = None
    profileSampleType: str | None = None
    samplingMethodType: str | None = None


class TestRunnerConfig(Model):
    """`processor.config` of `orm-test-runner`."""

    testCases: list[TestCaseConfig] = Field(default_factory=list)
    forceUpdate: bool = False
