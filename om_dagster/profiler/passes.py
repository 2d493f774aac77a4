"""Where a table's statements run, within its time budget.

On the connection holding a sample's temporary table, one after another (`OneConnection`);
else at once: on connections of a shared pool (`Connections`), or, for a SQLite file, in
worker processes (`SqliteProcesses`): one process's SQLite connections take turns on the
library's locks, so two `GROUP BY`s on two threads took as long as one after the other,
and half as long in two processes.
"""

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from queue import Empty, SimpleQueue
from typing import IO, Any, Protocol, TypeVar
from urllib.parse import quote

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from om_dagster.profiler import sqlite_worker
from om_dagster.profiler.dialects import Dialect, StatementTimeout

T = TypeVar("T")


class Budget:
    """A table's `timeoutSeconds`, shared by its statements wherever they run; it also
    counts them."""

    def __init__(self, dialect: Dialect, seconds: float) -> None:
        self.dialect, self.seconds = dialect, seconds
        self.deadline = time.monotonic() + seconds
        self.statements = 0
        self.lock = threading.Lock()

    def take(self, limit: float | None = None) -> float:
        """Seconds a statement starting now may run (at most `limit`); it is counted."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise StatementTimeout(f"no time left of its {self.seconds:g} s budget")
        with self.lock:
            self.statements += 1
        return min(left, limit or left)

    def cancelled(self) -> StatementTimeout:
        return StatementTimeout(
            f"the database cancelled it at the {self.seconds:g} s budget (timeoutSeconds)"
        )

    def run(self, conn: Connection, statement: Any, limit: float | None = None) -> list[Any]:
        """Run a statement (or a function issuing one) on `conn`, the database cancelling it
        past its time."""
        seconds = self.take(limit)
        try:
            with self.dialect.timeout(conn, seconds):
                if callable(statement):
                    statement()
                    return []
                return list(conn.execute(statement).all())
        except DBAPIError as err:
            if self.dialect.timed_out(err):
                raise self.cancelled() from None
            raise


class Statements(Protocol):
    """Runs a table's statements, handing back their rows as futures."""

    width: int  # statements it runs at once
    wide_only: bool  # worth its round trips for a wide table only

    def submit(self, statement: Any, budget: Budget) -> "Future[list[Any]]": ...

    def close(self) -> None: ...


class OneConnection:
    """One after another on one connection (the one holding a sample)."""

    width = 1
    wide_only = False

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def submit(self, statement: Any, budget: Budget) -> "Future[list[Any]]":
        done: Future[list[Any]] = Future()
        try:
            done.set_result(budget.run(self.conn, statement))
        except BaseException as err:  # handed to whoever reads the result, as a pool would
            done.set_exception(err)
        return done

    def close(self) -> None:
        """The connection is its owner's to close."""


class Connections:
    """At once, each on a connection of its own from `engine`. The pool is the processor's,
    shared by every table: its size bounds the statements in flight."""

    wide_only = False

    def __init__(self, engine: Engine, pool: ThreadPoolExecutor, width: int) -> None:
        self.engine, self.pool, self.width = engine, pool, width

    def submit(self, statement: Any, budget: Budget) -> "Future[list[Any]]":
        def run() -> list[Any]:
            with self.engine.connect() as conn:
                return budget.run(conn, statement)

        return self.pool.submit(run)

    def close(self) -> None:
        """The connections are the engine's, disposed with it."""


class WorkerError(Exception):
    """A statement a worker process could not run, in SQLite's words."""


class SqliteProcesses:
    """At once, each in a worker process (`sqlite_worker.py`, run as a script: it imports
    nothing of om-dagster) holding a read-only connection to the file. Workers start on
    first use, up to `width`, and stop with `close`. A narrow table's passes stay on its own
    connection: a worker's round trips cost more than they do."""

    wide_only = True

    def __init__(self, engine: Engine, pool: ThreadPoolExecutor, width: int) -> None:
        self.engine, self.pool, self.width = engine, pool, width
        database = str(engine.url.database)
        self.uri = (
            database if database.startswith("file:") else f"file:{quote(str(Path(database).resolve()))}"
        )
        self.idle: SimpleQueue[subprocess.Popen[str]] = SimpleQueue()
        self.started: list[subprocess.Popen[str]] = []
        self.lock = threading.Lock()

    @staticmethod
    def serves(engine: Engine) -> bool:
        """A SQLite database in a file (an in-memory one lives in its process only)."""
        database = str(engine.url.database or "")
        in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
        return engine.dialect.name == "sqlite" and not in_memory and engine.url.query.get("mode") != "memory"

    def submit(self, statement: Any, budget: Budget) -> "Future[list[Any]]":
        compiled = statement.compile(dialect=self.engine.dialect, compile_kwargs={"render_postcompile": True})
        params = [compiled.params[name] for name in compiled.positiontup or ()]
        return self.pool.submit(self._ask, str(compiled), params, budget)

    def _ask(self, sql: str, params: list[Any], budget: Budget) -> list[Any]:
        seconds = budget.take()
        worker = self._worker()
        try:
            assert worker.stdin is not None and worker.stdout is not None
            worker.stdin.write(json.dumps({"sql": sql, "params": params, "seconds": seconds}) + "\n")
            worker.stdin.flush()
            answer = _read(worker.stdout)
        except BaseException:
            worker.kill()  # a worker left mid-statement is not handed on
            raise
        self.idle.put(worker)
        if "error" in answer:
            if answer.get("interrupted"):
                raise budget.cancelled()
            raise WorkerError(answer["error"])
        return [tuple(row) for row in answer["rows"]]

    def _worker(self) -> "subprocess.Popen[str]":
        try:
            return self.idle.get_nowait()
        except Empty:
            pass
        with self.lock:
            if len(self.started) < self.width:
                worker = subprocess.Popen(
                    [sys.executable, "-I", sqlite_worker.__file__, self.uri],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                self.started.append(worker)
                return worker
        return self.idle.get()

    def close(self) -> None:
        for worker in self.started:
            if worker.stdin is not None:
                worker.stdin.close()  # the worker ends at the end of its input
            try:
                worker.wait(timeout=5)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def _read(stream: IO[str]) -> dict[str, Any]:
    line = stream.readline()
    if not line:
        raise WorkerError("the SQLite worker process ended")
    return json.loads(line)


def gather(futures: Iterable["Future[T]"]) -> list[T]:
    """Every result, or the first error once the statements not yet started are dropped."""
    pending = list(futures)
    try:
        return [f.result() for f in pending]
    except BaseException:
        settle(pending)
        raise


def settle(futures: Iterable["Future[Any]"]) -> None:
    """Drop what has not started, and wait for the rest to end, whatever their outcome."""
    pending = [f for f in futures if not f.cancel()]
    for future in pending:
        future.exception()
