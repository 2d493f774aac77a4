"""OpenMetadata's test definitions, as aggregates a table's one fused scan computes.

A definition names the aggregates it needs (`scan`), then judges their values (`judge`).
Parameters keep OpenMetadata's names and meanings: values come as strings; bounds are
inclusive and a missing bound is unbounded; a parameter that is missing or wrong makes the
test `Aborted` with the reason, never a crash. Passed/failed row counts, when a case asks
for them, are filtered counts in the same scan.
"""

import ast
import datetime as dt
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import sqlalchemy
from sqlalchemy import case, func
from sqlalchemy.sql.elements import ColumnElement

from om_dagster.profiler.dialects import Dialect


class BadParameter(Exception):
    """A test case whose parameters cannot run: the case is Aborted with this reason."""


@dataclass
class Outcome:
    """`tests/basic.json#/definitions/testCaseResult`, less the timestamp."""

    status: str  # Success | Failed | Aborted
    result: str
    values: list[tuple[str, Any]] = field(default_factory=list)
    passed_rows: int | None = None
    failed_rows: int | None = None
    min_bound: float | None = None
    max_bound: float | None = None
    #: some failing rows (`table.json#/definitions/tableData`), when the case counts rows and failed
    sample: dict[str, Any] | None = None

    def body(self, timestamp: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            "timestamp": timestamp,
            "testCaseStatus": self.status,
            "result": self.result,
            "testResultValue": [{"name": n, "value": _text(v)} for n, v in self.values],
        }
        if self.passed_rows is not None and self.failed_rows is not None:
            total = self.passed_rows + self.failed_rows
            out |= {
                "passedRows": self.passed_rows,
                "failedRows": self.failed_rows,
                "passedRowsPercentage": 100 * self.passed_rows / total if total else 100.0,
                "failedRowsPercentage": 100 * self.failed_rows / total if total else 0.0,
            }
        if self.min_bound is not None:
            out["minBound"] = self.min_bound
        if self.max_bound is not None:
            out["maxBound"] = self.max_bound
        return out


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass
class Params:
    """A case's `parameterValues` (strings, as OpenMetadata stores them), read by type."""

    raw: dict[str, str]

    def has(self, name: str) -> bool:
        return self.raw.get(name) not in (None, "")

    def number(self, name: str, required: bool = False) -> float | None:
        if not self.has(name):
            if required:
                raise BadParameter(f"parameter {name!r} is required")
            return None
        try:
            value = float(self.raw[name])
        except ValueError:
            raise BadParameter(f"parameter {name!r} must be a number, got {self.raw[name]!r}") from None
        if not math.isfinite(value):
            raise BadParameter(f"parameter {name!r} must be a finite number, got {self.raw[name]!r}")
        return value

    def text(self, name: str, required: bool = True) -> str | None:
        if not self.has(name):
            if required:
                raise BadParameter(f"parameter {name!r} is required")
            return None
        return str(self.raw[name])

    def boolean(self, name: str) -> bool:
        return str(self.raw.get(name, "false")).strip().lower() in ("true", "1", "yes")

    def values(self, name: str) -> list[Any]:
        """An ARRAY parameter: JSON (`["a", "b"]`), a Python literal, or comma-separated."""
        text = self.text(name)
        assert text is not None
        for parse in (json.loads, ast.literal_eval):
            try:
                parsed = parse(text)
            except (ValueError, SyntaxError):
                continue
            if isinstance(parsed, list | tuple):
                return list(parsed)
            return [parsed]
        return [v.strip() for v in text.split(",") if v.strip()]


class Scan:
    """The aggregates of one fused statement, each computed once however many tests need it."""

    def __init__(self) -> None:
        self.exprs: dict[str, ColumnElement] = {}

    def add(self, key: str, expr: ColumnElement) -> str:
        self.exprs.setdefault(key, expr)
        return key


