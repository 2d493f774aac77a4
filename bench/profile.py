"""Benchmark: om-dagster's profiler (`orm-profiler`) against the official `metadata profile`.

    .venv/bin/python bench/profile.py --peer /tmp/om-peer/bin/metadata      # 1,000,000 rows; 1,000 tables
    .venv/bin/python bench/profile.py --rows 100000 --tables 200 --peer /tmp/om-peer/bin/metadata
    .venv/bin/python bench/profile.py --datasets wide --databases sqlite     # ours alone, one table

Two datasets: one wide table (`--rows` rows x 30 columns: integers, decimals, floats, short
strings, dates, a timestamp, a boolean, some NULLs) and many narrow ones (`--tables` tables of
100 rows x 5 columns). Both on SQLite (files kept in bench/out), and on PostgreSQL when
OM_TEST_POSTGRES (user:password@host:port) is set: a fresh database per dataset, dropped after.
Values are arithmetic on the row number, so every database holds the same ones.

Each run gets a fresh stand-in server (tests/standin.py, in its own process). The service's
metadata recipe puts the tables there first (not timed); then the profiler recipe
(`sourceConfig.config.type: Profiler`, processor `orm-profiler`, sink `metadata-rest`) runs,
timed with its CLI's start-up: ours through `dagster job execute`, as bench/ingest.py runs
ingestion, the official client's (`--peer`, see ../shared/peer/README.md) through
`metadata ingest` then `metadata profile`. Printed per run: wall seconds, peak RSS, SQL
statements per table (a SQLAlchemy `before_cursor_execute` listener in the profiling process;
for ours also the count the profiler reports), requests the server received while profiling;
then ours against the official client's, and where their profiles of the same table differ.

The official client takes ~5 s a narrow table here: it profiles `--peer-tables` of them (50),
ours both counts, and the official figure for all is extrapolated, labelled as such.

The server here is the stand-in, counting the requests for the profiler configuration
(`GET /v1/system/settings/profilerConfiguration`, which the official profiler reads first and
stops without; the stand-in was first measured without it) and saying which requests it
could not route. The stand-in sets TCP_NODELAY, without which every answer waits ~40 ms
(`--standin-nagle` measures it that way).
"""

import argparse
import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy
from ingest import ServeProcess, machine  # bench/ingest.py: the same machine line and ports
from ingest import recipe as ingest_recipe

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve()
OUT = ROOT / "bench" / "out"
DAGSTER = Path(sys.executable).parent / "dagster"
TOKEN = "bench-token"
NARROW_ROWS = 100
# The official profiler's first read, answered (as the stand-in answers it) and counted here:
# the server's settings resource (`SystemResource.getProfilerConfigurationSetting`).
ADDED = {
    "system/settings/profilerConfiguration": {
        "config_type": "profilerConfiguration",
        "config_value": {"metricConfiguration": []},
    }
}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


# --- the data -----------------------------------------------------------------------------


def mix(k: int, row: str = "i") -> str:
    """An integer in [0, 1000003) from the row number: `row * a mod p`, a permutation of the
    first million rows (so distinct per row), with another `a` for each `k`."""
    return f"(({row} * {48271 + 7919 * k} + {104729 * k}) % 1000003)"


def day(dialect: str, expr: str) -> str:
    if dialect == "postgres":
        return f"DATE '2020-01-01' + CAST({expr} AS INTEGER)"
    return f"date('2020-01-01', '+' || ({expr}) || ' days')"


def moment(dialect: str, expr: str) -> str:
    if dialect == "postgres":
        return f"TIMESTAMP '2020-01-01 00:00:00' + ({expr}) * INTERVAL '1 second'"
    return f"datetime('2020-01-01 00:00:00', '+' || ({expr}) || ' seconds')"


def nulls(every: int, expr: str, row: str = "i") -> str:
    return f"CASE WHEN {row} % {every} = 0 THEN NULL ELSE {expr} END"


