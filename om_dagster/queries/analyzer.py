"""Queries to analyses, shared by the `query-parser` processor and the lineage sources.

The service's tables (ids, columns, view definitions) come from OpenMetadata once (what the
metadata workflow put there), so a name resolves to a table the server knows or is a
warning. Queries that differ only in their literals (`parser.masked`) share one parse: the
last `CACHE` shapes are kept, so memory stays flat however long the log. Parses run in
worker processes (`pool.Parsers`), in order of the log; temporary tables a query made are
followed into the later queries of its session (the log's session, or its user and
database), so lineage runs from the tables they were filled from, columns included.
"""

from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from om_dagster.core.recipe import Recipe
from om_dagster.core.status import Status
from om_dagster.core.steps import StepError
from om_dagster.openmetadata.client import OpenMetadataClient, OpenMetadataError
from om_dagster.queries.parser import DIALECTS, Key, checksum, masked
from om_dagster.queries.pool import Parsers

CACHE = 20_000  # parsed query shapes kept
FIRST_CHARS = 80  # of a query, in its warnings
SESSIONS = 1_000  # sessions whose temporary tables are kept
Analysis = dict[str, Any]


@dataclass
class CatalogTable:
    id: str
    columns: list[str]
    view: str | None  # its definition, for a view


class QueryAnalyzer:
    """`analyses(queries)`: each query with what it does, its edges through temporary tables
    resolved; what could not be told is a warning on `status`."""

    def __init__(
        self, client: OpenMetadataClient, recipe: Recipe, status: Status, workers: int, timeout: float
    ):
        self.client, self.recipe, self.status = client, recipe, status
        self.workers, self.timeout = workers, timeout
        self.cache: OrderedDict[tuple[str, str | None, str | None], Analysis] = OrderedDict()
        # per session: its temporary tables' filling edges, and their columns as created
        self.temps: OrderedDict[str, tuple[dict[str, list[dict[str, Any]]], dict[str, list[str]]]] = (
            OrderedDict()
        )
        self.tables: dict[Key, CatalogTable] = {}
        self.dialect = ""
        self.parsers: Parsers | None = None

    def start(self) -> None:
        """Read the catalog and start the parse workers."""
        self.dialect = self._catalog()
        tables = [(key, table.columns) for key, table in self.tables.items()]
        self.parsers = Parsers(tables, self.dialect, self.workers, self.timeout)

    def _catalog(self) -> str:
        """The service's dialect; its tables into `self.tables`, as the server holds them."""
        name = self.recipe.service_name
        try:
            service = self.client.get_by_name("services/databaseServices", name)
            if service is None:
                raise StepError(
                    f"{self.recipe.path}: source.serviceName: OpenMetadata has no database service "
                    f"{name!r}: run the service's metadata recipe first"
                )
            for database in self.client.list("databases", {"service": service["fullyQualifiedName"]}):
                query = {"database": database["fullyQualifiedName"], "fields": "columns"}
                for table in self.client.list("tables", query):
                    key = (database["name"], table["databaseSchema"]["name"], table["name"])
                    columns = [c["name"] for c in table.get("columns") or []]
                    self.tables[key] = CatalogTable(table["id"], columns, table.get("schemaDefinition"))
        except OpenMetadataError as err:
            raise StepError(f"could not list the service's tables: {err}") from None
        connection = self.recipe.workflow.source.serviceConnection
        kind = (connection.config.get("type") if connection else None) or service.get("serviceType")
        if kind not in DIALECTS:
            raise StepError(
                f"{self.recipe.path}: source.serviceConnection.config.type: no SQL dialect known for "
                f"{kind!r} (known: {', '.join(sorted(DIALECTS))})"
            )
        return DIALECTS[kind]

    def analyses(self, queries: Iterable[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], Analysis]]:
        """Each query that parses, with its shape (`masked`, and its `checksum`) and its
        analysis (`edges` between the catalog's tables only, through the session's temporary
        tables); in the order given."""
        with ThreadPoolExecutor(self.workers, thread_name_prefix="query-parser") as pool:
            pending: deque[tuple[dict[str, Any], Future[Analysis] | Analysis]] = deque()
            for query in queries:
                shape = masked(query["query"])  # once a query: its cache key and its name
                query = query | {"masked": shape, "checksum": checksum(shape)}
                pending.append((query, self._submit(pool, query)))
                while len(pending) >= 4 * self.workers:
                    yield from self._done(*pending.popleft())
            while pending:
                yield from self._done(*pending.popleft())

    def _key(self, query: dict[str, Any]) -> tuple[str, str | None, str | None]:
        return query["checksum"], query.get("database"), query.get("schema")

    def _submit(self, pool: ThreadPoolExecutor, query: dict[str, Any]) -> "Future[Analysis] | Analysis":
        key = self._key(query)
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        assert self.parsers is not None, "start() first"
        return pool.submit(self.parsers.parse, query["query"], query.get("database"), query.get("schema"))

    def _done(
        self, query: dict[str, Any], parsed: "Future[Analysis] | Analysis"
    ) -> Iterator[tuple[dict, Analysis]]:
        if not isinstance(parsed, dict):
            parsed = parsed.result()
            self.cache[self._key(query)] = parsed
            if len(self.cache) > CACHE:
                self.cache.popitem(last=False)
        name = " ".join(query["query"][:FIRST_CHARS].split())
        if parsed.get("error"):
            self.status.warning(name, parsed["error"])
            return
        for warning in parsed.get("warnings", []):
            self.status.warning(name, warning)
        yield query, parsed | {"edges": self._through_temps(query, parsed, name)}

    def _through_temps(self, query: dict[str, Any], parsed: Analysis, name: str) -> list[dict[str, Any]]:
        """The query's edges between the catalog's tables. A table the catalog lacks may be a
        temporary table of the query's session: an edge from it becomes edges from the
        tables it was filled from (its columns mapped through), an edge into it is kept for
        the session's later queries; otherwise the name is a warning."""
        session = query.get("session") or f"{query.get('user')}@{query.get('database')}"
        temps, declared = self.temps.setdefault(session, ({}, {}))
        self.temps.move_to_end(session)
        if len(self.temps) > SESSIONS:
            self.temps.popitem(last=False)
        out = follow_temps(parsed, temps, declared)
        for table, why in parsed.get("unresolved", {}).items():
            if table not in temps:
                self.status.warning(name, why)
        return out

    def close(self) -> None:
        if self.parsers is not None:
            self.parsers.close()


