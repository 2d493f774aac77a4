"""What a query does to tables, by sqlglot (dialect-aware, maintained, and 20-40x faster
than the official client's parser on the same queries): the tables it reads and writes, the
column pairs it joins on, and which columns feed which.

Every name is resolved against the service's tables (`Catalog`) with the query's default
database and schema: a quoted name matches exactly, an unquoted one as its dialect folds
it; a name that matches no table, or several, is a warning, never a guess. Pure functions
of their arguments: they run in worker processes (`pool.py`), where a parse can be stopped.
"""

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import lineage
from sqlglot.schema import MappingSchema

# OpenMetadata's connection types, as sqlglot names their dialects
DIALECTS = {
    "Postgres": "postgres",
    "Redshift": "redshift",
    "Mysql": "mysql",
    "MariaDB": "mysql",
    "SingleStore": "mysql",
    "Snowflake": "snowflake",
    "SQLite": "sqlite",
    "BigQuery": "bigquery",
    "Mssql": "tsql",
    "AzureSQL": "tsql",
    "Oracle": "oracle",
    "Trino": "trino",
    "Presto": "presto",
    "Athena": "athena",
    "Clickhouse": "clickhouse",
    "Databricks": "databricks",
    "UnityCatalog": "databricks",
    "Hive": "hive",
    "Impala": "hive",
    "Teradata": "teradata",
    "Doris": "doris",
    "StarRocks": "starrocks",
    "Duckdb": "duckdb",
}
# where an unqualified name lives when the query does not say
DEFAULT_SCHEMA = {"postgres": "public", "redshift": "public", "sqlite": "main", "tsql": "dbo"}

Key = tuple[str, str, str]  # (database, schema, table) as the service holds them
Column = tuple[str, str, str, str]  # a table's key and a column name

_LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b")
_SPACE = re.compile(r"\s+")


def masked(sql: str) -> str:
    """The query with string and number literals as `?` and its spacing collapsed: queries
    that differ only there are one query (parsed once, one Query entity)."""
    return _SPACE.sub(" ", _LITERALS.sub("?", sql)).strip()


def checksum(shape: str) -> str:
    """A masked query's name: md5 of its text, as the server checksums a Query's text."""
    return hashlib.md5(shape.encode("utf-8")).hexdigest()


def fingerprint(sql: str) -> str:
    return checksum(masked(sql))


class Catalog:
    """The service's tables and their columns, indexed for name resolution."""

    def __init__(self, tables: Iterable[tuple[Key, list[str]]], dialect: str) -> None:
        self.dialect = dialect
        self.folding = sqlglot.Dialect.get_or_raise(dialect).normalization_strategy.name
        self.columns: dict[Key, list[str]] = {}
        self.by_name: dict[str, list[Key]] = {}  # lowercased table name -> keys
        for key, columns in tables:
            self.columns[key] = columns
            self.by_name.setdefault(key[2].lower(), []).append(key)

    def fold(self, name: str, quoted: bool = False) -> str:
        """A name as the dialect keeps it: how a table the catalog lacks (a temporary one) is
        known from one query to the next."""
        if quoted or self.folding == "CASE_SENSITIVE":
            return name
        return name.upper() if self.folding == "UPPERCASE" else name.lower()

    def matches(self, part: exp.Identifier | None, real: str) -> bool:
        if part is None:
            return True
        if part.quoted:
            return part.this == real
        if self.folding == "LOWERCASE":
            return part.this.lower() == real
        if self.folding == "UPPERCASE":
            return part.this.upper() == real
        return part.this.lower() == real.lower()  # case-insensitive dialects (and MySQL's usual setup)

    def resolve(self, table: exp.Table, database: str | None, schema: str | None) -> Key | str:
        """The table's key, or why it has none (unknown, ambiguous). MySQL's databases are
        OpenMetadata's schemas (under the database `default`): a MySQL query's default
        database is its default schema."""
        if self.dialect == "mysql" and schema is None:
            schema = database
        parts = table.parts  # [catalog.][db.]name, as written
        name, db_part, catalog_part = parts[-1], _part(parts, 2), _part(parts, 3)
        candidates = [k for k in self.by_name.get(str(name.this).lower(), []) if self.matches(name, k[2])]
        if catalog_part is not None:
            candidates = [k for k in candidates if self.matches(catalog_part, k[0])]
        elif database and self.dialect != "mysql":
            # a query reaches another database only by naming it: another database's namesake
            # is not what it read (MySQL's databases are schemas here, under `default`)
            candidates = [k for k in candidates if k[0] == database]
        if db_part is not None:
            candidates = [k for k in candidates if self.matches(db_part, k[1])]
        else:
            default = schema or DEFAULT_SCHEMA.get(self.dialect)
            candidates = [k for k in candidates if k[1] == default] or candidates
        if len(candidates) == 1:
            return candidates[0]
        written = ".".join(p.sql(self.dialect) for p in parts)
        if not candidates:
            return f"unknown table {written}"
        return f"ambiguous table {written}: " + ", ".join(".".join(k) for k in candidates)


