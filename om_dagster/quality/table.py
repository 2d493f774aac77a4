"""Every test case of one table, from as few statements as the cases allow.

Statements per table: one fused scan (the row count and every aggregate and filtered
count the cases need, each computed once); plus, only when a case needs it, one
GROUP BY pass for the unique tests of all columns (`UNION ALL`), one statement for the
medians where the dialect has no inline `percentile_cont` (MySQL/MariaDB, SQLite), one
catalog read for the column-name tests, each custom SQL query, and for a failed case that
counts its rows one bounded query for some failing rows (`failedRowsSample`). A case whose
parameters cannot run is `Aborted` with the reason; the others still run.
"""

from dataclasses import dataclass
from typing import Any

import sqlalchemy
from sqlalchemy import case, func, literal_column
from sqlalchemy.engine import Connection

from om_dagster.core.steps import first_line
from om_dagster.profiler.dialects import Dialect
from om_dagster.profiler.table import around, interpolate, json_value
from om_dagster.quality.definitions import (
    DEFINITIONS,
    BadParameter,
    Definition,
    Outcome,
    Params,
    RowTest,
    Scan,
    Target,
)


@dataclass
class Case:
    """A test case to run: its FQN, definition, column (None: a table test) and parameters."""

    name: str
    fqn: str
    definition: str
    column: str | None
    params: dict[str, str]
    compute_rows: bool = False
    id: str | None = None  # the server's, for a case it already holds


@dataclass
class Planned:
    case: Case
    definition: Definition
    target: Target
    params: Params


def run_cases(
    conn: Connection, dialect: Dialect, schema: str | None, table: str, columns: list[str], cases: list[Case]
) -> tuple[list[tuple[Case, Outcome]], int]:
    """Each case's outcome, in order, and the number of statements they took."""
    relation = sqlalchemy.table(table, *(sqlalchemy.column(c) for c in columns), schema=schema)
    scan = Scan()
    outcomes: dict[int, Outcome] = {}
    planned: dict[int, Planned] = {}
    for i, item in enumerate(cases):
        try:
            planned[i] = plan(item, relation, dialect, scan)
        except BadParameter as err:
            outcomes[i] = Outcome("Aborted", f"{item.definition}: {err}")
    statements = 0
    values: dict[str, Any] = {}
    if planned:
        for p in planned.values():
            if p.definition.extra == "median" and dialect.inline_percentiles:
                key = p.target.key("median")
                scan.add(key, dialect.percentiles(p.target.col)[1])
        exprs = [func.count().label("rows"), *(e.label(f"v{n}") for n, e in enumerate(scan.exprs.values()))]
        row = conn.execute(sqlalchemy.select(*exprs).select_from(relation)).one()
        statements += 1
        values = {"rows": int(row[0]), **{k: json_value(row[n + 1]) for n, k in enumerate(scan.exprs)}}
        needs = {p.definition.extra for p in planned.values()}
        if "columns" in needs:
            values["columns"] = [
                c["name"] for c in sqlalchemy.inspect(conn).get_columns(table, schema=schema)
            ]
            statements += 1
        if "distinct" in needs:
            statements += unique_counts(
                conn,
                relation,
                [p.target for p in planned.values() if p.definition.extra == "distinct"],
                values,
            )
        if "median" in needs and not dialect.inline_percentiles:
            statements += medians(
                conn, relation, [p.target for p in planned.values() if p.definition.extra == "median"], values
            )
    for i, p in planned.items():
        try:
            if p.definition.extra == "sql":
                values["sql"] = custom_sql(conn, p.params)
                statements += 1
            outcome = p.definition.judge(p.target, p.params, values)
        except BadParameter as err:
            outcome = Outcome("Aborted", f"{p.case.definition}: {err}")
        except sqlalchemy.exc.DBAPIError as err:
            conn.rollback()
            outcome = Outcome("Aborted", f"{p.case.definition}: the database refused it: {first_line(err)}")
        if not p.case.compute_rows:
            outcome.passed_rows = outcome.failed_rows = None
        elif (
            outcome.status == "Failed"
            and isinstance(p.definition, RowTest)
            and p.definition.condition is not None
        ):
            outcome.sample = failed_rows(conn, relation, columns, p.definition.condition)
            statements += 1
        outcomes[i] = outcome
    return [(item, outcomes[i]) for i, item in enumerate(cases)], statements


