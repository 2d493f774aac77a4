"""`table-usage`: parsed queries aggregated per table and day, into files for the bulk sink.

The aggregation runs in a SQLite file (upserts keyed by table and day, by table, column and
joined column, by query shape), so memory does not grow with the log; at the end the
totals are written out as JSON lines, one file per day and one of the queries, under
`config.filename/<run>/`. The run's folder is written as `<run>.partial` and renamed when
complete: a run that dies leaves no folder a bulk sink would take for finished.
"""

import json
import shutil
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from om_dagster.core.recipe import Recipe
from om_dagster.core.steps import Kind, Record, Stage, StepError
from om_dagster.openmetadata import fqn
from om_dagster.openmetadata.client import OpenMetadataClient

SCHEMA = """
CREATE TABLE usage (tbl TEXT, day TEXT, n INTEGER, PRIMARY KEY (tbl, day)) WITHOUT ROWID;
CREATE TABLE joins (tbl TEXT, day TEXT, col TEXT, other TEXT, n INTEGER,
                    PRIMARY KEY (tbl, day, col, other)) WITHOUT ROWID;
CREATE TABLE queries (checksum TEXT PRIMARY KEY, text TEXT, first TEXT, n INTEGER,
                      duration REAL) WITHOUT ROWID;
CREATE TABLE query_tables (checksum TEXT, tbl TEXT, PRIMARY KEY (checksum, tbl)) WITHOUT ROWID;
CREATE TABLE query_users (checksum TEXT, usr TEXT, PRIMARY KEY (checksum, usr)) WITHOUT ROWID;
"""
BATCH = 5_000  # queries a transaction


class TableUsageStage(Stage):
    type_name = "table-usage"

    def __init__(self, config: dict[str, Any], metadata: OpenMetadataClient | None, recipe: Recipe) -> None:
        super().__init__(config, metadata, recipe)
        root = config.get("filename")
        if not root:
            raise StepError(f"{recipe.path}: stage.config.filename: required: the folder usage files go to")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        self.folder = Path(root) / f"{stamp}-{uuid.uuid4().hex[:8]}"
        self.partial = self.folder.with_name(self.folder.name + ".partial")
        self.service = recipe.service_name
        self.today = datetime.now(UTC).date().isoformat()

    def run(self, records: Iterable[Record]) -> Iterator[Record]:
        try:
            self.partial.mkdir(parents=True)
        except OSError as err:
            raise StepError(
                f"{self.recipe.path}: stage.config.filename: cannot create {self.partial}: {err}"
            ) from None
        db = sqlite3.connect(self.partial / "stage.db", isolation_level=None)
        try:
            db.executescript(SCHEMA)
            self._aggregate(db, records)
            files = self._write(db)
        finally:
            db.close()
        (self.partial / "stage.db").unlink()
        self.partial.rename(self.folder)
        for kind, name in files:
            yield Record(Kind.USAGE_FILE, {"kind": kind, "path": str(self.folder / name)})

    def _table(self, key: list[str]) -> str:
        return fqn.build(self.service, *key)

    def _aggregate(self, db: sqlite3.Connection, records: Iterable[Record]) -> None:
        db.execute("BEGIN")
        for n, record in enumerate(records, start=1):
            if record.kind != Kind.PARSED_QUERY:
                continue
            self._add(db, record.body)
            self.status.scanned()
            if n % BATCH == 0:
                db.execute("COMMIT")
                db.execute("BEGIN")
        db.execute("COMMIT")

    def _add(self, db: sqlite3.Connection, query: dict[str, Any]) -> None:
        if query.get("aborted"):
            self.status.filter(query["checksum"], "aborted query: not usage")
            return
        day = query["start"][:10] if query.get("start") else self.today
        count = int(query.get("count") or 1)
        tables = sorted({self._table(k) for k in query["reads"] + query["writes"]})
        if not tables:
            return  # a query of no table the catalog knows: nothing to count (the parser warned)
        db.executemany(
            "INSERT INTO usage VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET n = n + excluded.n",
            [(t, day, count) for t in tables],
        )
        pairs = []
        for a, b in query["joins"]:
            left, right = self._table(a[:3]), self._table(b[:3])
            pairs += [  # (table, day, its column, the joined column's FQN, count), both ways
                (left, day, a[3], f"{right}.{fqn.quote_name(b[3])}", count),
                (right, day, b[3], f"{left}.{fqn.quote_name(a[3])}", count),
            ]
        db.executemany(
            "INSERT INTO joins VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET n = n + excluded.n", pairs
        )
        checksum = query["checksum"]
        db.execute(
            "INSERT INTO queries VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET n = n + excluded.n, "
            "first = min(first, excluded.first), duration = coalesce(duration, excluded.duration)",
            (
                checksum,
                query["masked"],  # the text the checksum names (literals masked)
                query.get("start") or f"{self.today}T00:00:00+00:00",
                count,
                query.get("duration"),
            ),
        )
        db.executemany("INSERT OR IGNORE INTO query_tables VALUES (?, ?)", [(checksum, t) for t in tables])
        if query.get("user"):
            db.execute("INSERT OR IGNORE INTO query_users VALUES (?, ?)", (checksum, query["user"]))

    def _write(self, db: sqlite3.Connection) -> list[tuple[str, str]]:
        """The day files (a line per table: its count and joins) and the queries' file."""
        files = []
        days = [d for (d,) in db.execute("SELECT DISTINCT day FROM usage ORDER BY day")]
        for day in days:
            name = f"usage-{date.fromisoformat(day).isoformat()}.jsonl"
            with (self.partial / name).open("w", encoding="utf-8") as out:
                rows = db.execute(
                    "SELECT u.tbl, u.n, j.col, j.other, j.n FROM usage u LEFT JOIN joins j "
                    "ON j.tbl = u.tbl AND j.day = u.day WHERE u.day = ? ORDER BY u.tbl, j.col, j.other",
                    (day,),
                )
                current: dict[str, Any] | None = None
                for table, count, column, other, joined in rows:
                    if current is None or current["table"] != table:
                        if current is not None:
                            out.write(json.dumps(current) + "\n")
                        current = {"table": table, "date": day, "count": count, "joins": {}}
                    if column is not None:
                        current["joins"].setdefault(column, []).append([other, joined])
                if current is not None:
                    out.write(json.dumps(current) + "\n")
            files.append(("usage", name))
        with (self.partial / "queries.jsonl").open("w", encoding="utf-8") as out:
            rows = db.execute(
                "SELECT q.checksum, q.text, q.first, q.n, q.duration, "
                "(SELECT json_group_array(tbl) FROM query_tables t WHERE t.checksum = q.checksum), "
                "(SELECT json_group_array(usr) FROM query_users u WHERE u.checksum = q.checksum) "
                "FROM queries q ORDER BY q.checksum"
            )
            for checksum, text, first, count, duration, tables, users in rows:
                line = {
                    "checksum": checksum,
                    "query": text,
                    "start": first,
                    "count": count,
                    "duration": duration,
                    "tables": json.loads(tables),
                    "users": json.loads(users),
                }
                out.write(json.dumps(line) + "\n")
        files.append(("queries", "queries.jsonl"))
        return files

    def close(self) -> None:
        if self.partial.exists():
            shutil.rmtree(self.partial, ignore_errors=True)
