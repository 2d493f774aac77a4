"""Profiler recipes: `sourceConfig.config` of type Profiler and the `orm-profiler` processor.

Sampling is read as 1.13 writes it (flat `profileSample`, `profileSampleType`,
`samplingMethodType`, `randomizedSample`) and as 1.13.0's release and 2.0 do
(`profileSampleConfig`); the seed documents' `fqnFilterPattern` (0.10, 0.11) runs as the
table filter on FQNs it became.
"""

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, model_validator

from om_dagster.core.recipe import FilterPattern, Legacy, Model
from om_dagster.quality.config import LegacyTestSuite

METRICS = (
    "mean",
    "valuesCount",
    "columnCount",
    "distinctCount",
    "distinctProportion",
    "max",
    "min",
    "nullCount",
    "rowCount",
    "stddev",
    "sum",
    "uniqueCount",
    "uniqueProportion",
    "columnNames",
    "nullProportion",
    "median",
    "firstQuartile",
    "thirdQuartile",
    "interQuartileRange",
    "nonParametricSkew",
)
# Also computed when the recipe lists no `metrics` (the list above is the schema's default
# for the field; OpenMetadata's profiler computes these too), named as `metricType` does.
OPTIONAL_METRICS = ("duplicateCount", "minLength", "maxLength")
# Only when listed in `metrics` (as in OpenMetadata: a statement more per table).
ON_REQUEST = ("histogram",)
KNOWN_METRICS = frozenset(METRICS + OPTIONAL_METRICS + ON_REQUEST)


def _fqn_filter(value: Any) -> dict[str, Any]:
    """0.10's `fqnFilterPattern` (a regex, or includes/excludes) is the table filter on FQNs."""
    pattern = value if isinstance(value, dict) else {"includes": [value]}
    return {"tableFilterPattern": pattern, "useFqnForFiltering": True}


class SampleConfig(Model):
    """How much of a table the metrics read. Without `profileSample`, all of it."""

    profileSample: float | None = Field(default=None, gt=0)
    profileSampleType: Literal["PERCENTAGE", "ROWS"] = "PERCENTAGE"
    samplingMethodType: Literal["BERNOULLI", "SYSTEM"] | None = None
    randomizedSample: bool = False

    @model_validator(mode="after")
    def _percentage_at_most_100(self) -> "SampleConfig":
        if self.profileSampleType == "PERCENTAGE" and (self.profileSample or 0) > 100:
            raise ValueError("profileSample is a percentage here (profileSampleType PERCENTAGE): at most 100")
        return self


class ProfileSampleConfig(Model):
    """`profileSampleConfig` (1.13.0's release, 2.0): `sampleConfigType` STATIC with its
    `config` (the same settings, grouped), or DYNAMIC (the client's tiers by row count,
    not supported yet: the whole table is read, with a warning)."""

    unsupported = frozenset({"sampleConfigType"})

    sampleConfigType: Literal["STATIC", "DYNAMIC"] = "STATIC"
    config: dict[str, Any] | None = None
    profileSample: float | None = Field(default=None, gt=0)
    profileSampleType: Literal["PERCENTAGE", "ROWS"] | None = None
    samplingMethodType: Literal["BERNOULLI", "SYSTEM"] | None = None

    @model_validator(mode="after")
    def _static_config(self) -> "ProfileSampleConfig":
        if self.sampleConfigType == "STATIC" and self.config is not None:
            SampleConfig.model_validate(self.config)
        return self


class ProfilerSourceConfig(Model):
    """`sourceConfig.config` of type Profiler (`databaseServiceProfilerPipeline.json`)."""

    unsupported = frozenset({"processingEngine", "classificationFilterPattern", "useStatistics"})
    legacy = {
        "fqnFilterPattern": Legacy(
            "removed in 0.12, read as tableFilterPattern with useFqnForFiltering: true",
            convert=_fqn_filter,
        ),
        "generateSampleData": Legacy(
            "removed in 1.6, sample data comes from the AutoClassification workflow (storeSampleData), "
            "ignored"
        ),
    }

    type: Literal["Profiler"] = "Profiler"
    databaseFilterPattern: FilterPattern | None = None
    schemaFilterPattern: FilterPattern | None = None
    tableFilterPattern: FilterPattern | None = None
    useFqnForFiltering: bool = False
    includeViews: bool = False
    computeTableMetrics: bool = True
    computeColumnMetrics: bool = True
    metrics: list[str] | None = None
    threadCount: int | None = Field(default=None, ge=1)
    timeoutSeconds: int = Field(default=43200, ge=1)
    profileSample: float | None = Field(default=None, gt=0)
    profileSampleType: Literal["PERCENTAGE", "ROWS"] = "PERCENTAGE"
    samplingMethodType: Literal["BERNOULLI", "SYSTEM"] | None = None
    randomizedSample: bool = False
    profileSampleConfig: ProfileSampleConfig | None = None
    processingEngine: Any = None
    classificationFilterPattern: FilterPattern | None = None
    useStatistics: bool = False

    @model_validator(mode="after")
    def _known_metrics(self) -> "ProfilerSourceConfig":
        unknown = sorted(set(self.metrics or ()) - KNOWN_METRICS)
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; known: {', '.join(sorted(KNOWN_METRICS))}")
        return self

    def sample(self) -> SampleConfig:
        """The recipe's sampling, whichever way it is written (`profileSampleConfig` wins)."""
        grouped = self.profileSampleConfig
        if grouped is not None and grouped.sampleConfigType == "DYNAMIC":
            return SampleConfig(randomizedSample=self.randomizedSample)
        if grouped is not None and grouped.config is not None:
            return SampleConfig.model_validate(grouped.config)
        if grouped is not None and grouped.profileSample is not None:
            return SampleConfig(
                profileSample=grouped.profileSample,
                profileSampleType=grouped.profileSampleType or "PERCENTAGE",
                samplingMethodType=grouped.samplingMethodType,
                randomizedSample=self.randomizedSample,
            )
        return SampleConfig(
            profileSample=self.profileSample,
            profileSampleType=self.profileSampleType,
            samplingMethodType=self.samplingMethodType,
            randomizedSample=self.randomizedSample,
        )


