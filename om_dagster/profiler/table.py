"""One table's profile, computed by its database in a bounded number of statements.

The statements of a table, whatever its column count:

1. with a sample or a `profileQuery`: the rows are drawn once into a temporary table that
   every later statement reads (one consistent dataset; `rowCount` still counts the whole
   table, in one more statement);
2. one fused aggregate: the row count and, per column, non-null count, min, max, sum,
   standard deviation, string lengths;
3. the distinct/unique pass: a `GROUP BY` per column, joined with `UNION ALL` (PostgreSQL:
   `count(DISTINCT)` for the columns `pg_stats` expects all distinct, one `GROUPING SETS`
   scan for those it expects few values of);
4. quartiles: `percentile_cont ... WITHIN GROUP` where the dialect has it (PostgreSQL,
   Snowflake; PostgreSQL's columns of few values from the groups of the few-values scan,
   no sort of their rows); elsewhere (MySQL/MariaDB, SQLite) the values at the ranks it interpolates
   between: a column's groups are counted into `BUCKETS` buckets (1 up to `RANK_ALL`
   values), which gives its distinct and unique counts too, then only the buckets holding
   those ranks are ranked.

Up to 8 columns, each pass is one statement and inline percentiles ride in the aggregate:
PostgreSQL 3 or 4 statements a table (the catalog's size query; the few-values scan),
SQLite 3 or 4 (the distinct pass only for columns not ranked), MySQL/MariaDB one more (the
catalog). Wider tables deal the passes into up to `threadCount` statements that run at
once (see `passes.py`; a sample's temporary table keeps one connection, one statement after
another): PostgreSQL at 30 columns and 4 threads costs 11 statements, as at 300, the
aggregate staying one (dealt too where the rank passes wait on it).
Nothing but aggregates and a few ranked values leaves the database.
"""

import math
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as clock
from decimal import Decimal
from typing import Any, TypeVar

import sqlalchemy
from sqlalchemy import case, func, literal_column
from sqlalchemy.engine import Connection

from om_dagster.profiler.config import TableSettings
from om_dagster.profiler.dialects import QUARTILES, Dialect, StatementTimeout
from om_dagster.profiler.passes import Budget, OneConnection, Statements, gather, settle

NUMERIC = frozenset(
    {"NUMBER", "TINYINT", "SMALLINT", "INT", "BIGINT", "BYTEINT", "FLOAT", "DOUBLE", "DECIMAL", "NUMERIC"}
    | {"LONG", "LARGEINT", "UINT", "MONEY", "FIXED", "YEAR"}
)
TEXT = frozenset({"STRING", "MEDIUMTEXT", "TEXT", "CHAR", "VARCHAR", "NTEXT", "CLOB", "ENUM", "UUID"})
STRINGS = frozenset({"STRING", "MEDIUMTEXT", "TEXT", "CHAR", "VARCHAR", "NTEXT", "CLOB"})  # collatable
TEMPORAL = frozenset({"TIMESTAMP", "TIMESTAMPZ", "TIME", "DATE", "DATETIME"})
# values that can be grouped and compared: counted distinct and unique
GROUPABLE = NUMERIC | TEXT | TEMPORAL | {"BOOLEAN"}
SAMPLE_TABLE = "om_dagster_profile_sample"
#: columns a statement covers before a pass is split across connections
CHUNK_COLUMNS = 8
#: a column of up to this many values is ranked whole for its quartiles
RANK_ALL = 10_000
#: buckets a larger column's values are counted into first
BUCKETS = 1024
QUARTILE_METRICS = ("median", "firstQuartile", "thirdQuartile", "interQuartileRange", "nonParametricSkew")
DISTINCT_METRICS = (
    "distinctCount",
    "distinctProportion",
    "uniqueCount",
    "uniqueProportion",
    "duplicateCount",
)
T = TypeVar("T")


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

    @property
    def quartiles(self) -> bool:
        return self.numeric and self.wants(*QUARTILE_METRICS, "histogram")


@dataclass
class TableResult:
    """`createTableProfile.json`'s body, how many statements it took, what went wrong."""

    body: dict[str, Any]
    statements: int
    warnings: list[str] = field(default_factory=list)


