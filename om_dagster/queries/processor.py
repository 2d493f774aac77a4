"""`query-parser`: each query parsed once per shape, its names resolved against the catalog.

The service's tables and columns come from OpenMetadata once (what the metadata workflow
put there), so a name resolves to a table the server knows or is a warning. Queries that
differ only in their literals (`parser.masked`) share one parse: the last `CACHE` shapes
are kept, so memory stays flat however long the log. Parses run in worker processes
(`pool.Parsers`), as many as `threads` allows, in order of the log; temporary tables a
query made are followed into the later queries of its session (the log's session, or its
user and database), so lineage runs from the tables they were filled from, columns included.
"""

from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from om_dagster.core.recipe import Recipe
from om_dagster.core.steps import Kind, Processor, Record, StepError
from om_dagster.openmetadata.client import OpenMetadataClient, OpenMetadataError
from om_dagster.queries.config import LineageConfig, query_config
from om_dagster.queries.parser import DEFAULT_SCHEMA, DIALECTS, Key, fingerprint, masked
from om_dagster.queries.pool import Parsers

CACHE = 20_000  # parsed query shapes kept
FIRST_CHARS = 80  # of a query, in its warnings
SESSIONS = 1_000  # sessions whose temporary tables are kept


class QueryParserProcessor(Processor):
    type_name = "query-parser"
    needs_server = True

    def __init__(self, config: dict[str, Any], metadata: OpenMetadataClient | None, recipe: Recipe) -> None:
        super().__init__(config, metadata, recipe)
        if metadata is None:
            raise StepError("query-parser resolves names against OpenMetadata's tables: it needs the server")
        self.client = metadata
        self.source_config = query_config(recipe)
        self.service = recipe.service_name
        self.cache: OrderedDict[tuple[str, str | None, str | None], dict[str, Any]] = OrderedDict()
        self.temps: OrderedDict[str, dict[str, list[dict[str, Any]]]] = OrderedDict()
        self.parsers: Parsers | None = None

    # --- the catalog --------------------------------------------------------------------

    def _catalog(self) -> tuple[str, list[tuple[Key, list[str]]]]:
        """The service's dialect and its tables with their columns, as the server holds them."""
        try:
            service = self.client.get_by_name("services/databaseServices", self.service)
            if service is None:
                raise StepError(
                    f"{self.recipe.path}: source.serviceName: OpenMetadata has no database service "
                    f"{self.service!r}: run the service's metadata recipe first"
                )
            tables = []
            for database in self.client.list("databases", {"service": service["fullyQualifiedName"]}):
                query = {"database": database["fullyQualifiedName"], "fields": "columns"}
                for table in self.client.list("tables", query):
                    key = (database["name"], table["databaseSchema"]["name"], table["name"])
                    tables.append((key, [c["name"] for c in table.get("columns") or []]))
        except OpenMetadataError as err:
            raise StepError(f"could not list the service's tables: {err}") from None
        connection = self.recipe.workflow.source.serviceConnection
        kind = (connection.config.get("type") if connection else None) or service.get("serviceType")
        if kind not in DIALECTS:
            raise StepError(
                f"{self.recipe.path}: source.serviceConnection.config.type: no SQL dialect known for "
                f"{kind!r} (known: {', '.join(sorted(DIALECTS))})"
            )
        return DIALECTS[kind], tables

    # --- the run --------------------------------------------------------------------------

    def run(self, records: Iterable[Record]) -> Iterator[Record]:
        dialect, tables = self._catalog()
        self.default_schema = DEFAULT_SCHEMA.get(dialect)
        timeout = (
            self.source_config.parsingTimeoutLimit if isinstance(self.source_config, LineageConfig) else 300
        )
        workers = max(1, int(self.config.get("threads") or 2))
        self.parsers = Parsers(tables, dialect, workers, float(timeout))
        with ThreadPoolExecutor(workers, thread_name_prefix="query-parser") as pool:
            pending: deque[tuple[Record, Future[dict[str, Any]] | dict[str, Any]]] = deque()
            for record in records:
                if record.kind != Kind.QUERY:
                    yield record
                    continue
                pending.append((record, self._submit(pool, record.body)))
                while len(pending) >= 4 * workers:
                    yield from self._emit(*pending.popleft())
            while pending:
                yield from self._emit(*pending.popleft())

    def _key(self, query: dict[str, Any]) -> tuple[str, str | None, str | None]:
        return fingerprint(query["query"]), query.get("database"), query.get("schema")

    def _submit(
        self, pool: ThreadPoolExecutor, query: dict[str, Any]
    ) -> "Future[dict[str, Any]] | dict[str, Any]":
        key = self._key(query)
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        assert self.parsers is not None
        return pool.submit(self.parsers.parse, query["query"], query.get("database"), query.get("schema"))

    def _emit(self, record: Record, parsed: "Future[dict[str, Any]] | dict[str, Any]") -> Iterator[Record]:
        query = record.body
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
        edges = self._through_temps(query, parsed, name)
        self.status.scanned()
        yield Record(
            Kind.PARSED_QUERY,
            {
                **{k: v for k, v in query.items() if k != "query"},
                "query": query["query"],
                "checksum": fingerprint(query["query"]),
                "masked": masked(query["query"]),
                "reads": parsed["reads"],
                "writes": parsed["writes"],
                "joins": parsed["joins"],
                "edges": edges,
            },
        )

    def _through_temps(
        self, query: dict[str, Any], parsed: dict[str, Any], name: str
    ) -> list[dict[str, Any]]:
        """The query's edges between the catalog's tables. A table the catalog lacks may be a
        temporary table of the query's session: an edge from it becomes edges from the
        tables it was filled from (its columns mapped through), an edge into it is kept for
        the session's later queries; otherwise the name is a warning."""
        session = query.get("session") or f"{query.get('user')}@{query.get('database')}"
        temps = self.temps.setdefault(session, {})
        self.temps.move_to_end(session)
        if len(self.temps) > SESSIONS:
            self.temps.popitem(last=False)
        unresolved = parsed.get("unresolved", {})
        out = []
        for temp, edges in parsed.get("temps", {}).items():
            temps[temp] = [e for edge in edges for e in through(edge, temps)]
        for edge in parsed["edges"]:
            target = edge["target"]
            if not target[0]:
                if target[2] in temps:
                    temps[target[2]] += through(edge, temps)
                continue  # its warning below
            out += through(edge, temps)
        for table, why in unresolved.items():
            if table not in temps:
                self.status.warning(name, why)
        return out

    def close(self) -> None:
        if self.parsers is not None:
            self.parsers.close()


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