def _part(parts: list[Any], back: int) -> exp.Identifier | None:
    if len(parts) < back or not isinstance(parts[-back], exp.Identifier):
        return None
    return parts[-back]


@dataclass
class Edge:
    """Data moving from one table to another, with the columns that feed each target column."""

    source: Key
    target: Key
    columns: dict[str, set[Column]] = field(default_factory=dict)
    # INSERT without a column list into a table the catalog lacks: the projections in order,
    # which land in that table's columns by position (a temporary table's, once known)
    positions: list[str] | None = None


@dataclass
class Analysis:
    """One query: the tables it touches, its joins and lineage, and what could not be told."""

    reads: set[Key] = field(default_factory=set)
    writes: set[Key] = field(default_factory=set)
    joins: set[tuple[Column, Column]] = field(default_factory=set)
    edges: list[Edge] = field(default_factory=list)
    temps: dict[str, list[Edge]] = field(default_factory=dict)  # temp tables made, from what
    temp_columns: dict[str, list[str]] = field(default_factory=dict)  # CREATE TEMP TABLE t (columns)
    unresolved: dict[str, str] = field(default_factory=dict)  # name -> why the catalog has no table
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "reads": sorted(self.reads),
            "writes": sorted(self.writes),
            "joins": sorted(self.joins),
            "edges": [_edge_dict(e) for e in self.edges],
            "temps": {name: [_edge_dict(e) for e in edges] for name, edges in self.temps.items()},
            "temp_columns": self.temp_columns,
            "unresolved": self.unresolved,
            "warnings": self.warnings,
            "error": self.error,
        }


def _edge_dict(edge: Edge) -> dict[str, Any]:
    found: dict[str, Any] = {
        "source": edge.source,
        "target": edge.target,
        "columns": {to: sorted(froms) for to, froms in sorted(edge.columns.items())},
    }
    if edge.positions is not None:
        found["positions"] = edge.positions
    return found


TEMP = "a temporary table"
WRITES = (exp.Insert, exp.Create, exp.Merge, exp.Update, exp.Delete)


def analyze(
    sql: str, dialect: str, catalog: Catalog, database: str | None = None, schema: str | None = None
) -> dict[str, Any]:
    """Parse `sql` (one or several statements) and tell what it does, as plain data."""
    out = Analysis()
    try:
        statements = sqlglot.parse(sql, read=dialect)
    except SqlglotError as err:
        out.error = f"does not parse: {str(err).splitlines()[0][:200]}"
        return out.as_dict()
    for parsed in statements:
        try:
            statement = _as_write(parsed, dialect)
            if statement is None or isinstance(statement, exp.Command | exp.Set | exp.Use | exp.Transaction):
                continue
            for cte in statement.find_all(exp.CTE):
                _returned_rows(cte)
            _statement(statement, dialect, catalog, database, schema, out)
        except SqlglotError as err:
            out.warnings.append(f"not understood: {str(err).splitlines()[0][:200]}")
    return out.as_dict()