def chunks(items: list[T], count: int) -> list[list[T]]:
    """`items` dealt into at most `count` non-empty hands."""
    return [items[k::count] for k in range(min(count, len(items)))]


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
    """Profiles one table: the catalog, the sample and the aggregate on `conn`, the other
    passes through `passes` (at once) unless a sample's temporary table ties them to `conn`."""

    def __init__(
        self, conn: Connection, dialect: Dialect, settings: TableSettings, passes: Statements | None = None
    ) -> None:
        self.conn = conn
        self.dialect = dialect
        self.settings = settings
        self.passes: Statements = passes or OneConnection(conn)
        self.budget = Budget(dialect, settings.timeout)
        self.warnings: list[str] = []
        self.expected: dict[str, str] = {}  # what the catalog's statistics expect of a column
        self.from_groups: set[int] = set()  # columns whose quartiles the few-values scan gives

    def profile(
        self, schema: str | None, table: str, columns: list[dict[str, Any]], now_ms: int
    ) -> TableResult:
        plans = plan_columns(columns, self.settings) if self.settings.column_metrics else []
        names = [c["name"] for c in columns]
        whole = sqlalchemy.table(table, *(sqlalchemy.column(n) for n in names), schema=schema)
        facts: dict[str, Any] = {}
        if self.settings.table_metrics and self.dialect.facts_query:
            facts, self.expected = self.dialect.table_facts(self.conn, schema, table)
            self.budget.statements += 1
        sample = self.settings.sample
        sampled = sample.profileSample is not None
        source = whole
        if sampled or self.settings.profile_query:
            source = self._materialize(whole, names)
            self.passes = OneConnection(self.conn)
        elif self.passes.wide_only and len(plans) <= CHUNK_COLUMNS:
            self.passes = OneConnection(self.conn)  # its passes too small to pay the round trips
        profile: dict[str, Any] = {"timestamp": now_ms}
        if sampled:
            profile["profileSample"] = sample.profileSample
            profile["profileSampleType"] = sample.profileSampleType
            if sample.samplingMethodType:
                profile["samplingMethodType"] = sample.samplingMethodType
        counts, plans, others = self._passes(source, plans)
        if self.settings.table_metrics:
            profile["columnCount"] = len(columns)
            profile["rowCount"] = counts["rows"] if source is whole else self._row_count(whole)
            profile |= facts
        column_profiles = self._columns(source, plans, counts, others)
        for column in column_profiles:
            column["timestamp"] = now_ms
        if source is not whole:
            self.dialect.drop_temp(self.conn, SAMPLE_TABLE)
        if self.dialect.unbounded:
            self.warnings.append(
                f"timeoutSeconds not enforced: the database refused a time limit: {self.dialect.unbounded}"
            )
        body: dict[str, Any] = {"tableProfile": profile}
        if column_profiles:
            body["columnProfile"] = column_profiles
        return TableResult(body, self.budget.statements, self.warnings)

    # --- statements ---------------------------------------------------------------------

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
        self.budget.run(self.conn, lambda: self.dialect.create_temp(self.conn, SAMPLE_TABLE, select))
        return sqlalchemy.table(SAMPLE_TABLE, *(sqlalchemy.column(n) for n in names))

    def _row_count(self, relation: Any) -> int:
        [(rows,)] = self.budget.run(self.conn, sqlalchemy.select(func.count()).select_from(relation))
        return int(rows)

    def _passes(
        self, source: Any, plans: list[ColumnPlan]
    ) -> tuple[dict[Any, Any], list[ColumnPlan], dict[str, dict[int, Any]]]:
        """The distinct/unique pass and the percentiles sent off, the aggregate on the table's
        own connection meanwhile, then the quartiles by rank that need its counts.

        Returns the aggregate's values, the columns it could measure, and the other passes'
        results by name (a pass over its time is a warning, and its metrics are left out)."""
        hands = max(1, min(self.passes.width, math.ceil(len(plans) / CHUNK_COLUMNS)))
        inline = self.dialect.inline_percentiles and hands == 1
        sent: list[tuple[str, Future[list[Any]], Callable[[list[Any]], dict[str, dict[int, Any]]]]] = []

        def send(what: str, statement: Any, parse: Callable[[list[Any]], dict[str, dict[int, Any]]]) -> None:
            sent.append((what, self.passes.submit(statement, self.budget), parse))

        grouped = [p for p in plans if p.data_type in GROUPABLE and p.wants(*DISTINCT_METRICS)]
        few = [p for p in grouped if self.expected.get(p.name) == "few"]
        if len(few) > 1:
            self.from_groups = {p.index for p in few if p.quartiles}
            what = "distinct and unique counts" + (" and quartiles" if self.from_groups else "")
            send(what, self._few_statement(source, few), from_groups(few))
        else:
            few = []
        ranked = [p for p in plans if p.quartiles and p.index not in self.from_groups]
        # without inline percentiles, the bucket pass of a ranked column counts its groups too
        later = [] if self.dialect.inline_percentiles else ranked
        for hand in chunks([p for p in grouped if p not in few and p not in later], hands):
            send("distinct and unique counts", self._distinct_statement(source, hand), counted([]))
        if self.dialect.inline_percentiles and not inline:
            for hand in chunks(ranked, hands):
                send("quartiles", self._percentile_statement(source, hand), percentiles(hand))
        try:
            counts, kept = self._aggregate(source, plans, inline, hands)
        except BaseException:
            settle(future for _, future, _ in sent)  # none outlives the table's connection
            raise
        others: dict[str, dict[int, Any]] = {"distinct": {}, "quartiles": {}}
        for what, future, parse in sent:
            for kind, values in (self._optional(what, lambda f=future, p=parse: p(f.result())) or {}).items():
                others[kind] |= values
        if not self.dialect.inline_percentiles:
            ranks = self._optional(
                "quartiles and distinct counts", self._ranks, source, ranked, counts, hands
            )
            others["quartiles"], distinct = ranks or ({}, {})
            others["distinct"] |= distinct
        return counts, kept, others

    def _aggregate(
        self, source: Any, plans: list[ColumnPlan], inline: bool, hands: int
    ) -> tuple[dict[Any, Any], list[ColumnPlan]]:
        """Everything one scan can tell, and the columns it could tell it of. Where the
        quartiles' passes wait on it (no inline percentiles), its columns are dealt into
        `hands` statements, the first run here, the others sent off meanwhile."""
        local, *away = chunks(plans, 1 if self.dialect.inline_percentiles else hands) or [[]]
        sent = []
        for hand in away:
            fused = [pair for plan in hand for pair in self._column_exprs(source, plan, inline)]
            statement = sqlalchemy.select(*(expr for _, expr in fused)).select_from(source)
            sent.append((hand, fused, self.passes.submit(statement, self.budget)))
        try:
            values, kept = self._fused(source, local, inline)
        except BaseException:
            settle(future for _, _, future in sent)
            raise
        for hand, fused, future in sent:
            try:
                [row] = future.result()
            except StatementTimeout as err:
                self.warnings += [f"column {plan.name}: no metrics: {err}" for plan in hand]
                continue
            values |= {key: row[i] for i, (key, _) in enumerate(fused)}
            kept += hand
        return values, [plan for plan in plans if plan in kept]

    def _fused(
        self, source: Any, plans: list[ColumnPlan], inline: bool
    ) -> tuple[dict[Any, Any], list[ColumnPlan]]:
        """One scan: the row count and the columns' aggregates, and the columns it measured.

        With several columns the fused scan gets half the budget; past it, each column is
        scanned alone within its share of the rest, and a column over its share loses its
        metrics (a warning), not the table.
        """
        exprs = {plan.index: self._column_exprs(source, plan, inline) for plan in plans}
        fused = [(key, expr) for plan in plans for key, expr in exprs[plan.index]]
        limit = (self.budget.deadline - time.monotonic()) / 2 if len(plans) > 1 else None
        try:
            return self._scan(source, fused, rows=True, limit=limit), plans
        except StatementTimeout:
            if limit is None:
                raise
        values: dict[Any, Any] = {"rows": self._row_count(source)}
        kept = []
        for n, plan in enumerate(plans):
            share = (self.budget.deadline - time.monotonic()) / (len(plans) - n + 1)  # some kept for the rest
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
        [row] = self.budget.run(self.conn, sqlalchemy.select(*columns).select_from(source), limit)
        values = {key: row[i + rows] for i, (key, _) in enumerate(exprs)}
        if rows:
            values["rows"] = int(row[0])
        return values

    def _column_exprs(self, source: Any, plan: ColumnPlan, inline: bool) -> list[tuple[tuple[int, str], Any]]:
        """A column's aggregates for the fused scan, keyed (column index, metric)."""
        col = source.c[plan.name]
        out: list[tuple[tuple[int, str], Any]] = [((plan.index, "valuesCount"), func.count(col))]

        def add(metric: str, expr: Any) -> None:
            out.append(((plan.index, metric), expr))

        if plan.numeric or plan.data_type in TEMPORAL:
            if plan.wants("min", "histogram") or plan.quartiles:
                add("min", func.min(col))
            if plan.wants("max", "histogram") or plan.quartiles:
                add("max", func.max(col))
        if plan.numeric:
            if plan.wants("sum", "mean", "nonParametricSkew"):
                add("sum", self.dialect.total(col))  # the mean is the sum over the count: one aggregate
            if plan.wants("stddev", "nonParametricSkew"):
                for i, expr in enumerate(self.dialect.stddev(col)):
                    add(f"stddev{i}", expr)
            if inline and plan.quartiles and plan.index not in self.from_groups:
                for q, expr in zip(QUARTILES, self.dialect.percentiles(col), strict=True):
                    add(f"q{q}", expr)
        if plan.data_type in TEXT and plan.wants("minLength", "maxLength"):
            add("minLength", func.min(self.dialect.char_length(col)))
            add("maxLength", func.max(self.dialect.char_length(col)))
        return out

    def _distinct_statement(self, source: Any, plans: list[ColumnPlan]) -> Any:
        """Distinct and unique (exactly once) counts: a GROUP BY per column, one statement."""
        parts = []
        for plan in plans:
            col = source.c[plan.name]
            groups = (
                sqlalchemy.select(func.count().label("k"))
                .select_from(source)
                .where(col.is_not(None))
                .group_by(col)
                .subquery(f"g{plan.index}")
            )
            unique = func.coalesce(func.sum(case((groups.c.k == 1, 1), else_=0)), 0)
            index = literal_column(str(plan.index)).label("i")
            if self._sort_distinct(plan):
                # all distinct, as the catalog expects: unique too, no GROUP BY (the
                # subquery of the CASE runs only when some value repeats)
                d = func.count((self.dialect.bytewise(col) if plan.data_type in STRINGS else col).distinct())
                u = case((d == func.count(col), d), else_=sqlalchemy.select(unique).scalar_subquery())
                parts.append(sqlalchemy.select(index, d.label("d"), u.label("u")).select_from(source))
            else:
                parts.append(
                    sqlalchemy.select(index, func.count().label("d"), unique.label("u")).select_from(groups)
                )
        return union(parts)

    def _few_statement(self, source: Any, plans: list[ColumnPlan]) -> Any:
        """Distinct and unique counts of columns the catalog expects few values of: one scan
        hashing each into a small table of its own (`GROUPING SETS`), where a `GROUP BY` each
        would scan the table again and again (17 such columns of 1,000,000 rows: 2.5 s, 4.4 s).
        A numeric column's quartiles come from its groups too: a running count over at most
        `FEW` values finds the two values `percentile_cont` interpolates between, where a
        `percentile_cont` would sort all its rows again (8 such columns: 2.2 s of sorting)."""
        cols = [source.c[plan.name] for plan in plans]
        which = case(*((func.grouping(col) == 0, plan.index) for plan, col in zip(plans, cols, strict=True)))
        empty = case(*((func.grouping(col) == 0, col.is_(None)) for col in cols))
        ranked = [col for plan, col in zip(plans, cols, strict=True) if plan.index in self.from_groups]
        value = (
            case(*((func.grouping(col) == 0, sqlalchemy.cast(col, sqlalchemy.Double)) for col in ranked))
            if ranked
            else sqlalchemy.null()
        )
        sets = (
            sqlalchemy.select(
                which.label("i"), empty.label("empty"), func.count().label("k"), value.label("v")
            )
            .select_from(source)
            .group_by(func.grouping_sets(*(sqlalchemy.tuple_(col) for col in cols)))
            .subquery("sets")
        )
        column = [sets.c.i, sets.c.empty]
        runs = sqlalchemy.select(
            sets,
            func.sum(sets.c.k).over(partition_by=column, order_by=sets.c.v, rows=(None, 0)).label("below"),
            func.sum(sets.c.k).over(partition_by=column).label("n"),
        ).subquery("runs")
        ends = []
        for q in QUARTILES:
            pos = literal_column(str(q)) * (runs.c.n - 1)
            ends += [
                func.min(case((runs.c.below > end, runs.c.v))) for end in (func.floor(pos), func.ceil(pos))
            ]
        return (
            sqlalchemy.select(
                runs.c.i,
                func.count(),
                func.coalesce(func.sum(case((runs.c.k == 1, 1), else_=0)), 0),
                func.max(runs.c.n),
                *ends,
            )
            .where(sqlalchemy.not_(runs.c.empty))
            .group_by(runs.c.i)
        )

    def _sort_distinct(self, plan: ColumnPlan) -> bool:
        return self.expected.get(plan.name) == "unique" and (
            plan.numeric or plan.data_type in TEMPORAL | STRINGS | {"UUID"}
        )

    def _percentile_statement(self, source: Any, plans: list[ColumnPlan]) -> Any:
        """`percentile_cont` of a hand of columns, apart from the aggregate so hands run at once."""
        exprs = [expr for plan in plans for expr in self.dialect.percentiles(source.c[plan.name])]
        return sqlalchemy.select(*exprs).select_from(source)

    def _ranks(
        self, source: Any, plans: list[ColumnPlan], counts: dict[Any, Any], hands: int
    ) -> tuple[dict[int, list[float]], dict[int, tuple[int, int]]]:
        """Quartiles without inline percentiles: the values at the ranks `percentile_cont`
        interpolates between. A column of more than `RANK_ALL` values is first counted into
        `BUCKETS` equal buckets, so the ranking window only sorts the few buckets holding those
        ranks, not the column. Counting the buckets from the column's groups gives its
        distinct and unique counts in the same statement (one sort of the values, not two).

        Returns the quartiles and the distinct and unique counts, by column."""
        columns: dict[int, Ranking] = {}
        out: dict[int, list[float]] = {}
        distinct: dict[int, tuple[int, int]] = {}
        for plan in plans:
            n = counts.get((plan.index, "valuesCount")) or 0
            low, high = counts.get((plan.index, "min")), counts.get((plan.index, "max"))
            if n == 0 or low is None or high is None:
                distinct[plan.index] = (0, 0)
                continue
            if float(low) == float(high):
                out[plan.index] = [float(low)] * len(QUARTILES)
                distinct[plan.index] = (1, int(n == 1))
                continue
            buckets = BUCKETS if n > RANK_ALL else 1
            bucketing = Bucketing(float(low), (float(high) - float(low)) / buckets, buckets, self.dialect)
            grouped = plan.wants(*DISTINCT_METRICS)
            columns[plan.index] = Ranking(plan.index, source.c[plan.name], n, bucketing, grouped)
        bucketed = [r for r in columns.values() if r.buckets > 1 or r.grouped]
        sent = [self.passes.submit(bucket_statement(hand), self.budget) for hand in chunks(bucketed, hands)]
        for rows in gather(sent):
            for i, b, n, low, high, d, u in rows:
                columns[int(i)].buckets_seen[int(b)] = (int(n), float(low), float(high))
                if d is not None:
                    before = distinct.get(int(i), (0, 0))
                    distinct[int(i)] = (before[0] + int(d), before[1] + int(u))
        wanted = []
        for ranking in columns.values():
            if ranking.buckets > 1 and sum(n for n, _, _ in ranking.buckets_seen.values()) != ranking.n:
                self.warnings.append(f"column {ranking.col.name}: no quartiles, its rows changed")
            elif ranking.wanted():
                wanted.append(ranking)
            else:
                out[ranking.index] = ranking.quartiles({})
        found: dict[int, dict[tuple[int, int], float]] = {r.index: {} for r in wanted}
        sent = [self.passes.submit(value_statement(hand), self.budget) for hand in chunks(wanted, hands)]
        for rows in gather(sent):
            for i, b, rn, v in rows:
                found[int(i)][(int(b), int(rn))] = float(v)
        for index, values in found.items():
            try:
                out[index] = columns[index].quartiles(values)
            except KeyError:
                self.warnings.append(f"column {columns[index].col.name}: no quartiles, its rows changed")
        return out, distinct

    # --- the column profiles ------------------------------------------------------------

    def _columns(
        self, source: Any, plans: list[ColumnPlan], counts: dict[Any, Any], others: dict[str, dict[int, Any]]
    ) -> list[dict[str, Any]]:
        distinct, quartiles = others["distinct"], others["quartiles"]
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
            if got.get("sum") is not None and values:
                metrics["mean"] = json_value(got["sum"] / values)
            for name in ("min", "max", "sum", "minLength", "maxLength"):
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
            out.append({"name": plan.name, **kept})
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
            bucket = Bucketing(float(low), width, count, self.dialect).expr(col)
            parts.append(
                sqlalchemy.select(literal_column(str(plan.index)).label("i"), bucket.label("b"), func.count())
                .select_from(source)
                .where(col.is_not(None))
                .group_by(bucket)
            )
        if not parts:
            return {}
        found: dict[int, dict[int, int]] = {}
        rows = self.passes.submit(union(parts), self.budget).result()
        for i, b, n in rows:
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


