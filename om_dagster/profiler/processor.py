"""`orm-profiler`: each table the source lists, profiled by its database, several at once.

Tables are profiled on a bounded pool (`threadCount`, default 4), one engine per database
of the service with a connection per worker; results keep the source's order, and at most
twice the pool's size of tables are in flight, so memory does not grow with the catalog.
"""

import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from om_dagster.core.recipe import Recipe, field_warnings, parse_model
from om_dagster.core.steps import Failure, Kind, Processor, Record, Result, StepError
from om_dagster.openmetadata.client import OpenMetadataClient
from om_dagster.profiler.config import OrmProfilerConfig, table_settings
from om_dagster.profiler.dialects import StatementTimeout, dialect_for
from om_dagster.profiler.source import ProfilerSource, parse_config
from om_dagster.profiler.table import TableProfiler
from om_dagster.sources.database import DatabaseSource

CONFIG = "processor.config"
DEFAULT_THREADS = 4


class OrmProfilerProcessor(Processor):
    type_name = "orm-profiler"

    def __init__(self, config: dict[str, Any], metadata: OpenMetadataClient | None, recipe: Recipe) -> None:
        super().__init__(config, metadata, recipe)
        self.processor_config = parse_model(OrmProfilerConfig, config, recipe.path, CONFIG)
        self.source_config = parse_config(recipe)
        self.tables = {t.fullyQualifiedName: t for t in self.processor_config.tableConfig}
        source = recipe.steps["source"]
        assert issubclass(source, ProfilerSource)  # `check` refused any other
        self.connector: DatabaseSource = source.dialect.connector(recipe)  # type: ignore[assignment]
        self.engines: dict[str, Engine] = {}
        self.lock = threading.Lock()
        self.threads = self.source_config.threadCount or DEFAULT_THREADS

    @classmethod
    def check(cls, recipe: Recipe) -> list[str]:
        source = recipe.steps.get("source")
        if not (isinstance(source, type) and issubclass(source, ProfilerSource)):
            raise recipe.error(
                "processor.type",
                "orm-profiler profiles the tables of a Profiler recipe: set "
                "source.sourceConfig.config.type: Profiler",
            )
        config = parse_model(OrmProfilerConfig, recipe.workflow.processor.config or {}, recipe.path, CONFIG)
        return field_warnings(recipe.path, config, CONFIG)

    def _engine(self, database: str) -> Engine:
        with self.lock:
            if database not in self.engines:
                self.engines[database] = self.connector.engine_for(database)
            return self.engines[database]

    def run(self, records: Iterable[Record]) -> Iterator[Record]:
        with ThreadPoolExecutor(self.threads, thread_name_prefix="profiler") as pool:
            pending: deque[tuple[Record, Future[Result]]] = deque()
            for record in records:
                if record.kind != Kind.TABLE_ENTITY:
                    yield record
                    continue
                pending.append((record, pool.submit(self.process, record)))
                while len(pending) >= 2 * self.threads:
                    yield from self._collect(*pending.popleft())
            while pending:
                yield from self._collect(*pending.popleft())

    def _collect(self, record: Record, future: "Future[Result]") -> Iterator[Record]:
        result = future.result()
        if isinstance(result, Failure):
            self.status.failed(result.name, result.reason)
            return
        self.status.scanned()
        yield result

    def process(self, record: Record) -> Result:
        """One table's profile record, or its failure (run on the pool)."""
        table = record.body
        settings = table_settings(
            self.source_config, table.get("tableProfilerConfig"), self.tables.get(table["fqn"])
        )
        try:
            engine = self._engine(table["database"])
            with engine.connect() as conn:
                profiler = TableProfiler(conn, dialect_for(engine), settings)
                result = profiler.profile(
                    table["schema"], table["name"], table["columns"], int(time.time() * 1000)
                )
        except StatementTimeout as err:
            return Failure(table["fqn"], f"profile not computed: {err}")
        except (SQLAlchemyError, StepError) as err:
            return Failure(table["fqn"], f"profile not computed: {_first_line(err)}")
        for warning in result.warnings:
            self.status.warning(table["fqn"], warning)
        return Record(
            Kind.TABLE_PROFILE,
            {"id": table["id"], "fqn": table["fqn"], "statements": result.statements, "profile": result.body},
        )

    def close(self) -> None:
        for engine in self.engines.values():
            engine.dispose()


def _first_line(err: Exception) -> str:
    text = str(getattr(err, "orig", None) or err)
    return text.strip().splitlines()[0] if text.strip() else type(err).__name__