@dataclass
class Target:
    """What a definition works on: the table (and column), its dialect and the scan."""

    table: Any  # a SQLAlchemy table clause
    column: ColumnElement | None
    column_name: str | None
    dialect: Dialect
    scan: Scan
    case: str = ""  # the case's own prefix, for what depends on its parameters

    @property
    def col(self) -> ColumnElement:
        if self.column is None:
            raise BadParameter(
                "this is a column test: give it a column (columnName, or the entity link's column)"
            )
        return self.column

    def key(self, what: str) -> str:
        return f"{what}:{self.column_name}" if self.column_name else what

    def own(self, what: str) -> str:
        """A key of this case alone (a count under its own parameters)."""
        return f"{self.case}/{self.key(what)}"

    def count_where(self, name: str, condition: ColumnElement) -> str:
        return self.scan.add(self.own(name), func.coalesce(func.sum(case((condition, 1), else_=0)), 0))


class Definition:
    """One test definition: its aggregates and its judgement."""

    name: ClassVar[str]
    column_level: ClassVar[bool] = True
    #: what the table needs besides the scan: "columns" (its column names), "distinct"
    #: (a GROUP BY pass), "median" (the median), "sql" (the case's own query)
    extra: ClassVar[str | None] = None

    def plan(self, target: Target, params: Params, rows_counted: bool) -> None:
        """Add the aggregates this test needs to the scan (validating parameters first)."""

    def judge(self, target: Target, params: Params, values: dict[str, Any]) -> Outcome:
        raise NotImplementedError


DEFINITIONS: dict[str, type[Definition]] = {}


def definition(cls: type[Definition]) -> type[Definition]:
    DEFINITIONS[cls.name] = cls
    return cls


def bounds(params: Params, low: str, high: str) -> tuple[float | None, float | None]:
    lo, hi = params.number(low), params.number(high)
    if lo is None and hi is None:
        raise BadParameter(f"give {low!r}, {high!r} or both")
    if lo is not None and hi is not None and lo > hi:
        raise BadParameter(f"{low!r} ({lo:g}) is greater than {high!r} ({hi:g})")
    return lo, hi


def within(value: Any, lo: float | None, hi: float | None) -> bool:
    return value is not None and (lo is None or float(value) >= lo) and (hi is None or float(value) <= hi)


def between_outcome(label: str, value: Any, lo: float | None, hi: float | None, **rows: Any) -> Outcome:
    ok = within(value, lo, hi)
    shown = "None" if value is None else _text(_number(value))
    expected = f"between {_bound(lo, '-inf')} and {_bound(hi, 'inf')}"
    return Outcome(
        "Success" if ok else "Failed",
        f"Found {label}={shown} vs. the expected {expected}.",
        [(label, shown)],
        min_bound=lo,
        max_bound=hi,
        **rows,
    )


def equal_outcome(label: str, noun: str, found: int, expected: float | None) -> Outcome:
    return Outcome(
        "Success" if found == expected else "Failed",
        f"Found {found} {noun} vs. the expected {_text(expected)}",
        [(label, found)],
    )


def _bound(value: float | None, unbounded: str = "-inf") -> str:
    return unbounded if value is None else _text(value)


