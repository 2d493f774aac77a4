"""Lineage recipes' sources (`DatabaseLineage`): table and column lineage from the service's
views (`processViewLineage`: their definitions, as the metadata workflow stored them) and
from its queries (`processQueryLineage`: a query source's records), for `metadata-rest`.

Each edge is sent once a run, its column mappings the union of every query's (the sink
merges them with what the server holds). Edges are kept until the end of the run: their
number is bounded by the catalog's pairs of tables, not by the log, which is streamed.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from om_dagster.core.recipe import Recipe
from om_dagster.core.steps import Kind, Record, Result, Source, StepError
from om_dagster.openmetadata import fqn
from om_dagster.openmetadata.client import OpenMetadataClient
from om_dagster.queries.analyzer import QueryAnalyzer
from om_dagster.queries.config import LineageConfig, query_config
from om_dagster.queries.log import QueryLogSource
from om_dagster.queries.mysql import MysqlQueryLog
from om_dagster.queries.parser import Key
from om_dagster.queries.postgres import PostgresQueryLog
from om_dagster.queries.snowflake import SnowflakeQueryLog
from om_dagster.sources.database import filtered_out

WORKERS = 2  # parse processes


@dataclass
class Edge:
    query: str
    source: str  # QueryLineage | ViewLineage
    columns: dict[str, set[tuple[str, ...]]] = field(default_factory=dict)


class LineageSource(Source):
    """Edges from views and queries; `reader` is the query source whose records it reads."""

    reader: ClassVar[type[Source]]
    needs_server = True

    def __init__(self, config: dict[str, Any], metadata: OpenMetadataClient | None, recipe: Recipe) -> None:
        super().__init__(config, metadata, recipe)
        if metadata is None:
            raise StepError("lineage resolves names against OpenMetadata's tables: it needs the server")
        cfg = query_config(recipe)
        assert isinstance(cfg, LineageConfig)
        self.cfg = cfg
        self.queries = self.reader(config, metadata, recipe)  # may read the connection from the server
        self.status.secrets = recipe.secrets
        self.queries.status = self.status  # its reads and failures are this step's
        self.analyzer = QueryAnalyzer(metadata, recipe, self.status, WORKERS, float(cfg.parsingTimeoutLimit))
        self.edges: dict[tuple[Key, Key], Edge] = {}
        self.filtered: dict[tuple[str, ...], bool] = {}

    @classmethod
    def check(cls, recipe: Recipe) -> list[str]:
        return cls.reader.check(recipe)

    def iter_results(self) -> Iterator[Result]:
        self.analyzer.start()
        if self.cfg.processViewLineage:
            self._add(self.analyzer.analyses(self._views()), "ViewLineage")
        if self.cfg.processQueryLineage:
            queries = (r.body for r in self.queries.run() if r.kind == Kind.QUERY)
            self._add(self.analyzer.analyses(queries), "QueryLineage")
        for (source, target), edge in sorted(self.edges.items()):
            yield self._record(source, target, edge)

    def _views(self) -> Iterator[dict[str, Any]]:
        for key, table in self.analyzer.tables.items():
            if table.view:
                yield {"query": table.view, "database": key[0], "schema": key[1], "view": True}

    def _add(self, analyses: Iterator[tuple[dict[str, Any], dict[str, Any]]], kind: str) -> None:
        for query, parsed in analyses:
            for found in parsed["edges"]:
                source, target = tuple(found["source"]), tuple(found["target"])
                if self._filtered(source) or self._filtered(target) or source == target:
                    continue
                edge = self.edges.setdefault((source, target), Edge(query["masked"], kind))
                for to, froms in found["columns"].items():
                    edge.columns.setdefault(to, set()).update(tuple(f) for f in froms)

    def _filtered(self, key: tuple[str, ...]) -> bool:
        """Whether the filter patterns leave the table out (counted once a table)."""
        if key not in self.filtered:
            cfg = self.cfg
            self.filtered[key] = (
                filtered_out(cfg.databaseFilterPattern, key[0])
                or filtered_out(cfg.schemaFilterPattern, key[1])
                or filtered_out(cfg.tableFilterPattern, key[2])
            )
            if self.filtered[key]:
                self.status.filter(fqn.build(self.recipe.service_name, *key), "Table Filtered Out (lineage)")
        return self.filtered[key]

    def _record(self, source: Key, target: Key, edge: Edge) -> Record:
        service = self.recipe.service_name
        columns = [
            {
                "fromColumns": sorted(fqn.build(service, *c) for c in froms),
                "toColumn": fqn.build(service, *target, to),
            }
            for to, froms in sorted(edge.columns.items())
        ]
        return Record(
            Kind.LINEAGE,
            {
                "from": {"id": self.analyzer.tables[source].id, "fqn": fqn.build(service, *source)},
                "to": {"id": self.analyzer.tables[target].id, "fqn": fqn.build(service, *target)},
                "columns": columns,
                "sqlQuery": edge.query,
                "source": edge.source,
            },
        )

    def close(self) -> None:
        self.analyzer.close()


class QueryLogLineageSource(LineageSource):
    type_name = "query-log-lineage"
    reader = QueryLogSource


class MysqlLineageSource(LineageSource):
    type_name = "mysql-lineage"
    reader = MysqlQueryLog


class PostgresLineageSource(LineageSource):
    """Table and column lineage from the views and from pg_stat_statements' statements."""

    type_name = "postgres-lineage"
    reader = PostgresQueryLog


class SnowflakeLineageSource(LineageSource):
    """Table and column lineage from the views and from the account's query history."""

    type_name = "snowflake-lineage"
    reader = SnowflakeQueryLog
