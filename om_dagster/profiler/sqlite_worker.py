"""A SQLite worker process for the profiler (`passes.SqliteProcesses`), run as a script:

    python -I sqlite_worker.py file:/path/to/db.sqlite

It reads one JSON statement a line from its input (`sql`, `params`, `seconds`) and answers
each on a line of its output: `rows`, or `error` (`interrupted` when its time ran out). It
imports only the standard library, so it starts in milliseconds, and it ends when its
input does.
"""

import json
import sqlite3
import sys
import time
from typing import Any, TextIO


def serve(uri: str, requests: TextIO, answers: TextIO) -> None:
    conn = sqlite3.connect(f"{uri}{'&' if '?' in uri else '?'}mode=ro", uri=True)
    for line in requests:
        try:
            text = json.dumps(answer(conn, json.loads(line)))
        except (TypeError, ValueError) as err:  # a value JSON cannot carry (a BLOB)
            text = json.dumps({"error": f"a result the worker cannot send: {err}"})
        answers.write(text + "\n")
        answers.flush()
    conn.close()


def answer(conn: sqlite3.Connection, request: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + request["seconds"]
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    try:
        return {"rows": conn.execute(request["sql"], request["params"]).fetchall()}
    except sqlite3.Error as err:
        return {
            "error": str(err),
            "interrupted": isinstance(err, sqlite3.OperationalError) and "interrupt" in str(err),
        }
    finally:
        conn.set_progress_handler(None, 0)


if __name__ == "__main__":
    serve(sys.argv[1], sys.stdin, sys.stdout)
