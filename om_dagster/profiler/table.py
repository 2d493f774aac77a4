"""One table's profile, computed by its database in a fixed number of statements.

Statements per table, whatever its column count:

1. with a sample or a `profileQuery`: the rows are drawn once into a temporary table that
   every later statement reads (one consistent dataset; `rowCount` still counts the whole
   table, in one more statement);
2. one fused aggregate: the row count and, per column, non-null count, min, max, mean,
   sum, standard deviation, string lengths; quartiles too where the dialect has
   `percentile_cont ... WITHIN GROUP` (PostgreSQL, Snowflake);
3. one distinct/unique pass: a `GROUP BY` per column, joined with `UNION ALL`;
4. where quartiles are not inline (MySQL/MariaDB, SQLite): one statement that reads the
   values at the quartiles' row positions, per numeric column, with `UNION ALL`.

With table metrics on, PostgreSQL, MySQL/MariaDB and Snowflake add one catalog query for
the table's size (and creation time where the catalog keeps it). So PostgreSQL costs 3
statements per table (5 with a sample: drawing it, and the whole table's row count),
MySQL/MariaDB 4 (6), SQLite 3 (5), plus dropping the temporary table of a sample. Nothing
but aggregates leaves the database.
"""

import math
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as clock
from decimal import Decimal
from typing import Any

import sqlalchemy
from sqlalchemy import case, func, literal_column
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from om_dagster.profiler.config import TableSettings
from om_dagster.profiler.dialects import QUARTILES, Dialect, StatementTimeout

NUMERIC = frozenset(
    {"NUMBER", "TINYINT", "SMALLINT", "INT", "BIGINT", "BYTEINT", "FLOAT", "DOUBLE", "DECIMAL", "NUMERIC"}
    | {"LONG", "LARGEINT", "UINT", "MONEY", "FIXED", "YEAR"}
)
TEXT = frozenset({"STRING", "MEDIUMTEXT", "TEXT", "CHAR", "VARCHAR", "NTEXT", "CLOB", "ENUM", "UUID"})
TEMPORAL = frozenset({"TIMESTAMP", "TIMESTAMPZ", "TIME", "DATE", "DATETIME"})
# values that can be grouped and compared: counted distinct and unique
GROUPABLE = NUMERIC | TEXT | TEMPORAL | {"BOOLEAN"}
SAMPLE_TABLE = "om_dagster_profile_sample"


@dataclass
class ColumnPlan:
    """A column to profile, and which metrics it gets."""

    index: int
    name: str
    data_type: str
    metrics: frozenset[str]

    @property
    def numeric(self) -> bool:
        return self.data_type in NUMERIC

    def wants(self, *names: str) -> bool:
        return any(n in self.metrics for n in names)


@dataclass
class TableResult:
    """`createTableProfile.json`'s body, how many statements it took, what went wrong."""

    body: dict[str, Any]
    statements: int
    warnings: list[str] = field(default_factory=list)


def plan_columns(columns: list[dict[str, Any]], settings: TableSettings) -> list[ColumnPlan]:
    plans = []
    for index, column in enumerate(columns):
        name = column["name"]
        if name in settings.exclude or (settings.include and name not in settings.include):
            continue
        chosen = settings.include.get(name) if settings.include else None
        plans.append(
            ColumnPlan(index, name, str(column.get("dataType", "UNKNOWN")), chosen or settings.metrics)
        )
    return plans