def wide_columns(dialect: str) -> list[tuple[str, str]]:
    """The wide table's 30 columns: (DDL, value from the row number `i`)."""
    pg = dialect == "postgres"
    real = "DOUBLE PRECISION" if pg else "REAL"
    decimal = "NUMERIC" if pg else "DECIMAL"
    h = mix
    return [
        ("id INTEGER PRIMARY KEY", "i"),
        ("i_low INTEGER", f"{h(1)} % 10"),
        ("i_mid INTEGER", f"{h(2)} % 1000"),
        ("i_high INTEGER", h(3)),
        ("i_neg INTEGER", f"{h(4)} % 20001 - 10000"),
        ("i_null INTEGER", nulls(10, f"{h(5)} % 500")),
        ("i_sparse INTEGER", f"CASE WHEN i % 3 <> 0 THEN NULL ELSE {h(6)} END"),
        ("i_big BIGINT", f"{h(7)} * {h(8)}"),
        ("i_year INTEGER", f"2000 + {h(9)} % 25"),
        (f"d_price {decimal}(12, 2)", f"{h(10)} / 100.0"),
        (f"d_rate {decimal}(8, 4)", f"({h(11)} % 100000) / 10000.0"),
        (f"d_null {decimal}(12, 2)", nulls(7, f"({h(12)} % 50000) / 100.0")),
        (f"d_neg {decimal}(12, 2)", f"({h(13)} - 500000) / 100.0"),
        (f"d_half {decimal}(6, 1)", f"({h(14)} % 3) * 0.5"),
        (f"f_unit {real}", f"CAST({h(15)} AS {real}) / 1000003"),
        (f"f_wide {real}", f"CAST({h(16)} - 500000 AS {real}) * 1.5"),
        (f"f_null {real}", nulls(5, f"CAST({h(17)} AS {real}) / 7")),
        (f"f_small {real}", f"CAST({h(18)} % 100 AS {real}) / 8"),
        (f"f_square {real}", f"CAST({h(19)} AS {real}) * {h(19)} / 1000000"),
        ("s_code VARCHAR(8)", f"'c' || ({h(20)} % 20)"),
        ("s_name VARCHAR(16)", f"'name_' || ({h(21)} % 5000)"),
        ("s_null VARCHAR(16)", nulls(4, f"'v' || ({h(22)} % 300)")),
        ("s_unique VARCHAR(16)", "'u' || i"),
        (
            "s_word VARCHAR(12)",
            f"CASE {h(23)} % 4 WHEN 0 THEN 'alpha' WHEN 1 THEN 'beta' WHEN 2 THEN 'gamma' ELSE 'delta' END",
        ),
        ("s_text TEXT", f"'x' || {h(24)} || '-' || ({h(25)} % 7)"),
        ("dt_day DATE", day(dialect, f"{h(26)} % 1500")),
        ("dt_null DATE", nulls(6, day(dialect, f"{h(27)} % 3650"))),
        ("dt_month DATE", day(dialect, f"({h(28)} % 60) * 30")),
        ("ts_event TIMESTAMP", moment(dialect, f"{h(29)} * 31")),
        ("b_flag BOOLEAN", f"{h(30)} % 2 = 1" if pg else f"{h(30)} % 2"),
    ]


def narrow_columns(dialect: str, t: int) -> list[tuple[str, str]]:
    """A narrow table's 5 columns; table `t` draws other values than its neighbours."""
    row = f"(i + {t * NARROW_ROWS})"
    decimal = "NUMERIC" if dialect == "postgres" else "DECIMAL"
    return [
        ("id INTEGER PRIMARY KEY", "i"),
        ("qty INTEGER", nulls(9, f"{mix(1, row)} % 50")),
        (f"price {decimal}(10, 2)", f"{mix(2, row)} / 100.0"),
        ("label VARCHAR(16)", f"'l' || ({mix(3, row)} % 30)"),
        ("day DATE", day(dialect, f"{mix(4, row)} % 400")),
    ]


def fill(dialect: str, table: str, columns: list[tuple[str, str]], rows: int) -> list[str]:
    """The statements creating `table` and its `rows` rows."""
    select = ", ".join(expr for _, expr in columns)
    create = f"CREATE TABLE {table} ({', '.join(ddl for ddl, _ in columns)})"
    if dialect == "postgres":
        source = f"(SELECT CAST(g AS BIGINT) AS i FROM generate_series(1, {rows}) AS g) AS s"
        return [create, f"INSERT INTO {table} SELECT {select} FROM {source}"]
    numbers = f"WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {rows})"
    return [create, f"INSERT INTO {table} {numbers} SELECT {select} FROM g"]