def _as_write(statement: exp.Expr | None, dialect: str) -> exp.Expr | None:
    """Statements that write a table in another form, as the CREATE or INSERT they amount to:
    `SELECT ... INTO [TEMP] t` (CREATE [TEMP] TABLE t AS SELECT), `CREATE TABLE t CLONE s`
    (CREATE TABLE t AS SELECT * FROM s), MySQL's `REPLACE INTO t ... SELECT` (an INSERT;
    sqlglot leaves it a Command)."""
    if isinstance(statement, exp.Select) and isinstance(into := statement.args.get("into"), exp.Into):
        query = statement.copy()
        query.set("into", None)
        properties = (
            exp.Properties(expressions=[exp.TemporaryProperty()]) if into.args.get("temporary") else None
        )
        return exp.Create(this=into.this.copy(), kind="TABLE", expression=query, properties=properties)
    if isinstance(statement, exp.Create) and isinstance(clone := statement.args.get("clone"), exp.Clone):
        source = clone.this.copy()
        source.set("when", None)  # AT / BEFORE: the same table, as it was
        return exp.Create(this=statement.this.copy(), kind="TABLE", expression=exp.select("*").from_(source))
    if (
        isinstance(statement, exp.Command)
        and str(statement.this).upper() == "REPLACE"
        and isinstance(statement.expression, exp.Literal)
    ):
        return sqlglot.parse_one(f"INSERT {statement.expression.this}", read=dialect)
    return statement


def _returned_rows(cte: exp.CTE) -> None:
    """A data-modifying CTE (`WITH moved AS (DELETE FROM t ... RETURNING *)`, PostgreSQL) as
    the rows it returns, `SELECT <returning> FROM t [WHERE ...]`, its table marked written:
    what the statement's lineage reads from it."""
    body = cte.this
    returning = body.args.get("returning") if isinstance(body, exp.Delete | exp.Update) else None
    table = body.this if returning is not None else None
    if not isinstance(table, exp.Table):
        return
    written = table.copy()
    written.meta["written"] = True
    rows = exp.select(*(e.copy() for e in returning.expressions)).from_(written)
    if body.args.get("where") is not None:
        rows.set("where", body.args["where"].copy())
    cte.set("this", rows)


def _statement(
    statement: exp.Expr,
    dialect: str,
    catalog: Catalog,
    database: str | None,
    schema: str | None,
    out: Analysis,
) -> None:
    """A name the catalog does not hold stands as `("", "", name)` in edges: it may be a
    temporary table of the session, which the caller knows and the parser does not."""
    ctes = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
    temp = isinstance(statement, exp.Create) and statement.find(exp.TemporaryProperty) is not None
    target_table = _target(statement)
    keys: dict[int, Key] = {}  # id(table node) -> key
    for table in statement.find_all(exp.Table):
        if not table.name or (not table.db and table.name.lower() in ctes):
            continue
        found = TEMP if table is target_table and temp else catalog.resolve(table, database, schema)
        if isinstance(found, str):
            if found is not TEMP:
                out.unresolved.setdefault(table.name, found)
            keys[id(table)] = ("", "", catalog.fold(table.name, _quoted(table)))
            continue
        keys[id(table)] = found
        (out.writes if table is target_table else out.reads).add(found)
        if table.meta.get("written"):  # read and written by a data-modifying CTE
            out.writes.add(found)
    _joins(statement, dialect, catalog, keys, out)
    query = _source_query(statement)
    if temp and query is None and target_table is not None:  # CREATE TEMP TABLE t (columns): filled later
        name = catalog.fold(target_table.name, _quoted(target_table))
        out.temps[name] = []
        schema = statement.this
        if isinstance(schema, exp.Schema):
            out.temp_columns[name] = [
                catalog.fold(c.name, _quoted(c)) for c in schema.expressions if isinstance(c, exp.ColumnDef)
            ]
    if query is None or target_table is None:
        return
    edges = _edges(statement, query, keys[id(target_table)], dialect, catalog, keys, out)
    if temp:
        out.temps[catalog.fold(target_table.name, _quoted(target_table))] = edges
    else:
        out.edges += edges


def _target(statement: exp.Expr) -> exp.Table | None:
    if not isinstance(statement, WRITES):
        return None
    this = statement.this
    if isinstance(this, exp.Schema):
        this = this.this
    return this if isinstance(this, exp.Table) else None


def _source_query(statement: exp.Expr) -> exp.Expr | None:
    """The query whose rows the statement writes (with the statement's CTEs), if any."""
    if isinstance(statement, exp.Insert | exp.Create):
        query = statement.expression
        if isinstance(query, exp.Subquery):  # `CREATE TABLE t AS (SELECT ...)`, as dbt writes it
            query = query.this
        if not isinstance(query, exp.Query):
            return None
        if statement.args.get("with_") and not query.args.get("with_"):
            query.set("with_", statement.args["with_"])  # the CTEs move with their table nodes
        return query
    if isinstance(statement, exp.Merge | exp.Update):
        return statement
    return None