@dataclass
class Bucketing:
    """Equal-width buckets from `low`, numbered from 0; the last one takes everything past
    its start, so the maximum lands in it whatever the rounding."""

    low: float
    width: float
    count: int
    dialect: Dialect

    def expr(self, col: Any) -> Any:
        value = sqlalchemy.cast(col, sqlalchemy.Double)
        return case(
            (value >= self.low + (self.count - 1) * self.width, self.count - 1),
            else_=self.dialect.floor((value - self.low) / self.width),
        )

    def near(self, col: Any, buckets: Iterable[int]) -> Any:
        """Values in or just around `buckets`: a plain range test on the column, so the
        bucket's arithmetic runs on those rows only (the margin covers its rounding)."""
        margin = self.width * 1e-6
        ranges = []
        for b in sorted(buckets):
            start = self.low + b * self.width - margin
            if b == self.count - 1:
                ranges.append(col >= start)
            else:
                ranges.append(sqlalchemy.and_(col >= start, col <= self.low + (b + 1) * self.width + margin))
        return sqlalchemy.or_(*ranges)


@dataclass
class Ranking:
    """A column's quartiles by rank: its `n` values, their buckets, and (once counted) each
    bucket's size, least and greatest value."""

    index: int
    col: Any
    n: int
    bucketing: Bucketing
    grouped: bool  # its distinct and unique counts wanted
    buckets_seen: dict[int, tuple[int, float, float]] = field(default_factory=dict)

    @property
    def buckets(self) -> int:
        return self.bucketing.count

    def ranks(self) -> list[int]:
        return sorted({r for q in QUARTILES for r in around(q, self.n)})

    def locate(self, rank: int) -> tuple[int, int]:
        """The bucket holding the `rank`-th smallest value, and the value's rank in there."""
        if self.buckets == 1:
            return 0, rank
        before = 0
        for bucket in sorted(self.buckets_seen):
            size = self.buckets_seen[bucket][0]
            if rank <= before + size:
                return bucket, rank - before
            before += size
        raise LookupError(rank)

    def known(self, bucket: int) -> float | None:
        """The value of every row of a bucket holding one value only."""
        seen = self.buckets_seen.get(bucket)
        return seen[1] if seen is not None and seen[1] == seen[2] else None

    def wanted(self) -> dict[int, set[int]]:
        """Ranks to read, by bucket (none in a bucket of one value)."""
        out: dict[int, set[int]] = {}
        for rank in self.ranks():
            bucket, within = self.locate(rank)
            if self.known(bucket) is None:
                out.setdefault(bucket, set()).add(within)
        return out

    def quartiles(self, found: dict[tuple[int, int], float]) -> list[float]:
        at = {}
        for rank in self.ranks():
            bucket, within = self.locate(rank)
            known = self.known(bucket)
            at[rank] = known if known is not None else found[(bucket, within)]
        return [interpolate(q, self.n, at) for q in QUARTILES]


