"""Queries parsed in worker processes, each parse under a real deadline.

A parse that outlives `parsingTimeoutLimit` is stopped by killing its worker (a thread
cannot be stopped, and signals reach only the main thread: the official client's limit
never fires in its lineage threads); a fresh worker takes its place and the query is a
warning. Workers get the service's catalog once, at start, then a query per request.
"""

import logging
import multiprocessing
import queue
import threading
from multiprocessing.connection import Connection
from typing import Any

from om_dagster.queries.parser import Catalog, Key, analyze

CONTEXT = multiprocessing.get_context("spawn")  # no fork of a threaded parent


def _serve(conn: Connection, tables: list[tuple[Key, list[str]]], dialect: str) -> None:
    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # its fallbacks are ours to report
    catalog = Catalog(tables, dialect)
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        sql, database, schema = request
        try:
            conn.send(analyze(sql, dialect, catalog, database, schema))
        except RecursionError:
            conn.send({"error": "too deeply nested to parse"})


class Worker:
    def __init__(self, tables: list[tuple[Key, list[str]]], dialect: str) -> None:
        self.conn, child = CONTEXT.Pipe()
        self.process = CONTEXT.Process(target=_serve, args=(child, tables, dialect), daemon=True)
        self.process.start()
        child.close()

    def stop(self) -> None:
        self.conn.close()
        self.process.kill()
        self.process.join()


class Parsers:
    """`workers` parsing processes shared by the threads that call `parse`."""

    def __init__(
        self, tables: list[tuple[Key, list[str]]], dialect: str, workers: int, timeout: float
    ) -> None:
        self.tables, self.dialect, self.timeout = tables, dialect, timeout
        self.idle: queue.Queue[Worker] = queue.Queue()
        self.all: list[Worker] = []
        self.lock = threading.Lock()
        for _ in range(workers):
            self._add()

    def _add(self) -> None:
        worker = Worker(self.tables, self.dialect)
        with self.lock:
            self.all.append(worker)
        self.idle.put(worker)

    def parse(self, sql: str, database: str | None, schema: str | None) -> dict[str, Any]:
        """The query's analysis (`parser.analyze`), or an `error` saying why there is none."""
        worker = self.idle.get()
        try:
            worker.conn.send((sql, database, schema))
            if worker.conn.poll(self.timeout):
                result = worker.conn.recv()
                self.idle.put(worker)
                return result
        except (EOFError, OSError):
            pass  # the worker died (out of memory?): replaced below, the query reported
        with self.lock:
            self.all.remove(worker)
        worker.stop()
        self._add()
        if worker.process.exitcode not in (None, -9):
            return {"error": f"the parser process ended ({worker.process.exitcode})"}
        return {"error": f"parsing took longer than parsingTimeoutLimit ({self.timeout:g} s): stopped"}

    def close(self) -> None:
        with self.lock:
            workers, self.all = self.all, []
        for worker in workers:
            worker.stop()