def _aliases(statement: exp.Expr, keys: dict[int, Key]) -> dict[str, Key]:
    """Alias (or bare name) -> key, for the statement's resolved tables."""
    out: dict[str, Key] = {}
    for table in statement.find_all(exp.Table):
        key = keys.get(id(table))
        if key is not None:
            out[(table.alias or table.name).lower()] = key
    return out


def _joins(statement: exp.Expr, dialect: str, catalog: Catalog, keys: dict[int, Key], out: Analysis) -> None:
    """Column pairs compared with `=` in a JOIN's ON (or USING), across two tables; a CTE's
    column that is a table's column counts as that table's."""
    aliases: dict[str, Any] = dict(_aliases(statement, keys))
    for cte in statement.find_all(exp.CTE):
        select = cte.this if isinstance(cte.this, exp.Select) else None
        inner = _aliases(select, keys) if select is not None else {}
        passed = {}
        for projection in select.expressions if select is not None else []:
            value = projection.this if isinstance(projection, exp.Alias) else projection
            if isinstance(value, exp.Column) and (found := _column(value, inner, catalog)):
                passed[projection.alias_or_name.lower()] = found
        aliases[cte.alias_or_name.lower()] = passed
    for join in statement.find_all(exp.Join):
        on = join.args.get("on")
        if on is not None:
            for eq in on.find_all(exp.EQ):
                left, right = eq.this, eq.expression
                if isinstance(left, exp.Column) and isinstance(right, exp.Column):
                    a, b = _column(left, aliases, catalog), _column(right, aliases, catalog)
                    if a and b and a[0] and b[0] and a[:3] != b[:3]:  # neither a temporary table
                        out.joins.add((a, b) if a < b else (b, a))
        for name in join.args.get("using") or []:
            joined = keys.get(id(join.this)) if isinstance(join.this, exp.Table) else None
            select = join.parent_select
            first = select.args.get("from_") if select is not None else None
            base = first.this if first is not None else None
            left_key = keys.get(id(base)) if isinstance(base, exp.Table) else None
            if joined and left_key and joined[0] and left_key[0] and joined != left_key:
                a, b = (*left_key, name.name), (*joined, name.name)
                out.joins.add((a, b) if a < b else (b, a))


def _column(column: exp.Column, aliases: dict[str, Any], catalog: Catalog) -> Column | None:
    """The table column a column reference names (through a CTE's plain columns), if known."""
    key = aliases.get(column.table.lower()) if column.table else None
    if isinstance(key, dict):  # a CTE
        return key.get(column.name.lower())
    if key is None and not column.table:  # unqualified: the one table of the query having it
        having = [k for k in set(aliases.values()) if isinstance(k, tuple) and _has(catalog, k, column.name)]
        key = having[0] if len(having) == 1 else None
    if key is None:
        return None
    if not key[0]:  # a table the catalog lacks (a temporary one?): the column as written
        return (*key, catalog.fold(column.name, column.this.quoted))
    real = _real_column(catalog, key, column.this)
    return (*key, real) if real else None


def _has(catalog: Catalog, key: Key, name: str) -> bool:
    return any(c.lower() == name.lower() for c in catalog.columns.get(key, []))


def _real_column(catalog: Catalog, key: Key, ident: exp.Identifier) -> str | None:
    for real in catalog.columns.get(key, []):
        if catalog.matches(ident, real):
            return real
    return None


def _edges(
    statement: exp.Expr,
    query: exp.Expr,
    target: Key,
    dialect: str,
    catalog: Catalog,
    keys: dict[int, Key],
    out: Analysis,
) -> list[Edge]:
    """The statement's table-level edges (each source read into the target) with, where
    sqlglot can follow them, the source columns of each target column."""
    sources = {k for t, k in ((t, keys.get(id(t))) for t in query.find_all(exp.Table)) if k and k != target}
    edges = {source: Edge(source, target) for source in sorted(sources)}
    try:
        mappings = _column_lineage(statement, query, target, dialect, catalog, keys)
    except (SqlglotError, KeyError, ValueError, AttributeError) as err:  # columns only: tables stand
        out.warnings.append(f"column lineage not followed: {str(err).splitlines()[0][:200]}")
        mappings = []
    for to_column, source_columns in mappings:
        for column in source_columns:
            edge = edges.get(column[:3])
            if edge is not None:
                edge.columns.setdefault(to_column, set()).add(column)
    if isinstance(statement, exp.Insert) and not target[0] and not isinstance(statement.this, exp.Schema):
        for edge in edges.values():
            edge.positions = [catalog.fold(projection.alias_or_name) for projection in query.selects]
    return list(edges.values())