class TableProfiler:
    """Profiles one table on one connection (its temporary sample lives on it)."""

    def __init__(self, conn: Connection, dialect: Dialect, settings: TableSettings) -> None:
        self.conn = conn
        self.dialect = dialect
        self.settings = settings
        self.statements = 0
        self.warnings: list[str] = []
        self.deadline = time.monotonic() + settings.timeout

    def profile(
        self, schema: str | None, table: str, columns: list[dict[str, Any]], now_ms: int
    ) -> TableResult:
        plans = plan_columns(columns, self.settings) if self.settings.column_metrics else []
        names = [c["name"] for c in columns]
        whole = sqlalchemy.table(table, *(sqlalchemy.column(n) for n in names), schema=schema)
        facts = {}
        if self.settings.table_metrics and self.dialect.facts_query:
            facts = self.dialect.table_facts(self.conn, schema, table)
            self.statements += 1
        sample = self.settings.sample
        sampled = sample.profileSample is not None
        source = whole
        if sampled or self.settings.profile_query:
            source = self._materialize(whole, names)
        profile: dict[str, Any] = {"timestamp": now_ms}
        if sampled:
            profile["profileSample"] = sample.profileSample
            profile["profileSampleType"] = sample.profileSampleType
            if sample.samplingMethodType:
                profile["samplingMethodType"] = sample.samplingMethodType
        counts, plans = self._aggregate(source, plans)
        if self.settings.table_metrics:
            profile["columnCount"] = len(columns)
            profile["rowCount"] = counts["rows"] if source is whole else self._row_count(whole)
            profile |= facts
        column_profiles = self._columns(source, plans, counts, now_ms)
        if source is not whole:
            self.dialect.drop_temp(self.conn, SAMPLE_TABLE)
        if self.dialect.unbounded:
            self.warnings.append(
                f"timeoutSeconds not enforced: the database refused a time limit: {self.dialect.unbounded}"
            )
        body: dict[str, Any] = {"tableProfile": profile}
        if column_profiles:
            body["columnProfile"] = column_profiles
        return TableResult(body, self.statements, self.warnings)

    # --- statements ---------------------------------------------------------------------

    def _run(self, statement: Any, limit: float | None = None) -> list[Any]:
        """Run a statement (or a function issuing one) within what is left of the budget, or
        within `limit` seconds of it."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise StatementTimeout(f"no time left of its {self.settings.timeout:g} s budget")
        self.statements += 1
        try:
            with self.dialect.timeout(self.conn, min(remaining, limit or remaining)):
                if callable(statement):
                    statement()
                    return []
                return list(self.conn.execute(statement).all())
        except DBAPIError as err:
            if self.dialect.timed_out(err):
                raise StatementTimeout(
                    f"the database cancelled it at the {self.settings.timeout:g} s budget (timeoutSeconds)"
                ) from None
            raise

    def _materialize(self, whole: Any, names: list[str]) -> Any:
        """The rows every metric reads, drawn once: the sample and/or the profile query."""
        sample = self.settings.sample
        base: Any = whole
        if self.settings.profile_query:
            base = (
                sqlalchemy.text(self.settings.profile_query)
                .columns(*(sqlalchemy.column(n) for n in names))
                .subquery("profile_query")
            )
        if sample.profileSample is None:
            select = sqlalchemy.select(literal_column("*")).select_from(base)
        elif sample.profileSampleType == "ROWS":
            select = sqlalchemy.select(literal_column("*")).select_from(base).limit(int(sample.profileSample))
            if sample.randomizedSample:
                select = select.order_by(self.dialect.random_order())
        else:
            select = self.dialect.percentage_sample(base, sample.profileSample, sample.samplingMethodType)
        self.dialect.drop_temp(self.conn, SAMPLE_TABLE)
        self._run(lambda: self.dialect.create_temp(self.conn, SAMPLE_TABLE, select))
        return sqlalchemy.table(SAMPLE_TABLE, *(sqlalchemy.column(n) for n in names))

    def _row_count(self, whole: Any) -> int:
        [(rows,)] = self._run(sqlalchemy.select(func.count()).select_from(whole))
        return int(rows)

    def _aggregate(self, source: Any, plans: list[ColumnPlan]) -> tuple[dict[Any, Any], list[ColumnPlan]]:
        """Statement 2: everything one scan can tell, and the columns it could tell it of.

        With several columns the fused scan gets half the budget; past it, each column is
        scanned alone within its share of the rest, and a column over its share loses its
        metrics (a warning), not the table.
        """
        exprs = {plan.index: self._column_exprs(source, plan) for plan in plans}
        fused = [(key, expr) for plan in plans for key, expr in exprs[plan.index]]
        limit = (self.deadline - time.monotonic()) / 2 if len(plans) > 1 else None
        try:
            return self._scan(source, fused, rows=True, limit=limit), plans
        except StatementTimeout:
            if limit is None:
                raise
        [(rows,)] = self._run(sqlalchemy.select(func.count()).select_from(source))
        values: dict[Any, Any] = {"rows": int(rows)}
        kept = []
        for n, plan in enumerate(plans):
            share = (self.deadline - time.monotonic()) / (len(plans) - n + 1)  # a share kept for the rest
            try:
                values |= self._scan(source, exprs[plan.index], rows=False, limit=share)
                kept.append(plan)
            except StatementTimeout:
                self.warnings.append(
                    f"column {plan.name}: no metrics, its scan outlived its {share:.1f} s share"
                )
        return values, kept

    def _scan(
        self, source: Any, exprs: list[tuple[Any, Any]], rows: bool, limit: float | None
    ) -> dict[Any, Any]:
        columns = ([func.count()] if rows else []) + [expr for _, expr in exprs]
        [row] = self._run(sqlalchemy.select(*columns).select_from(source), limit)
        values = {key: row[i + rows] for i, (key, _) in enumerate(exprs)}
        if rows:
            values["rows"] = int(row[0])
        return values

    def _column_exprs(self, source: Any, plan: ColumnPlan) -> list[tuple[tuple[int, str], Any]]:
        """A column's aggregates for the fused scan, keyed (column index, metric)."""
        col = source.c[plan.name]
        out: list[tuple[tuple[int, str], Any]] = [((plan.index, "valuesCount"), func.count(col))]

        def add(metric: str, expr: Any) -> None:
            out.append(((plan.index, metric), expr))

        if plan.numeric or plan.data_type in TEMPORAL:
            if plan.wants("min", "histogram"):
                add("min", func.min(col))
            if plan.wants("max", "histogram"):
                add("max", func.max(col))
        if plan.numeric:
            if plan.wants("mean", "nonParametricSkew"):
                add("mean", func.avg(col))
            if plan.wants("sum"):
                add("sum", self.dialect.total(col))
            if plan.wants("stddev", "nonParametricSkew"):
                for i, expr in enumerate(self.dialect.stddev(col)):
                    add(f"stddev{i}", expr)
            if self.dialect.inline_percentiles and self._wants_quartiles(plan):
                for q, expr in zip(QUARTILES, self.dialect.percentiles(col), strict=True):
                    add(f"q{q}", expr)
        if plan.data_type in TEXT and plan.wants("minLength", "maxLength"):
            add("minLength", func.min(self.dialect.char_length(col)))
            add("maxLength", func.max(self.dialect.char_length(col)))
        return out

    @staticmethod
    def _wants_quartiles(plan: ColumnPlan) -> bool:
        return plan.wants(
            "median", "firstQuartile", "thirdQuartile", "interQuartileRange", "nonParametricSkew", "histogram"
        )

    def _distinct(self, source: Any, plans: list[ColumnPlan]) -> dict[int, tuple[int, int]]:
        """Statement 3: distinct and unique (exactly once) counts, a GROUP BY per column."""
        wanted = [
            p
            for p in plans
            if p.data_type in GROUPABLE
            and p.wants(
                "distinctCount", "distinctProportion", "uniqueCount", "uniqueProportion", "duplicateCount"
            )
        ]
        if not wanted:
            return {}
        parts = []
        for plan in wanted:
            col = source.c[plan.name]
            groups = (
                sqlalchemy.select(func.count().label("k"))
                .select_from(source)
                .where(col.is_not(None))
                .group_by(col)
                .subquery(f"g{plan.index}")
            )
            parts.append(
                sqlalchemy.select(
                    literal_column(str(plan.index)).label("i"),
                    func.count().label("d"),
                    func.coalesce(func.sum(case((groups.c.k == 1, 1), else_=0)), 0).label("u"),
                ).select_from(groups)
            )
        statement = parts[0] if len(parts) == 1 else sqlalchemy.union_all(*parts)
        return {int(i): (int(d), int(u)) for i, d, u in self._run(statement)}

    def _quartiles(
        self, source: Any, plans: list[ColumnPlan], counts: dict[str, Any]
    ) -> dict[int, list[float]]:
        """Statement 4 where the dialect has no inline percentiles: the values at the
        positions `percentile_cont` interpolates between, for every numeric column at once."""
        parts, positions = [], {}
        for plan in plans:
            n = counts.get((plan.index, "valuesCount")) or 0
            if not (plan.numeric and self._wants_quartiles(plan)) or n == 0:
                continue
            rows = sorted({r for q in QUARTILES for r in around(q, n)})
            positions[plan.index] = n
            col = source.c[plan.name]
            ranked = (
                sqlalchemy.select(
                    sqlalchemy.cast(col, sqlalchemy.Double).label("v"),
                    func.row_number().over(order_by=col).label("rn"),
                )
                .select_from(source)
                .where(col.is_not(None))
                .subquery(f"r{plan.index}")
            )
            parts.append(
                sqlalchemy.select(literal_column(str(plan.index)).label("i"), ranked.c.rn, ranked.c.v).where(
                    ranked.c.rn.in_(rows)
                )
            )
        if not parts:
            return {}
        statement = parts[0] if len(parts) == 1 else sqlalchemy.union_all(*parts)
        found: dict[int, dict[int, float]] = {}
        for i, rn, v in self._run(statement):
            found.setdefault(int(i), {})[int(rn)] = float(v)
        out = {}
        for index, at in found.items():
            n = positions[index]
            out[index] = [interpolate(q, n, at) for q in QUARTILES]
        return out

    # --- the column profiles ------------------------------------------------------------

    def _columns(
        self, source: Any, plans: list[ColumnPlan], counts: dict[str, Any], now_ms: int
    ) -> list[dict[str, Any]]:
        if not plans:
            return []
        distinct = self._optional("distinct and unique counts", self._distinct, source, plans) or {}
        quartiles: dict[int, list[float]] = {}
        if not self.dialect.inline_percentiles:
            quartiles = self._optional("quartiles", self._quartiles, source, plans, counts) or {}
        rows = counts["rows"]
        out = []
        wanted: list[tuple[ColumnPlan, dict[str, Any]]] = []  # columns asking for a histogram
        for plan in plans:
            got = {
                key[1]: value
                for key, value in counts.items()
                if isinstance(key, tuple) and key[0] == plan.index
            }
            values = int(got["valuesCount"])
            metrics: dict[str, Any] = {
                "valuesCount": values,
                "nullCount": rows - values,
                "nullProportion": (rows - values) / rows if rows else None,
            }
            for name in ("min", "max", "mean", "sum", "minLength", "maxLength"):
                if name in got:
                    metrics[name] = json_value(got[name])
                    if plan.data_type in TEMPORAL and isinstance(metrics[name], str):
                        metrics[name] = iso_text(metrics[name])
            if "stddev0" in got:
                metrics["stddev"] = self.dialect.stddev_from(
                    [got[f"stddev{i}"] for i in range(sum(k.startswith("stddev") for k in got))]
                )
            q = quartiles.get(plan.index) or [got.get(f"q{x}") for x in QUARTILES]
            if any(v is not None for v in q):
                first, median, third = (json_value(v) for v in q)
                metrics |= {"firstQuartile": first, "median": median, "thirdQuartile": third}
                if first is not None and third is not None:
                    metrics["interQuartileRange"] = third - first
                mean, stddev = metrics.get("mean"), metrics.get("stddev")
                if median is not None and mean is not None and stddev:
                    metrics["nonParametricSkew"] = (mean - median) / stddev
            if plan.index in distinct:
                d, u = distinct[plan.index]
                metrics |= {
                    "distinctCount": d,
                    "distinctProportion": d / values if values else None,
                    "uniqueCount": u,
                    "uniqueProportion": u / values if values else None,
                    "duplicateCount": values - d,
                }
            kept = {k: v for k, v in metrics.items() if _reported(k, plan) and _finite(v)}
            out.append({"name": plan.name, "timestamp": now_ms, **kept})
            if "histogram" in plan.metrics:
                wanted.append((plan, metrics))
        histograms = self._optional("histograms", self._histograms, source, wanted) or {}
        for plan, profile in zip(plans, out, strict=True):
            if plan.index in histograms:
                profile["histogram"] = histograms[plan.index]
        return out

    def _histograms(self, source: Any, wanted: list[tuple[ColumnPlan, dict[str, Any]]]) -> dict[int, Any]:
        """One statement: each numeric column's values counted into OpenMetadata's bins."""
        parts, shapes = [], {}
        for plan, metrics in wanted:
            low, high, n = metrics.get("min"), metrics.get("max"), metrics.get("valuesCount") or 0
            if not plan.numeric or low is None or high is None or n == 0:
                continue
            count, width = bins(n, float(low), float(high), metrics.get("interQuartileRange"))
            shapes[plan.index] = (float(low), width, count)
            col = source.c[plan.name]
            offset = (sqlalchemy.cast(col, sqlalchemy.Double) - float(low)) / width
            bucket = case(
                (col >= float(low) + (count - 1) * width, count - 1), else_=self.dialect.floor(offset)
            )
            parts.append(
                sqlalchemy.select(literal_column(str(plan.index)).label("i"), bucket.label("b"), func.count())
                .select_from(source)
                .where(col.is_not(None))
                .group_by(bucket)
            )
        if not parts:
            return {}
        found: dict[int, dict[int, int]] = {}
        statement = parts[0] if len(parts) == 1 else sqlalchemy.union_all(*parts)
        for i, b, n in self._run(statement):
            found.setdefault(int(i), {})[int(b)] = int(n)
        out = {}
        for index, (low, width, count) in shapes.items():
            edges = [low + k * width for k in range(count)]
            labels = [f"{a:.3f} to {a + width:.3f}" for a in edges[:-1]] + [f"{edges[-1]:.3f} and up"]
            out[index] = {
                "boundaries": labels,
                "frequencies": [found.get(index, {}).get(k, 0) for k in range(count)],
            }
        return out

    def _optional(self, what: str, compute: Any, *args: Any) -> Any:
        """A pass whose metrics the table can do without: over its time, a warning."""
        try:
            return compute(*args)
        except StatementTimeout as err:
            self.warnings.append(f"{what} not computed: {err}")
            return None


