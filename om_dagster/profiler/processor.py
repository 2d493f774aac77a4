"""`orm-profiler`: each table the source lists, profiled by its database, several at once.

Tables are profiled on a bounded pool (`threadCount`, default 4), one engine per database
of the service with a connection per worker; results keep the source's order, and at most
twice the pool's size of tables are in flight, so memory does not grow with the catalog.
A table's statements run on a second pool of the same size, each on a connection of its
own (SQLite: in a worker process of its own), so one wide table keeps every core busy too.
"""

import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from om_dagster.core.recipe import Recipe, field_warnings, parse_model
from om_dagster.core.steps import Failure, Kind, Processor, Record, Result, StepError, first_line
from om_dagster.openmetadata.client import OpenMetadataClient
from om_dagster.profiler.config import OrmProfilerConfig, table_settings
from om_dagster.profiler.dialects import StatementTimeout, dialect_for
from om_dagster.profiler.passes import Connections, SqliteProcesses, Statements
from om_dagster.profiler.source import ProfilerSource, parse_config
from om_dagster.profiler.table import TableProfiler
from om_dagster.quality.runner import recipe_case, run_on
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
        self.passes: dict[str, Statements] = {}
        self.lock = threading.Lock()
        self.threads = self.source_config.threadCount or DEFAULT_THREADS
        self.pass_pool = ThreadPoolExecutor(self.threads, thread_name_prefix="profiler-pass")
        legacy = self.processor_config.legacyTestSuite
        self.legacy_cases = legacy.cases() if legacy else {}

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
        if config.legacyTestSuite is not None:
            try:
                config.legacyTestSuite.cases()
            except ValueError as err:
                raise recipe.error(f"{CONFIG}.test_suite", str(err)) from None
        return field_warnings(recipe.path, config, CONFIG)

    def _engine(self, database: str) -> Engine:
        with self.lock:
            if database not in self.engines:
                engine = self.connector.engine_for(database)
                event.listen(engine, "connect", dialect_for(engine).prepare)
                self.engines[database] = engine
                runner = SqliteProcesses if SqliteProcesses.serves(engine) else Connections
                self.passes[database] = runner(engine, self.pass_pool, self.threads)
            return self.engines[database]

    def run(self, records: Iterable[Record]) -> Iterator[Record]:
        with ThreadPoolExecutor(self.threads, thread_name_prefix="profiler") as pool:
            pending: deque[tuple[Record, Future[list[Result]]]] = deque()
            for record in records:
                if record.kind != Kind.TABLE_ENTITY:
                    yield record
                    continue
                pending.append((record, pool.submit(self._table, record)))
                while len(pending) >= 2 * self.threads:
                    yield from self._collect(*pending.popleft())
            while pending:
                yield from self._collect(*pending.popleft())

    def _collect(self, record: Record, future: "Future[list[Result]]") -> Iterator[Record]:
        for result in future.result():
            if isinstance(result, Failure):
                self.status.failed(result.name, result.reason)
                continue
            self.status.scanned()
            yield result

    def _table(self, record: Record) -> list[Result]:
        """One table's profile record, or its failure, then the results of the seed
        documents' tests for it (run on the pool)."""
        table = record.body
        own = self.tables.get(table["fqn"])
        settings = table_settings(self.source_config, table.get("tableProfilerConfig"), own)
        tests = [recipe_case(table["fqn"], case) for case in self.legacy_cases.get(table["fqn"], [])]
        tested: list[Result] = []
        try:
            engine = self._engine(table["database"])
            with engine.connect() as conn:
                dialect = dialect_for(engine)
                now_ms = int(time.time() * 1000)
                passes = self.passes[table["database"]]
                result = TableProfiler(conn, dialect, settings, passes).profile(
                    table["schema"], table["name"], table["columns"], now_ms
                )
                if tests:
                    tested.append(run_on(conn, dialect, table, tests))
        except StatementTimeout as err:
            return [Failure(table["fqn"], f"profile not computed: {err}")]
        except (SQLAlchemyError, StepError) as err:
            return [Failure(table["fqn"], f"profile not computed: {first_line(err)}")]
        for warning in result.warnings:
            self.status.warning(table["fqn"], warning)
        profile = Record(
            Kind.TABLE_PROFILE,
            {"id": table["id"], "fqn": table["fqn"], "statements": result.statements, "profile": result.body},
        )
        return [profile, *tested]

    def close(self) -> None:
        self.pass_pool.shutdown(cancel_futures=True)
        for passes in self.passes.values():
            passes.close()
        for engine in self.engines.values():
            engine.dispose()