def _column_lineage(
    statement: exp.Expr,
    query: exp.Expr,
    target: Key,
    dialect: str,
    catalog: Catalog,
    keys: dict[int, Key],
) -> list[tuple[str, set[Column]]]:
    """(target column, source columns) pairs, traced through CTEs and subqueries."""
    if isinstance(statement, exp.Merge | exp.Update):
        return _assignments(statement, catalog, keys)
    schema: dict[str, Any] = {}
    for table in list(query.find_all(exp.Table)):  # the real, quoted names: no folding guesses
        key = keys.get(id(table))
        if key is None or not key[0]:  # a CTE's name, or a table the catalog lacks (a temp?)
            continue
        alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(table.name))
        table.set("catalog", exp.to_identifier(key[0], quoted=True))
        table.set("db", exp.to_identifier(key[1], quoted=True))
        table.set("this", exp.to_identifier(key[2], quoted=True))
        table.set("alias", alias)
        schema.setdefault(key[0], {}).setdefault(key[1], {})[key[2]] = dict.fromkeys(
            catalog.columns[key], "text"
        )
    _values_only(query)
    nodes = lineage(
        None,
        query,
        schema=MappingSchema(schema, dialect=dialect, normalize=False),
        dialect=dialect,
        copy=False,
    )
    names = _target_columns(statement, list(nodes), target, catalog)
    pairs = []
    for node, to_column in zip(nodes.values(), names, strict=False):
        froms: set[Column] = set()
        for leaf in node.walk():
            if leaf.downstream or not isinstance(leaf.source, exp.Table):
                continue
            key = (leaf.source.catalog, leaf.source.db, leaf.source.name)
            name = _last_part(leaf.name)
            real = _real_name(catalog.columns.get(key, []), name) if key[0] else catalog.fold(name)
            if not key[0]:
                key = ("", "", catalog.fold(key[2]))
            if real:
                froms.add((*key, real))
        if to_column and froms:
            pairs.append((to_column, froms))
    return pairs


LAST_PART = re.compile(r'(?:"((?:[^"]|"")*)"|`((?:[^`]|``)*)`|([^."`]+))$')


def _last_part(name: str) -> str:
    """The column of a lineage node's name (`alias."Col"`, `t.col`), its quotes taken off."""
    found = LAST_PART.search(name)
    if found is None:
        return name
    double, back, bare = found.groups()
    return (
        double.replace('""', '"')
        if double is not None
        else back.replace("``", "`")
        if back is not None
        else bare
    )


def _quoted(node: exp.Expr) -> bool:
    """Whether a name (an identifier, or a table, column or column definition's) is quoted."""
    ident = node if isinstance(node, exp.Identifier) else node.this
    return isinstance(ident, exp.Identifier) and bool(ident.quoted)


def _real_name(columns: list[str], name: str) -> str | None:
    return next((c for c in columns if c == name), None) or next(
        (c for c in columns if c.lower() == name.lower()), None
    )


def _derived(
    statement: exp.Expr, catalog: Catalog, keys: dict[int, Key]
) -> dict[str, dict[str, set[Column]]]:
    """The named subqueries and CTEs of an UPDATE or MERGE (`USING (SELECT ...) o`, `FROM
    (SELECT ...) s`): alias -> output column -> the table columns its value is made of (one
    level: their own tables' columns)."""
    out: dict[str, dict[str, set[Column]]] = {}
    for node in [*statement.find_all(exp.Subquery), *statement.find_all(exp.CTE)]:
        select = node.this
        if not node.alias or not isinstance(select, exp.Select):
            continue
        inner = _aliases(select, keys)
        out[node.alias.lower()] = {
            projection.alias_or_name.lower(): {
                c for c in (_column(col, inner, catalog) for col in projection.find_all(exp.Column)) if c
            }
            for projection in select.expressions
        }
    return out