def _reported(metric: str, plan: ColumnPlan) -> bool:
    """Counts are the base of every profile; the rest only when asked for."""
    return metric in ("valuesCount", "nullCount") or metric in plan.metrics


def _finite(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and not math.isfinite(value))


def bins(n: int, low: float, high: float, iqr: float | None) -> tuple[int, float]:
    """OpenMetadata's histogram bins: Freedman-Diaconis width (1 when the IQR is 0), else
    Sturges when there would be more than 100 or no IQR; at most 100; the last is open."""
    span = high - low
    if span <= 0:
        return 1, 1.0
    width = 2 * iqr * n ** (-1 / 3) if iqr else 1.0
    count = math.ceil(span / width)
    if iqr is None or count > 100:
        count = math.ceil(math.log2(n) + 1)
        width = span / count
    count = max(1, min(count, 100))
    return count, width


def around(q: float, n: int) -> tuple[int, int]:
    """1-based row numbers `percentile_cont(q)` interpolates between, of `n` sorted values."""
    pos = q * (n - 1)
    return math.floor(pos) + 1, math.ceil(pos) + 1


def interpolate(q: float, n: int, at: dict[int, float]) -> float:
    pos = q * (n - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return at[lo + 1] + (pos - lo) * (at[hi + 1] - at[lo + 1])


def iso_text(value: str) -> str:
    """A date-time SQLite keeps as text (`2020-12-24 19:01:30`) in ISO form, as other
    databases give it; a date or anything else as it is."""
    if len(value) > 10 and value[10] == " " and value[:4].isdigit():
        return f"{value[:10]}T{value[11:]}"
    return value


def json_value(value: Any) -> Any:
    """A database value as the profile's JSON: numbers as numbers, times as ISO text."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 2**63 else float(value)
    if isinstance(value, datetime | date | clock):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value