def counted(every: list[ColumnPlan]) -> Callable[[list[Any]], dict[str, dict[int, Any]]]:
    """Parse (column, distinct, unique) rows; a column of `every` with no row has no value."""

    def parse(rows: list[Any]) -> dict[str, dict[int, Any]]:
        found: dict[int, Any] = {plan.index: (0, 0) for plan in every}
        return {"distinct": found | {int(i): (int(d), int(u)) for i, d, u in rows}}

    return parse


def from_groups(every: list[ColumnPlan]) -> Callable[[list[Any]], dict[str, dict[int, Any]]]:
    """Parse the few-values scan: (column, distinct, unique, values, then per quartile the
    values at the two ranks it lies between) rows."""

    def parse(rows: list[Any]) -> dict[str, dict[int, Any]]:
        quartiles = {}
        for i, _, _, n, *ends in rows:
            if ends[0] is None:  # not a ranked column
                continue
            at = []
            for k, q in enumerate(QUARTILES):
                low, high = around(q, int(n))
                at.append(interpolate(q, int(n), {low: ends[2 * k], high: ends[2 * k + 1]}))
            quartiles[int(i)] = at
        return counted(every)([row[:3] for row in rows]) | {"quartiles": quartiles}

    return parse


def percentiles(plans: list[ColumnPlan]) -> Callable[[list[Any]], dict[str, dict[int, Any]]]:
    """Parse a percentile statement's one row: three quartiles a column."""

    def parse(rows: list[Any]) -> dict[str, dict[int, Any]]:
        [row] = rows
        return {"quartiles": {plan.index: list(row[3 * n : 3 * n + 3]) for n, plan in enumerate(plans)}}

    return parse