def _values_only(query: exp.Expr) -> None:
    """Leave out of column lineage the columns that choose rows, not values: an aggregate's
    FILTER (WHERE ...), a window's PARTITION BY, and its ORDER BY where the function has
    columns of its own (`sum(x) OVER (ORDER BY d)` is x's; `row_number() OVER (ORDER BY d)`,
    having none, is d's), and the right side's copy of a USING column; a LATERAL subquery's
    columns read as a joined subquery's. Tables read are known already: this changes columns
    only."""
    for node in list(query.find_all(exp.Filter)):
        node.replace(node.this)
    for window in query.find_all(exp.Window):
        window.set("partition_by", None)
        if window.this.find(exp.Column) is not None:
            window.set("order", None)
    for select in query.find_all(exp.Select):
        _using_from_the_left(select)
    for lateral in list(query.find_all(exp.Lateral)):  # its columns, as a joined subquery's
        if isinstance(lateral.this, exp.Subquery) and lateral.args.get("alias") is not None:
            subquery = lateral.this.copy()
            subquery.set("alias", lateral.args["alias"].copy())
            lateral.replace(subquery)


def _using_from_the_left(select: exp.Select) -> None:
    """An unqualified column a JOIN ... USING names is the left table's (INNER and LEFT
    joins: the values are equal, or the right's missing), not one from each side."""
    first = select.args.get("from_")
    base = first.this if first is not None else None
    if not isinstance(base, exp.Table):
        return
    names: set[str] = set()
    for join in select.args.get("joins") or []:
        using = {u.name.lower() for u in join.args.get("using") or []}
        names = names - using if join.side in ("RIGHT", "FULL") else names | using
    for projection in select.expressions:
        for column in projection.find_all(exp.Column):
            if not column.table and column.name.lower() in names and column.parent_select is select:
                column.set("table", exp.to_identifier(base.alias_or_name))


def _target_columns(
    statement: exp.Expr, projections: list[str], target: Key, catalog: Catalog
) -> list[str | None]:
    """The target's column each projection lands in: the statement's column list, else
    the target's columns in order (INSERT), else the projections' own names (CREATE)."""
    this = statement.this
    known = target in catalog.columns
    if isinstance(this, exp.Schema) and this.expressions:
        listed = [c for c in this.expressions if isinstance(c, exp.Identifier | exp.Column)]
        if listed and known:
            return [_real_name(catalog.columns[target], c.name) or c.name for c in listed]
        if listed:  # a temporary table's: named as the dialect keeps them, as later queries name them
            return [catalog.fold(c.name, _quoted(c)) for c in listed]
    if isinstance(statement, exp.Insert) and known:
        return list(catalog.columns[target])
    if known:
        return [_real_name(catalog.columns[target], n) for n in projections]
    return [catalog.fold(n) for n in projections]


def _assignments(
    statement: exp.Expr, catalog: Catalog, keys: dict[int, Key]
) -> list[tuple[str, set[Column]]]:
    """UPDATE ... SET and MERGE's WHEN clauses: each target column from the columns of its value."""
    aliases = _aliases(statement, keys)
    target = keys.get(id(_target(statement)))
    columns = catalog.columns.get(target, []) if target else []
    pairs: list[tuple[str, set[Column]]] = []

    derived = _derived(statement, catalog, keys)

    def sources(col: exp.Column) -> set[Column]:
        if col.table and col.table.lower() in derived:  # a subquery's or CTE's column
            return derived[col.table.lower()].get(col.name.lower(), set())
        found = _column(col, aliases, catalog)
        return {found} if found else set()

    def add(to: exp.Expr, value: exp.Expr) -> None:
        real = _real_name(columns, to.name) if isinstance(to, exp.Column | exp.Identifier) else None
        froms = {c for col in value.find_all(exp.Column) for c in sources(col)}
        froms = {c for c in froms if c[:3] != target}
        if real and froms:
            pairs.append((real, froms))

    for node in statement.find_all(exp.Update, exp.Insert):
        if node is statement or node.parent_select is None:
            if isinstance(node, exp.Update):
                for eq in node.expressions:
                    if isinstance(eq, exp.EQ):
                        add(eq.this, eq.expression)
            elif isinstance(node.this, exp.Tuple) and isinstance(node.expression, exp.Tuple):
                for to, value in zip(node.this.expressions, node.expression.expressions, strict=False):
                    add(to, value)
    return pairs