def plan(item: Case, relation: Any, dialect: Dialect, scan: Scan) -> Planned:
    cls = DEFINITIONS.get(item.definition)
    if cls is None:
        raise BadParameter(f"om-dagster has no test definition {item.definition!r}")
    definition = cls()
    if definition.column_level and item.column is None:
        raise BadParameter("a column test needs a column (columnName, or the entity link's column)")
    if item.column is not None and item.column not in relation.c:
        raise BadParameter(f"column {item.column!r} is not a column of the table")
    column = relation.c[item.column] if item.column is not None and definition.column_level else None
    target = Target(
        relation, column, item.column if definition.column_level else None, dialect, scan, item.fqn
    )
    params = Params(item.params)
    definition.plan(target, params, rows_counted=item.compute_rows)
    return Planned(item, definition, target, params)


SAMPLE_ROWS = 50  # failing rows sent with a failed case that counts its rows


def failed_rows(conn: Connection, relation: Any, columns: list[str], condition: Any) -> dict[str, Any]:
    """Some rows that fail a case, as OpenMetadata's `tableData`: only on failure, bounded."""
    found = conn.execute(sqlalchemy.select(*relation.c).where(condition).limit(SAMPLE_ROWS)).all()
    return {"columns": columns, "rows": [[_cell(v) for v in row] for row in found]}


def _cell(value: Any) -> Any:
    value = json_value(value)
    return value if value is None or isinstance(value, str | int | float) else str(value)


def unique_counts(conn: Connection, relation: Any, targets: list[Target], values: dict[str, Any]) -> int:
    """Values seen exactly once, per column, in one statement."""
    parts = []
    for n, target in enumerate(targets):
        groups = (
            sqlalchemy.select(func.count().label("k"))
            .select_from(relation)
            .where(target.col.is_not(None))
            .group_by(target.col)
            .subquery(f"g{n}")
        )
        parts.append(
            sqlalchemy.select(
                literal_column(str(n)).label("i"),
                func.coalesce(func.sum(case((groups.c.k == 1, 1), else_=0)), 0).label("u"),
            ).select_from(groups)
        )
    statement = parts[0] if len(parts) == 1 else sqlalchemy.union_all(*parts)
    for i, unique in conn.execute(statement):
        values[targets[int(i)].key("uniqueCount")] = int(unique)
    return 1


def medians(conn: Connection, relation: Any, targets: list[Target], values: dict[str, Any]) -> int:
    """The medians of several columns by row position, in one statement."""
    parts, counts = [], {}
    for n, target in enumerate(targets):
        count = int(values.get(target.key("valuesCount")) or 0)
        if count == 0:
            values[target.key("median")] = None
            continue
        counts[n] = count
        ranked = (
            sqlalchemy.select(
                sqlalchemy.cast(target.col, sqlalchemy.Double).label("v"),
                func.row_number().over(order_by=target.col).label("rn"),
            )
            .select_from(relation)
            .where(target.col.is_not(None))
            .subquery(f"r{n}")
        )
        parts.append(
            sqlalchemy.select(literal_column(str(n)).label("i"), ranked.c.rn, ranked.c.v).where(
                ranked.c.rn.in_(sorted(set(around(0.5, count))))
            )
        )
    if not parts:
        return 0
    found: dict[int, dict[int, float]] = {}
    statement = parts[0] if len(parts) == 1 else sqlalchemy.union_all(*parts)
    for i, rn, v in conn.execute(statement):
        found.setdefault(int(i), {})[int(rn)] = float(v)
    for n, count in counts.items():
        values[targets[n].key("median")] = interpolate(0.5, count, found[n])
    return 1


def custom_sql(conn: Connection, params: Params) -> int:
    """ROWS: how many rows the query returns; COUNT: the number it returns."""
    query = params.text("sqlExpression") or ""
    if (params.text("strategy", required=False) or "ROWS").upper() == "COUNT":
        value = conn.execute(sqlalchemy.text(query)).scalar()
        return int(value or 0)
    counted = sqlalchemy.select(func.count()).select_from(sqlalchemy.text(f"({query}) AS custom_query"))
    return int(conn.execute(counted).scalar() or 0)