def statements(dataset: str, dialect: str, size: int) -> list[str]:
    if dataset == "wide":
        return fill(dialect, "wide", wide_columns(dialect), size)
    out = []
    for t in range(size):
        out += fill(dialect, f"n_{t:05}", narrow_columns(dialect, t), NARROW_ROWS)
    return out


class Database:
    """A dataset in a database: its connection for recipes, and how to drop it."""

    def __init__(self, dataset: str, dialect: str, size: int) -> None:
        self.dataset, self.dialect, self.size = dataset, dialect, size
        self.tables = 1 if dataset == "wide" else size
        self.rows = size if dataset == "wide" else NARROW_ROWS
        self.columns = 30 if dataset == "wide" else 5
        # the SQLite file's name, the PostgreSQL database's
        self.name = (
            f"profile_{dataset}_{size}.db" if dialect == "sqlite" else f"om_bench_profile_{dataset}_{size}"
        )
        self.source = self._sqlite() if dialect == "sqlite" else self._postgres()

    @property
    def label(self) -> str:
        return f"{self.dataset} {self.dialect}"

    @property
    def shape(self) -> str:
        return f"{self.tables} x {self.rows} x {self.columns}"

    def _sqlite(self) -> dict:
        path = OUT / self.name
        if not path.exists():
            OUT.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.unlink(missing_ok=True)
            conn = sqlite3.connect(tmp)
            with conn:
                for statement in statements(self.dataset, "sqlite", self.size):
                    conn.execute(statement)
            conn.close()
            tmp.rename(path)
        return {"type": "sqlite", "config": {"type": "SQLite", "databaseMode": str(path), "database": "main"}}

    def _admin(self) -> sqlalchemy.URL:
        user, _, rest = os.environ["OM_TEST_POSTGRES"].partition(":")
        password, _, host_port = rest.rpartition("@")
        host, _, port = host_port.partition(":")
        url = sqlalchemy.URL.create("postgresql+psycopg2", user, password, host, int(port), "postgres")
        return url

    def _postgres(self) -> dict:
        url, name = self._admin(), self.name
        self.drop()
        admin = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
        admin.dispose()
        engine = sqlalchemy.create_engine(url.set(database=name))
        with engine.begin() as conn:
            for statement in statements(self.dataset, "postgres", self.size):
                conn.execute(sqlalchemy.text(statement))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sqlalchemy.text("VACUUM ANALYZE"))  # settled: hint bits set, as on a table in use
        engine.dispose()
        config = {
            "type": "Postgres",
            "username": url.username,
            "authType": {"password": url.password},
            "hostPort": f"{url.host}:{url.port}",
            "database": name,
        }
        return {
            "type": "postgres",
            "config": config,
            "sourceConfig": {"schemaFilterPattern": {"includes": ["^public$"]}},
        }

    def drop(self) -> None:
        if self.dialect != "postgres":
            return
        admin = sqlalchemy.create_engine(self._admin(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)"))
        admin.dispose()


# --- recipes and the server ---------------------------------------------------------------


def recipe(source: dict, service: str, port: int, profiler: bool) -> str:
    """bench/ingest.py's metadata recipe, or the same service's profiler recipe."""
    workflow = json.loads(ingest_recipe(source, service, port))
    if profiler:
        workflow["source"]["sourceConfig"]["config"]["type"] = "Profiler"
        workflow["processor"] = {"type": "orm-profiler", "config": {}}
    return json.dumps(workflow, indent=1)


def serve(port: int, version: str, nagle: bool) -> None:
    """`--serve`: the stand-in, plus the answers in ADDED, what it profiled, what it could not route;
    unless `nagle`, its sockets set TCP_NODELAY: the stand-in writes an answer's headers and body
    apart, and Nagle's algorithm holds the body until the client's delayed ACK, ~40 ms each
    answer on Linux loopback (1.5 ms without), whoever the client."""
    sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != HERE.parent]
    from tests.standin import ApiError, StandIn, _template

    class BenchStandIn(StandIn):
        added: Counter = Counter()
        unrouted: Counter = Counter()

        def _handler(self) -> Any:
            class Handler(super()._handler()):  # type: ignore[misc]
                disable_nagle_algorithm = not nagle

            return Handler

        def route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
            rest = path.removeprefix("/api/v1/")
            if method == "GET" and rest in ADDED:
                with self.state.lock:
                    self.added[f"GET /api/v1/{rest}"] += 1
                return 200, ADDED[rest]
            if method == "GET" and rest == "__bench/profiles":
                with self.state.lock:
                    tables = self.state.entities.get("tables", {})
                    return 200, {fqn: t["_profiles"][-1] for fqn, t in tables.items() if t.get("_profiles")}
            if method == "GET" and rest == "__bench/unrouted":
                with self.state.lock:
                    return 200, {"added": dict(self.added), "unrouted": dict(self.unrouted)}
            try:
                return super().route(method, path, query, body)
            except ApiError as err:
                # no route (`HTTP 404 Not Found: path`, 405), or an entity path whose last
                # part is neither an id nor a name (`DELETE /tables/deleteStale`)
                last = rest.rsplit("/", 1)[-1]
                lookup = "/name/" in path or UUID.match(last) or "/" not in rest
                if err.message.startswith("HTTP 40") or (err.code == 404 and not lookup):
                    with self.state.lock:
                        self.unrouted[f"{method} {_template(path)} -> {err.code}"] += 1
                raise

    server = BenchStandIn(port, TOKEN, version)
    print(f"stand-in OpenMetadata server (bench) on {server.url}", flush=True)
    server.httpd.serve_forever()