class ColumnMetrics(Model):
    """`includeColumns[]`: a column and, optionally, only these metrics for it."""

    columnName: str
    metrics: list[str] | None = None


class ColumnConfig(Model):
    excludeColumns: list[str] = Field(default_factory=list)
    includeColumns: list[ColumnMetrics] = Field(default_factory=list)


class TableConfig(Model):
    """`processor.config.tableConfig[]`: one table's settings, by FQN."""

    unsupported = frozenset({"partitionConfig", "sparkTableProfilerConfig"})

    fullyQualifiedName: str
    profileSample: float | None = Field(default=None, gt=0)
    profileSampleType: Literal["PERCENTAGE", "ROWS"] | None = None
    samplingMethodType: Literal["BERNOULLI", "SYSTEM"] | None = None
    randomizedSample: bool | None = None
    profileQuery: str | None = None
    columnConfig: ColumnConfig | None = None
    partitionConfig: Any = None
    sparkTableProfilerConfig: Any = None


class OrmProfilerConfig(Model):
    """`processor.config` of `orm-profiler`."""

    unsupported = frozenset({"profiler", "testSuites"})
    legacy = {
        "test_suite": Legacy(
            "0.10's tests in the profiler: today they are a TestSuite recipe's (source.type: TestSuite, "
            "processor.type: orm-test-runner, processor.config.testCases); run here after each table's "
            "profile",
            convert=lambda value: {"legacyTestSuite": value},
        )
    }

    tableConfig: list[TableConfig] = Field(default_factory=list)
    profiler: Any = None
    testSuites: Any = None
    legacyTestSuite: LegacyTestSuite | None = None  # `test_suite`, as read


@dataclass(frozen=True)
class TableSettings:
    """What the profiler does to one table: the recipe's settings, then the table's own
    (`tableProfilerConfig` on the server, then `tableConfig` in the recipe)."""

    sample: SampleConfig
    metrics: frozenset[str]
    table_metrics: bool
    column_metrics: bool
    profile_query: str | None
    exclude: frozenset[str]
    include: dict[str, frozenset[str] | None]  # column -> its metrics (None: all); empty: every column
    timeout: float


def table_settings(
    source: ProfilerSourceConfig, entity_config: dict[str, Any] | None, table: TableConfig | None
) -> TableSettings:
    sample = source.sample()
    metrics = frozenset(source.metrics or METRICS + OPTIONAL_METRICS)
    table_metrics, column_metrics = source.computeTableMetrics, source.computeColumnMetrics
    query: str | None = None
    exclude: set[str] = set()
    include: dict[str, frozenset[str] | None] = {}
    layers: list[dict[str, Any]] = [entity_config or {}]
    if table is not None:
        layers.append(table.model_dump(exclude_none=True, exclude={"fullyQualifiedName", "columnConfig"}))
        if table.columnConfig is not None:
            layers.append(
                {
                    "excludeColumns": table.columnConfig.excludeColumns,
                    "includeColumns": [c.model_dump() for c in table.columnConfig.includeColumns],
                }
            )
    for layer in layers:
        if layer.get("profileSample") is not None:
            sample = SampleConfig(
                profileSample=layer["profileSample"],
                profileSampleType=layer.get("profileSampleType") or "PERCENTAGE",
                samplingMethodType=layer.get("samplingMethodType"),
                randomizedSample=layer.get("randomizedSample", sample.randomizedSample),
            )
        query = layer.get("profileQuery") or query
        exclude.update(layer.get("excludeColumns") or ())
        for item in layer.get("includeColumns") or ():
            include[item["columnName"]] = frozenset(item["metrics"]) if item.get("metrics") else None
        table_metrics = layer.get("computeTableMetrics", table_metrics)
        column_metrics = layer.get("computeColumnMetrics", column_metrics)
    return TableSettings(
        sample=sample,
        metrics=metrics,
        table_metrics=table_metrics,
        column_metrics=column_metrics,
        profile_query=query,
        exclude=frozenset(exclude),
        include=include,
        timeout=float(source.timeoutSeconds),
    )