def _number(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


# --- table tests ------------------------------------------------------------------------


@definition
class TableRowCountToEqual(Definition):
    name = "tableRowCountToEqual"
    column_level = False

    def plan(self, target: Target, params: Params, rows_counted: bool) -> None:
        params.number("value", required=True)

    def judge(self, target: Target, params: Params, values: dict[str, Any]) -> Outcome:
        return equal_outcome("rowCount", "rows", values["rows"], params.number("value", required=True))


@definition
class TableRowCountToBeBetween(Definition):
    name = "tableRowCountToBeBetween"
    column_level = False

    def plan(self, target: Target, params: Params, rows_counted: bool) -> None:
        bounds(params, "minValue", "maxValue")

    def judge(self, target: Target, params: Params, values: dict[str, Any]) -> Outcome:
        lo, hi = bounds(params, "minValue", "maxValue")
        return between_outcome("rowCount", values["rows"], lo, hi)


class ColumnsTest(Definition):
    """Tests on the table's column names, which the database's catalog gives."""

    column_level = False
    extra = "columns"


@definition
class TableColumnCountToEqual(ColumnsTest):
    name = "tableColumnCountToEqual"

    def plan(self, target: Target, params: Params, rows_counted: bool) -> None:
        params.number("columnCount", required=True)

    def judge(self, target: Target, params: Params, values: dict[str, Any]) -> Outcome:
        expected = params.number("columnCount", required=True)
        return equal_outcome("columnCount", "columns", len(values["columns"]), expected)


@definition
class TableColumnCountToBeBetween(ColumnsTest):
    name = "tableColumnCountToBeBetween"

    def plan(self, target: Target, params: Params, rows_counted: bool) -> None:
        bounds(params, "minColValue", "maxColValue")

    def judge(self, target: Target, params: Params, values: dict[str, Any]) -> Outcome:
        lo, hi = bounds(params, "minColValue", "maxColValue")
        return between_outcome("columnCount", len(values["columns"]), lo, hi)


@definition
class TableColumnNameToExist(ColumnsTest):
    name = "tableColumnNameToExist"

    def plan(self, target: Target, params: Params, rows_counted: bool) -> None:
        params.text("columnName")

    def judge(self, target: Target, params: Params, values: dict[str, Any]) -> Outcome:
        wanted = params.text("columnName")
        found = wanted in values["columns"]
        return Outcome(
            "Success" if found else "Failed",
            f"Column {wanted} {'exists' if found else 'does not exist'} in the table",
            [("columnNameExits", "1" if found else "0")],  # OpenMetadata's spelling and values
        )


@definition
class TableColumnToMatchSet(ColumnsTest):
    name = "tableColumnToMatchSet"

    def plan(self, target: Target, params: Params, rows_counted: bool) -> None:
        params.text("columnNames")

    def judge(self, target: Target, params: Params, values: dict[str, Any]) -> Outcome:
        wanted = [c.strip() for c in (params.text("columnNames") or "").split(",") if c.strip()]
        found: list[str] = values["columns"]
        ordered = params.boolean("ordered")
        ok = found == wanted if ordered else sorted(found) == sorted(wanted)
        return Outcome(
            "Success" if ok else "Failed",
            f"Found columns {found} vs. the expected {wanted}{' (in order)' if ordered else ''}",
            [("columnNames", "1" if ok else "0")],
        )


@definition
class TableCustomSQLQuery(Definition):
    """`strategy` ROWS: the query returns the failing rows; COUNT: it returns their count.
    The test passes when that number compares with `threshold` (default 0) by `operator`
    (default `<=`): by default, when the query returns no row."""

    name = "tableCustomSQLQuery"
    column_level = False
    extra = "sql"

    OPERATORS: ClassVar[dict[str, Callable[[float, float], bool]]] = {
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
    }

    def plan(self, target: Target, params: Params, rows_counted: bool) -> None:
        params.text("sqlExpression")
        strategy = (params.text("strategy", required=False) or "ROWS").upper()
        if strategy not in ("ROWS", "COUNT"):
            raise BadParameter(f"strategy must be ROWS or COUNT, got {strategy!r}")
        self.operator(params)
        params.number("threshold")

    def operator(self, params: Params) -> str:
        operator = params.text("operator", required=False) or "<="
        if operator not in self.OPERATORS:
            raise BadParameter(f"operator must be one of {' '.join(self.OPERATORS)}, got {operator!r}")
        return operator

    def judge(self, target: Target, params: Params, values: dict[str, Any]) -> Outcome:
        found, threshold = values["sql"], params.number("threshold") or 0
        operator = self.operator(params)
        return Outcome(
            "Success" if self.OPERATORS[operator](found, threshold) else "Failed",
            f"Found {found} row(s); the test expects {operator} {_text(threshold)}",
            [("resultRowCount", found)],
        )


@definition
class TableRowInsertedCountToBeBetween(Definition):
    name = "tableRowInsertedCountToBeBetween"
    column_level = False
    UNITS: ClassVar[dict[str, Callable[[int], dt.timedelta]]] = {
        "HOUR": lambda n: dt.timedelta(hours=n),
        "DAY": lambda n: dt.timedelta(days=n),
        "MONTH": lambda n: dt.timedelta(days=30 * n),
        "YEAR": lambda n: dt.timedelta(days=365 * n),
    }

    def cutoff(self, params: Params) -> dt.datetime:
        unit = (params.text("rangeType", required=False) or "DAY").upper()
        if unit not in self.UNITS:
            raise BadParameter(f"rangeType must be one of {', '.join(self.UNITS)}, got {unit!r}")
        interval = int(params.number("rangeInterval") or 1)
        start = dt.datetime.now() - self.UNITS[unit](interval)
        return (
            start.replace(minute=0, second=0, microsecond=0)
            if unit == "HOUR"
            else start.replace(hour=0, minute=0, second=0, microsecond=0)
        )

    def plan(self, target: Target, params: Params, rows_counted: bool) -> None:
        bounds(params, "min", "max")
        column = params.text("columnName")
        if column not in target.table.c:
            raise BadParameter(f"columnName {column!r} is not a column of the table")
        target.count_where(f"inserted:{column}", target.table.c[column] >= self.cutoff(params))

    def judge(self, target: Target, params: Params, values: dict[str, Any]) -> Outcome:
        lo, hi = bounds(params, "min", "max")
        found = values[target.own(f"inserted:{params.text('columnName')}")]
        return between_outcome("rowCount", found, lo, hi)


# --- column tests -----------------------------------------------------------------------


class Aggregate(Definition):
    """A column aggregate within bounds: `label` is OpenMetadata's result value name."""

    low: ClassVar[str]
    high: ClassVar[str]
    label: ClassVar[str]

    def aggregate(self, target: Target) -> list[ColumnElement]:
        raise NotImplementedError

    def value(self, target: Target, found: list[Any]) -> Any:
        return found[0]

    def plan(self, target: Target, params: Params, rows_counted: bool) -> None:
        bounds(params, self.low, self.high)
        for i, expr in enumerate(self.aggregate(target)):
            target.scan.add(target.key(f"{self.label}{i}"), expr)

    def judge(self, target: Target, params: Params, values: dict[str, Any]) -> Outcome:
        lo, hi = bounds(params, self.low, self.high)
        found = [values[target.key(f"{self.label}{i}")] for i in range(len(self.aggregate(target)))]
        return between_outcome(self.label, self.value(target, found), lo, hi)


@definition
class ColumnValueMaxToBeBetween(Aggregate):
    name, low, high, label = "columnValueMaxToBeBetween", "minValueForMaxInCol", "maxValueForMaxInCol", "max"

    def aggregate(self, target: Target) -> list[ColumnElement]:
        return [func.max(target.col)]


@definition
class ColumnValueMinToBeBetween(Aggregate):
    name, low, high, label = "columnValueMinToBeBetween", "minValueForMinInCol", "maxValueForMinInCol", "min"

    def aggregate(self, target: Target) -> list[ColumnElement]:
        return [func.min(target.col)]


@definition
class ColumnValueMeanToBeBetween(Aggregate):
    name, low, high, label = (
        "columnValueMeanToBeBetween",
        "minValueForMeanInCol",
        "maxValueForMeanInCol",
        "mean",
    )

    def aggregate(self, target: Target) -> list[ColumnElement]:
        return [func.avg(target.col)]


@definition
class ColumnValueStdDevToBeBetween(Aggregate):
    name, low, high = "columnValueStdDevToBeBetween", "minValueForStdDevInCol", "maxValueForStdDevInCol"
    label = "stddev"

    def aggregate(self, target: Target) -> list[ColumnElement]:
        return target.dialect.stddev(target.col)

    def value(self, target: Target, found: list[Any]) -> Any:
        return target.dialect.stddev_from(found)


@definition
class ColumnValuesSumToBeBetween(Aggregate):
    name, low, high, label = "columnValuesSumToBeBetween", "minValueForColSum", "maxValueForColSum", "sum"

    def aggregate(self, target: Target) -> list[ColumnElement]:
        return [target.dialect.total(target.col)]


@definition
class ColumnValueMedianToBeBetween(Definition):
    name = "columnValueMedianToBeBetween"
    extra = "median"

    def plan(self, target: Target, params: Params, rows_counted: bool) -> None:
        bounds(params, "minValueForMedianInCol", "maxValueForMedianInCol")
        target.col  # noqa: B018 - a column test: refuse a table link early
        target.scan.add(target.key("valuesCount"), func.count(target.col))

    def judge(self, target: Target, params: Params, values: dict[str, Any]) -> Outcome:
        lo, hi = bounds(params, "minValueForMedianInCol", "maxValueForMedianInCol")
        return between_outcome("median", values.get(target.key("median")), lo, hi)


class RowTest(Definition):
    """A condition every row's value must meet: failed rows are those that do not."""

    condition: ColumnElement | None = None  # the failing rows' condition, once planned

    def failing(self, target: Target, params: Params) -> ColumnElement:
        raise NotImplementedError

    def plan(self, target: Target, params: Params, rows_counted: bool) -> None:
        self.condition = self.failing(target, params)
        target.count_where(f"{self.name}:failed", self.condition)
        target.scan.add(target.key("valuesCount"), func.count(target.col))

    def rows(self, target: Target, values: dict[str, Any]) -> dict[str, int]:
        failed = self.failed(target, values)
        return {"passed_rows": int(values["rows"]) - failed, "failed_rows": failed}

    def failed(self, target: Target, values: dict[str, Any]) -> int:
        return int(values[target.own(f"{self.name}:failed")])

    def none_failing(self, target: Target, values: dict[str, Any], label: str, found: str) -> Outcome:
        """Passes when no row fails; `found` describes the failing count (`{n}`)."""
        failed = self.failed(target, values)
        return Outcome(
            "Success" if failed == 0 else "Failed",
            found.format(n=failed),
            [(label, failed)],
            **self.rows(target, values),
        )


@definition
class ColumnValuesToBeBetween(RowTest):
    name = "columnValuesToBeBetween"

    def failing(self, target: Target, params: Params) -> ColumnElement:
        lo, hi = bounds(params, "minValue", "maxValue")
        target.scan.add(target.key("min0"), func.min(target.col))
        target.scan.add(target.key("max0"), func.max(target.col))
        parts = [target.col < lo] if lo is not None else []
        parts += [target.col > hi] if hi is not None else []
        return parts[0] if len(parts) == 1 else (parts[0] | parts[1])

    def judge(self, target: Target, params: Params, values: dict[str, Any]) -> Outcome:
        lo, hi = bounds(params, "minValue", "maxValue")
        low, high = values[target.key("min0")], values[target.key("max0")]
        ok = low is None or (within(low, lo, hi) and within(high, lo, hi))
        return Outcome(
            "Success" if ok else "Failed",
            f"Found min={_text(_number(low))}, max={_text(_number(high))} vs. the expected "
            f"min>={_bound(lo)}, max<={_bound(hi, 'inf')}.",
            [("min", _number(low)), ("max", _number(high))],
            min_bound=lo,
            max_bound=hi,
            **self.rows(target, values),
        )


@definition
class ColumnValuesToBeNotNull(RowTest):
    name = "columnValuesToBeNotNull"

    def failing(self, target: Target, params: Params) -> ColumnElement:
        return target.col.is_(None)

    def judge(self, target: Target, params: Params, values: dict[str, Any]) -> Outcome:
        return self.none_failing(target, values, "nullCount", "Found nullCount={n}. It should be 0")


@definition
class ColumnValuesToBeUnique(Definition):
    """Every non-null value appears once: as many values seen once as values."""

    name = "columnValuesToBeUnique"
    extra = "distinct"

    def plan(self, target: Target, params: Params, rows_counted: bool) -> None:
        target.scan.add(target.key("valuesCount"), func.count(target.col))

    def judge(self, target: Target, params: Params, values: dict[str, Any]) -> Outcome:
        count, unique = int(values[target.key("valuesCount")]), int(values[target.key("uniqueCount")])
        return Outcome(
            "Success" if count == unique else "Failed",
            f"Found valuesCount={count} vs. uniqueCount={unique}. Both counts should be equal",
            [("valueCount", count), ("uniqueCount", unique)],
            passed_rows=unique,  # of the non-null values, as OpenMetadata counts them
            failed_rows=count - unique,
        )


@definition
class ColumnValuesToBeInSet(RowTest):
    """At least one value in the set; with `matchEnum`, every non-null value in it."""

    name = "columnValuesToBeInSet"

    def failing(self, target: Target, params: Params) -> ColumnElement:
        allowed = params.values("allowedValues")
        target.count_where("allowed", target.col.in_(allowed))
        return target.col.is_not(None) & target.col.not_in(allowed)

    def judge(self, target: Target, params: Params, values: dict[str, Any]) -> Outcome:
        allowed = int(values[target.own("allowed")])
        if params.boolean("matchEnum"):
            outside = self.failed(target, values)
            ok = outside == 0
            result = f"Found {outside} value(s) outside the allowed set"
        else:
            ok = allowed > 0
            result = f"Found countInSet={allowed}"
        return Outcome(
            "Success" if ok else "Failed",
            result,
            [("allowedValueCount", allowed)],
            **self.rows(target, values),
        )


@definition
class ColumnValuesToBeNotInSet(RowTest):
    name = "columnValuesToBeNotInSet"

    def failing(self, target: Target, params: Params) -> ColumnElement:
        return target.col.in_(params.values("forbiddenValues"))

    def judge(self, target: Target, params: Params, values: dict[str, Any]) -> Outcome:
        return self.none_failing(
            target, values, "countForbiddenValues", "Found countInSet={n}. It should be 0"
        )


@definition
class ColumnValuesToMatchRegex(RowTest):
    name = "columnValuesToMatchRegex"

    def failing(self, target: Target, params: Params) -> ColumnElement:
        return target.col.is_not(None) & ~target.dialect.regexp(target.col, params.text("regex") or "")

    def judge(self, target: Target, params: Params, values: dict[str, Any]) -> Outcome:
        failed = self.failed(target, values)
        count = int(values[target.key("valuesCount")])
        return Outcome(
            "Success" if failed == 0 else "Failed",
            f"Found {count - failed} value(s) matching the regex pattern vs {count} value(s) in the column",
            [("likeCount", count - failed)],
            **self.rows(target, values),
        )


@definition
class ColumnValuesToNotMatchRegex(RowTest):
    name = "columnValuesToNotMatchRegex"

    def failing(self, target: Target, params: Params) -> ColumnElement:
        return target.dialect.regexp(target.col, params.text("forbiddenRegex") or "")

    def judge(self, target: Target, params: Params, values: dict[str, Any]) -> Outcome:
        return self.none_failing(
            target,
            values,
            "notLikeCount",
            "Found {n} value(s) matching the forbidden regex pattern. It should be 0",
        )


@definition
class ColumnValueLengthsToBeBetween(RowTest):
    name = "columnValueLengthsToBeBetween"

    def failing(self, target: Target, params: Params) -> ColumnElement:
        lo, hi = bounds(params, "minLength", "maxLength")
        length = target.dialect.char_length(target.col)
        target.scan.add(target.key("minLength"), func.min(length))
        target.scan.add(target.key("maxLength"), func.max(length))
        parts = [length < lo] if lo is not None else []
        parts += [length > hi] if hi is not None else []
        return parts[0] if len(parts) == 1 else (parts[0] | parts[1])

    def judge(self, target: Target, params: Params, values: dict[str, Any]) -> Outcome:
        lo, hi = bounds(params, "minLength", "maxLength")
        low, high = values[target.key("minLength")], values[target.key("maxLength")]
        ok = low is None or (within(low, lo, hi) and within(high, lo, hi))
        return Outcome(
            "Success" if ok else "Failed",
            f"Found minLength={low}, maxLength={high} vs. the expected between {_bound(lo)} and "
            f"{_bound(hi, 'inf')}.",
            [("minValueLength", low), ("maxValueLength", high)],
            min_bound=lo,
            max_bound=hi,
            **self.rows(target, values),
        )


@definition
class ColumnValuesMissingCount(Definition):
    """NULLs, empty strings and the values listed in `missingValueMatch` number exactly
    `missingCountValue`."""

    name = "columnValuesMissingCount"

    def plan(self, target: Target, params: Params, rows_counted: bool) -> None:
        params.number("missingCountValue", required=True)
        text = sqlalchemy.cast(target.col, sqlalchemy.String)  # '' and the listed values, on any type
        missing = target.col.is_(None) | (text == "")
        if params.has("missingValueMatch"):
            missing = missing | text.in_([str(v) for v in params.values("missingValueMatch")])
        target.count_where("missing", missing)

    def judge(self, target: Target, params: Params, values: dict[str, Any]) -> Outcome:
        expected = params.number("missingCountValue", required=True)
        found = int(values[target.own("missing")])
        return Outcome(
            "Success" if found == expected else "Failed",
            f"Found missingCount={found} vs. the expected {_text(expected)}",
            [("nullCount", found)],  # OpenMetadata's name for it
        )