# --- running a client ---------------------------------------------------------------------


def counted(out: str, database: str, script: str, argv: list[str]) -> None:
    """`--count-sql`: run a console script (`dagster`, `metadata`) in this process, counting the
    statements sent to the database named `database` (a SQLite file's name, a PostgreSQL
    database) through SQLAlchemy (not Dagster's own storage); written to `out` at exit."""
    import atexit
    import runpy
    import threading

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE.parent]  # `profile` is stdlib's
    lock = threading.Lock()
    words: Counter = Counter()
    reported = {"tables": 0, "statements": 0}

    def count(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if not str(conn.engine.url.database or "").endswith(database):
            return
        word = (statement.split(None, 1) or ["?"])[0].upper()
        with lock:
            words[word] += 1

    event.listen(Engine, "before_cursor_execute", count)
    try:
        from om_dagster.profiler import table
    except ImportError:  # the official client's venv
        pass
    else:
        profile = table.TableProfiler.profile

        def profiled(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = profile(self, *args, **kwargs)
            with lock:
                reported["tables"] += 1
                reported["statements"] += result.statements
            return result

        table.TableProfiler.profile = profiled  # type: ignore[method-assign]
    pid = os.getpid()

    def write() -> None:
        if os.getpid() == pid:  # not in a forked worker
            Path(out).write_text(json.dumps({"statements": dict(words), "reported": reported}))

    atexit.register(write)
    sys.argv = [script, *argv]
    runpy.run_path(script, run_name="__main__")


def timed(
    cmd: list[str], env: dict, log: Path, timeout: float | None = None
) -> tuple[float, float, int | None]:
    """Wall seconds, peak RSS in MiB (the process and the children it waited for), exit code
    (None when killed at `timeout`)."""
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
        )
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                code = os.waitstatus_to_exitcode(status)
                break
            if timeout is not None and time.perf_counter() - start > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                _, status, usage = os.wait4(proc.pid, 0)
                code = None
                break
            time.sleep(0.05)
        proc.returncode = -1  # reaped above
    return time.perf_counter() - start, usage.ru_maxrss / 1024, code


def run(who: str, db: Database, nagle: bool, peer: str | None = None, timeout: float | None = None) -> dict:
    """One client on one dataset: metadata recipe (set-up), then the profiler recipe, timed."""
    ours = peer is None
    server = ServeProcess(HERE, "1.13.0" if ours else "2.0.7", "nagle" if nagle else "nodelay", token=TOKEN)
    name = f"{'ours' if ours else 'peer'}_{db.dataset}_{db.dialect}_{db.size}"
    folder = OUT / f"profile_{name}"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        service = f"{'ours' if ours else 'peer'}_{db.dataset}"
        (folder / f"{name}.yaml").write_text(recipe(db.source, service, server.port, profiler=False))
        (folder / f"{name}_profiler.yaml").write_text(recipe(db.source, service, server.port, profiler=True))
        counts = folder / "statements.json"
        counts.unlink(missing_ok=True)
        env = dict(os.environ)
        if ours:
            env["OM_DAGSTER_WORKFLOWS_DIR"] = str(folder)
            env.pop("DAGSTER_HOME", None)
            ingest = [str(DAGSTER), "job", "execute", "-m", "om_dagster", "-j", name]
            script, argv = DAGSTER, ["job", "execute", "-m", "om_dagster", "-j", f"{name}_profiler"]
            python = sys.executable
        else:
            ingest = [peer, "ingest", "-c", str(folder / f"{name}.yaml")]
            script, argv = Path(peer), ["profile", "-c", str(folder / f"{name}_profiler.yaml")]
            python = str(Path(peer).parent / "python")
        set_up, _, code = timed(ingest, env, folder / "ingest.log")
        listed = server.get("__standin/stats")["entities"].get("tables", 0)
        if code != 0 or listed != db.tables:
            print(f"  ! {who} {db.label}: metadata recipe exit {code}, {listed} tables (log: {folder})")
        before = server.requests()
        cmd = [python, str(HERE), "--count-sql", str(counts), db.name, str(script), *argv]
        seconds, rss, code = timed(cmd, env, folder / "profile.log", timeout)
        requests = server.requests() - before - 1
        load = os.getloadavg()[0]
        profiles = server.get("__bench/profiles")
        (folder / "profiles.json").write_text(json.dumps(profiles, indent=1))
        unrouted = server.get("__bench/unrouted")
    finally:
        server.stop()
    sql = json.loads(counts.read_text()) if counts.exists() else {"statements": {}, "reported": {}}
    ok = code == 0 and len(profiles) == db.tables
    if not ok:
        state = "killed at the time limit" if code is None else f"exit {code}"
        print(f"  ! {who} {db.label}: {state}, {len(profiles)} tables profiled (log: {folder})")
    print(f"  .. {who:<16} {db.label:<16} {seconds:8.1f} s  (set-up {set_up:.1f} s)", flush=True)
    return {
        "who": who,
        "db": db,
        "seconds": seconds,
        "rss": rss,
        "code": code,
        "ok": ok,
        "requests": requests,
        "statements": sql["statements"],
        "reported": sql["reported"],
        "profiles": {fqn.split(".", 1)[1]: body for fqn, body in profiles.items()},
        "unrouted": unrouted,
        "load": load,
    }


# --- what the profiles say ----------------------------------------------------------------


def same(a: Any, b: Any) -> bool:
    if isinstance(a, bool | int | float) and isinstance(b, bool | int | float):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    return a == b


def compare(ours: dict, peer: dict) -> list[str]:
    """Where the two profiles of each table differ, by metric, with the first example."""
    differ: dict[str, list[str]] = {}
    only: dict[str, Counter] = {"ours": Counter(), "official": Counter()}
    agree: Counter = Counter()
    tables = sorted(set(ours) & set(peer))
    columns = 0
    for name in tables:
        a, b = ours[name], peer[name]
        pairs = [(name, "table", a.get("tableProfile", {}), b.get("tableProfile", {}))]
        a_cols = {c["name"]: c for c in a.get("columnProfile", [])}
        b_cols = {c["name"]: c for c in b.get("columnProfile", [])}
        pairs += [(name, c, a_cols.get(c, {}), b_cols.get(c, {})) for c in sorted(set(a_cols) | set(b_cols))]
        for table, column, x, y in pairs:
            columns += column != "table"
            keys = set(x) | set(y)
            keys -= {"name", "timestamp", "createDateTime", "profileSample", "profileSampleType"}
            for key in sorted(keys):
                where = "table" if column == "table" else "column"
                if key not in y or y[key] is None:
                    only["ours"][f"{where} {key}"] += x[key] is not None
                elif key not in x or x[key] is None:
                    only["official"][f"{where} {key}"] += 1
                elif same(x[key], y[key]):
                    agree[key] += 1
                else:
                    differ.setdefault(key, []).append(
                        f"{table}.{column}: ours {x[key]!r}, official {y[key]!r}"
                    )
    lines = [
        f"profiles compared: {len(tables)} tables ({len(set(ours) ^ set(peer))} profiled by one side only), "
        f"{columns} columns; {sum(agree.values())} values agree"
    ]
    for key, examples in sorted(differ.items(), key=lambda kv: -len(kv[1])):
        lines.append(f"  differ: {key} in {len(examples)}, e.g. {'; '.join(examples[:2])}")
    for side, counter in only.items():
        if +counter:
            shown = ", ".join(f"{k} ({n})" for k, n in sorted((+counter).items()))
            lines.append(f"  only {side}: {shown}")
    return lines


# --- the report ---------------------------------------------------------------------------


def revision() -> str:
    """The commit benchmarked, and whether the profiler's files differ from it."""
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "log", "-1", "--format=%h %s"], capture_output=True, text=True).stdout
    changed = subprocess.run(
        [*git, "status", "--porcelain", "om_dagster"], capture_output=True, text=True
    ).stdout.splitlines()
    dirty = f", with uncommitted changes to {len(changed)} files under om_dagster/" if changed else ""
    return f"{head.strip()[:90]}{dirty}"


