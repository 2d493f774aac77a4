"""`query-parser`: each query of a usage recipe's source, parsed (`analyzer.QueryAnalyzer`),
passed on with the tables it read and wrote, its joins and its lineage."""

from collections.abc import Iterable, Iterator
from typing import Any

from om_dagster.core.recipe import Recipe
from om_dagster.core.steps import Kind, Processor, Record, StepError
from om_dagster.openmetadata.client import OpenMetadataClient
from om_dagster.queries.analyzer import QueryAnalyzer
from om_dagster.queries.config import LineageConfig, query_config

# the schema's default for `parsingTimeoutLimit`, which only lineage recipes can set
PARSING_TIMEOUT = 300


class QueryParserProcessor(Processor):
    type_name = "query-parser"
    needs_server = True

    def __init__(self, config: dict[str, Any], metadata: OpenMetadataClient | None, recipe: Recipe) -> None:
        super().__init__(config, metadata, recipe)
        if metadata is None:
            raise StepError("query-parser resolves names against OpenMetadata's tables: it needs the server")
        source_config = query_config(recipe)
        timeout = (
            source_config.parsingTimeoutLimit if isinstance(source_config, LineageConfig) else PARSING_TIMEOUT
        )
        workers = max(1, int(config.get("threads") or 2))
        self.analyzer = QueryAnalyzer(metadata, recipe, self.status, workers, float(timeout))

    def run(self, records: Iterable[Record]) -> Iterator[Record]:
        self.analyzer.start()
        queries = (r.body for r in records if r.kind == Kind.QUERY)
        for query, parsed in self.analyzer.analyses(queries):
            self.status.scanned()
            yield Record(
                Kind.PARSED_QUERY,
                query
                | {
                    "reads": parsed["reads"],
                    "writes": parsed["writes"],
                    "joins": parsed["joins"],
                    "edges": parsed["edges"],
                },
            )

    def close(self) -> None:
        self.analyzer.close()