def bucket_statement(hand: list["Ranking"]) -> Any:
    """How many values each bucket holds, and its least and greatest (a bucket of one
    value, as every bucket of a column of few values, needs no ranking); for a column
    whose distinct and unique counts are wanted, counted from its groups, with theirs."""
    parts = []
    for r in hand:
        index = literal_column(str(r.index)).label("i")
        if r.grouped:
            groups = (
                sqlalchemy.select(r.col.label("v"), func.count().label("k"))
                .select_from(r.col.table)
                .where(r.col.is_not(None))
                .group_by(r.col)
                .subquery(f"g{r.index}")
            )
            b = r.bucketing.expr(groups.c.v) if r.buckets > 1 else literal_column("0")
            counts = [
                func.sum(groups.c.k),
                func.min(groups.c.v),
                func.max(groups.c.v),
                func.count(),
                func.sum(case((groups.c.k == 1, 1), else_=0)),
            ]
            select = sqlalchemy.select(index, b.label("b"), *counts).select_from(groups)
            parts.append(select.group_by(b) if r.buckets > 1 else select)
        else:
            b = r.bucketing.expr(r.col)
            nothing = sqlalchemy.null()
            counts = [func.count(), func.min(r.col), func.max(r.col), nothing, nothing]
            parts.append(
                sqlalchemy.select(index, b.label("b"), *counts)
                .select_from(r.col.table)
                .where(r.col.is_not(None))
                .group_by(b)
            )
    return union(parts)