def per_table(r: dict) -> str:
    tables = len(r["profiles"]) or r["db"].tables
    total = sum(r["statements"].values())
    text = f"{total / tables:.1f}"
    if r["reported"].get("tables"):
        text += f" ({r['reported']['statements'] / r['reported']['tables']:.1f})"
    return text


def breakdown(r: dict) -> str:
    tables = len(r["profiles"]) or r["db"].tables
    words = sorted(r["statements"].items(), key=lambda kv: -kv[1])
    return ", ".join(f"{w} {n / tables:.2f}" for w, n in words[:6]) or "none counted"


def main() -> None:
    if sys.argv[1:2] == ["--count-sql"]:
        return counted(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    if sys.argv[1:2] == ["--serve"]:
        return serve(int(sys.argv[2]), sys.argv[3], sys.argv[4] == "nagle")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the wide table")
    parser.add_argument("--tables", type=int, default=1000, help="narrow tables (100 rows x 5 columns)")
    parser.add_argument("--datasets", default="wide,narrow")
    parser.add_argument(
        "--databases", default="sqlite,postgres", help="postgres only when OM_TEST_POSTGRES is set"
    )
    parser.add_argument("--peer", help="path of the official `metadata` CLI, in its own venv")
    parser.add_argument(
        "--peer-rows",
        type=int,
        help="profile a wide table of this many rows with the official client (ours profiles both), "
        "and extrapolate to --rows; by default both profile the same table",
    )
    parser.add_argument(
        "--peer-tables",
        type=int,
        default=50,
        help="the same for the narrow tables: the official client takes ~5 s a table here, so 1,000 "
        "would take ~80 minutes (default 50; 0: as many as --tables)",
    )
    parser.add_argument(
        "--standin-nagle",
        action="store_true",
        help="leave Nagle's algorithm on in the stand-in, as tests/standin.py does: ~40 ms an answer",
    )
    parser.add_argument(
        "--peer-timeout", type=float, default=1200, help="seconds before an official profiler run is stopped"
    )
    args = parser.parse_args()
    datasets = [d for d in args.datasets.split(",") if d]
    dialects = [d for d in args.databases.split(",") if d]
    skipped = []
    if "postgres" in dialects and "OM_TEST_POSTGRES" not in os.environ:
        dialects.remove("postgres")
        skipped.append('postgres (OM_TEST_POSTGRES is unset: eval "$(cat /tmp/services.env)")')

    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.2f}")
    print(f"om-dagster: {revision()}")
    print(
        "ours: om-dagster `dagster job execute` (orm-profiler, 4 threads by default); official: "
        + (f"`{args.peer} profile`" if args.peer else "not run (no --peer)")
    )
    if skipped:
        print(f"skipped: {', '.join(skipped)}")
    print(
        "stand-in: tests/standin.py"
        + (", without TCP_NODELAY (~40 ms an answer)" if args.standin_nagle else ", with TCP_NODELAY")
    )
    rows: list[dict] = []
    pairs: list[tuple[dict, dict]] = []
    extrapolated: list[str] = []
    for dataset in datasets:
        for dialect in dialects:
            size = args.rows if dataset == "wide" else args.tables
            peer_size = min((args.peer_rows if dataset == "wide" else args.peer_tables) or size, size)
            unit = "rows" if dataset == "wide" else "tables"
            for n in sorted({size, peer_size}, reverse=True):
                started = time.perf_counter()
                db = Database(dataset, dialect, n)
                print(
                    f"  .. {db.label} {db.shape}: data ready in {time.perf_counter() - started:.1f} s",
                    flush=True,
                )
                try:
                    ours = run("om-dagster", db, args.standin_nagle)
                    rows.append(ours)
                    if args.peer and n == peer_size:
                        peer = run("metadata profile", db, args.standin_nagle, args.peer, args.peer_timeout)
                        rows.append(peer)
                        pairs.append((ours, peer))
                finally:
                    db.drop()
            if args.peer and peer_size != size:
                full = next(
                    r
                    for r in rows
                    if r["who"] == "om-dagster"
                    and (r["db"].label, r["db"].size) == (f"{dataset} {dialect}", size)
                )
                peer = pairs[-1][1]
                if peer["ok"]:
                    guess = peer["seconds"] * size / peer_size
                    extrapolated.append(
                        f"{dataset} {dialect} at {size} {unit}: official EXTRAPOLATED (not measured), "
                        f"linearly from {peer_size} {unit}: ~{guess:.0f} s, vs ours measured "
                        f"{full['seconds']:.1f} s (~{guess / full['seconds']:.0f}x)"
                    )

    print(
        f"\n{'client':<17} {'dataset':<16} {'tables x rows x cols':>20} {'seconds':>8} {'peak RSS MiB':>12} "
        f"{'stmts/table':>12} {'requests':>8} {'load':>5}  ok"
    )
    for r in rows:
        print(
            f"{r['who']:<17} {r['db'].label:<16} {r['db'].shape:>20} {r['seconds']:>8.1f} {r['rss']:>12.0f} "
            f"{per_table(r):>12} {r['requests']:>8} {r['load']:>5.2f}  {'yes' if r['ok'] else 'NO'}"
        )
    print(
        "stmts/table: statements the profiling process sent through SQLAlchemy, per table profiled "
        "(ours: in brackets, as its profiler counts them); load: the 1-minute load average as the run "
        "ended (the client's own threads count, and it lags; well above the cores, other work ran too)"
    )
    for r in rows:
        print(f"  {r['who']:<17} {r['db'].label:<16} {breakdown(r)}")

    for ours, peer in pairs:
        db = ours["db"]
        print(f"\n{db.label} ({db.shape}), ours / official:")
        if peer["code"] is None:
            print(f"  official: stopped at {args.peer_timeout:.0f} s without finishing")
        print(
            f"  seconds {ours['seconds']:.1f} / {peer['seconds']:.1f} = "
            f"{ours['seconds'] / peer['seconds']:.3f} "
            f"(ours {peer['seconds'] / ours['seconds']:.1f}x faster)"
        )
        print(f"  peak RSS {ours['rss']:.0f} / {peer['rss']:.0f} MiB = {ours['rss'] / peer['rss']:.2f}")
        print(f"  statements per table {per_table(ours)} / {per_table(peer)}")
        print(f"  requests while profiling {ours['requests']} / {peer['requests']}")
        for line in compare(ours["profiles"], peer["profiles"]):
            print(f"  {line}")
    for line in extrapolated:
        print(line)

    added: Counter = Counter()
    unrouted: Counter = Counter()
    for r in rows:
        added.update(r["unrouted"]["added"])
        unrouted.update(r["unrouted"]["unrouted"])
    if added:
        print(
            "\nthe profiler configuration, read: "
            + ", ".join(f"{k} ({n}x, {ADDED[k.split('/v1/', 1)[1]]})" for k, n in added.items())
        )
    if unrouted:
        print(
            "requests the stand-in could not route: " + ", ".join(f"{k} ({n}x)" for k, n in unrouted.items())
        )


if __name__ == "__main__":
    main()