def follow_temps(
    parsed: Analysis, temps: dict[str, list[dict[str, Any]]], declared: dict[str, list[str]]
) -> list[dict[str, Any]]:
    """A query's edges between the catalog's tables, the session's `temps` (temporary table ->
    the edges that filled it) and `declared` (temporary table -> its columns, as created)
    updated with what the query made or filled."""
    for temp, edges in parsed.get("temps", {}).items():
        temps[temp] = [e for edge in edges for e in through(edge, temps)]
        declared.pop(temp, None)
    declared |= parsed.get("temp_columns", {})
    out = []
    for edge in parsed["edges"]:
        target = edge["target"]
        if not target[0]:
            if target[2] in temps:
                temps[target[2]] += through(by_position(edge, declared.get(target[2])), temps)
            continue  # a table the catalog lacks, no temp of the session: the caller warns
        out += through(edge, temps)
    return out


def by_position(edge: dict[str, Any], columns: list[str] | None) -> dict[str, Any]:
    """An INSERT without a column list into a temporary table created with its columns: each
    projection lands in the column at its position, whatever its own name."""
    positions = edge.get("positions")
    if not positions or not columns:
        return edge
    named = dict(zip(positions, columns, strict=False))
    return edge | {"columns": {named.get(to, to): froms for to, froms in edge["columns"].items()}}


def through(edge: dict[str, Any], temps: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """`edge` with a temporary source replaced by the edges that filled it, column by column;
    an unknown source (no temp of the session) gives nothing."""
    source = edge["source"]
    if source[0]:
        return [edge]
    out = []
    for filled in temps.get(source[2], []):
        columns: dict[str, list[Any]] = {}
        for to, froms in edge["columns"].items():
            found = {tuple(c) for f in froms for c in filled["columns"].get(f[3], [])}
            if found:
                columns[to] = sorted(found)
        out.append({"source": filled["source"], "target": edge["target"], "columns": columns})
    return out