def value_statement(hand: list["Ranking"]) -> Any:
    """The values at the wanted ranks: only the rows near the buckets holding them are
    ranked, within their bucket."""
    parts = []
    for r in hand:
        index = literal_column(str(r.index)).label("i")
        if r.buckets == 1:  # a small column: all of it ranked, in a statement as small
            ranked = (
                sqlalchemy.select(
                    sqlalchemy.cast(r.col, sqlalchemy.Double).label("v"),
                    func.row_number().over(order_by=r.col).label("rn"),
                )
                .select_from(r.col.table)
                .where(r.col.is_not(None))
                .subquery(f"r{r.index}")
            )
            zero = literal_column("0").label("b")
            parts.append(
                sqlalchemy.select(index, zero, ranked.c.rn, ranked.c.v).where(ranked.c.rn.in_(r.ranks()))
            )
            continue
        wanted = r.wanted()
        values = (
            sqlalchemy.select(
                r.bucketing.expr(r.col).label("b"), sqlalchemy.cast(r.col, sqlalchemy.Double).label("v")
            )
            .select_from(r.col.table)
            .where(r.col.is_not(None), r.bucketing.near(r.col, wanted))
            .subquery(f"s{r.index}")
        )
        ranked = (
            sqlalchemy.select(
                values.c.b,
                values.c.v,
                func.row_number().over(partition_by=values.c.b, order_by=values.c.v).label("rn"),
            )
            .where(values.c.b.in_(sorted(wanted)))
            .subquery(f"r{r.index}")
        )
        parts.append(
            sqlalchemy.select(index, ranked.c.b, ranked.c.rn, ranked.c.v).where(
                sqlalchemy.or_(
                    *(
                        sqlalchemy.and_(ranked.c.b == b, ranked.c.rn.in_(sorted(ranks)))
                        for b, ranks in wanted.items()
                    )
                )
            )
        )
    return union(parts)


def union(parts: list[Any]) -> Any:
    return parts[0] if len(parts) == 1 else sqlalchemy.union_all(*parts)


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
