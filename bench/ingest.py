"""Benchmark: SQLite catalogs of N tables through `dagster job execute` into the stand-in server.

    .venv/bin/python bench/ingest.py                      # N = 200, 2,000, 20,000
    .venv/bin/python bench/ingest.py --sizes 2000 --peer /tmp/om-peer/bin/metadata

Each catalog has 15 columns a table, a foreign key on every 10th table and a view
every 25th. With `--servers postgres,mysql` the same catalog is also built on the
servers `.ci/services start` runs, and ingested from there. Every run gets a fresh
stand-in server (validating bodies) in its own process. Printed per run: wall time
(CLI start-up included), tables/s, requests the server received, and the peak RSS of
the ingesting process. With `--peer` (the
official `metadata` CLI of openmetadata-ingestion, see ../shared/peer/README.md) the
same catalog goes through `metadata ingest` too, and the ratio is printed.
"""

import argparse
import json
import os
import platform
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
DAGSTER = Path(sys.executable).parent / "dagster"
COLUMNS = 15


def ddl(n: int, dialect: str) -> Iterator[str]:
    """The catalog: 15 columns a table, a foreign key every 10th table, a view every 25th."""
    binary = {"postgres": "BYTEA"}.get(dialect, "BLOB")
    for i in range(n):
        if i % 25 == 24:
            yield f"CREATE VIEW v_{i:05} AS SELECT id, c01, c02 FROM t_{i - 1:05} WHERE c01 > 0"
            continue
        cols = [
            "id INTEGER PRIMARY KEY",
            "c01 INTEGER NOT NULL",
            "c02 VARCHAR(64)",
            "c03 NUMERIC(12, 2)",
            "c04 TEXT",
            "c05 TIMESTAMP NULL",
            "c06 DATE",
            "c07 BOOLEAN",
            "c08 REAL",
            f"c09 {binary}",
            "c10 CHAR(8)",
            "c11 BIGINT",
            "c12 DECIMAL(8, 3)",
            "c13 JSON",
        ]
        cols.append(f"c14 INTEGER REFERENCES t_{i - 1:05} (id)" if i % 10 == 9 else "c14 INTEGER UNIQUE")
        yield f"CREATE TABLE t_{i:05} ({', '.join(cols)})"


def sqlite_catalog(n: int) -> dict:
    path = OUT / f"catalog_{n}.db"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        with sqlite3.connect(tmp) as conn:
            for statement in ddl(n, "sqlite"):
                conn.execute(statement)
        conn.close()
        tmp.rename(path)
    return {"type": "sqlite", "config": {"type": "SQLite", "databaseMode": str(path), "database": "main"}}


SERVERS = {  # kind: (services variable, SQLAlchemy scheme, admin database, connection type)
    "postgres": ("OM_TEST_POSTGRES", "postgresql+psycopg2", "postgres", "Postgres"),
    "mysql": ("OM_TEST_MYSQL", "mysql+pymysql", None, "Mysql"),
}


def server_catalog(kind: str, n: int) -> dict:
    """A database `bench_N` on a server that `.ci/services start` runs, made anew."""
    var, scheme, admin_db, connection_type = SERVERS[kind]
    if var not in os.environ:
        sys.exit(f'{kind}: {var} is unset: eval "$(.ci/services start)" first')
    user, _, rest = os.environ[var].partition(":")
    password, _, host_port = rest.rpartition("@")
    host, _, port = host_port.partition(":")
    url = sqlalchemy.URL.create(scheme, user, password, host, int(port), admin_db)
    name = f"bench_{n}"
    with sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    with sqlalchemy.create_engine(url.set(database=name), isolation_level="AUTOCOMMIT").connect() as conn:
        for statement in ddl(n, kind):
            conn.execute(sqlalchemy.text(statement))
    config = {
        "type": connection_type,
        "username": user,
        "authType": {"password": password},
        "hostPort": host_port,
    }
    config |= {"database": name} if kind == "postgres" else {"databaseSchema": name}
    only_public = {"schemaFilterPattern": {"includes": ["^public$"]}} if kind == "postgres" else {}
    return {"type": kind, "config": config, "sourceConfig": only_public}


def recipe(source: dict, service: str, port: int) -> str:
    return json.dumps(
        {
            "source": {
                "type": source["type"],
                "serviceName": service,
                "serviceConnection": {"config": source["config"]},
                "sourceConfig": {"config": {"type": "DatabaseMetadata", **source.get("sourceConfig", {})}},
            },
            "sink": {"type": "metadata-rest", "config": {}},
            "workflowConfig": {
                "loggerLevel": "WARN",
                "openMetadataServerConfig": {
                    "hostPort": f"http://127.0.0.1:{port}/api",
                    "authProvider": "openmetadata",
                    "securityConfig": {"jwtToken": "bench-token"},
                },
            },
        },
        indent=1,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A stand-in server process for one run."""

    def __init__(self, version: str) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests" / "standin.py"),
                "--port",
                str(self.port),
                "--version",
                version,
                "--token",
                "bench-token",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.proc.stdout.readline()  # "stand-in OpenMetadata server on ..."

    def stats(self) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v1/__standin/stats",
            headers={"Authorization": "Bearer bench-token"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


class ServeProcess:
    """A bench's own stand-in (a subclass in the bench script, run as `script --serve PORT
    *args`) in a process for one run."""

    def __init__(self, script: Path, *args: str, token: str = "bench-token") -> None:
        self.port = free_port()
        self.token = token
        self.proc = subprocess.Popen(
            [sys.executable, str(script), "--serve", str(self.port), *args], stdout=subprocess.PIPE, text=True
        )
        self.proc.stdout.readline()  # "stand-in OpenMetadata server (bench) on ..."

    def get(self, what: str) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v1/{what}", headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.load(response)

    def requests(self) -> int:
        return self.get("__standin/stats")["total_requests"]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def timed(cmd: list[str], env: dict, log: Path) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MiB (the process and the children it waited for), exit code."""
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def run_ours(source: dict, n: int, label: str) -> dict:
    server = Server("1.13.0")
    job = f"bench_{source['type']}_{n}"
    try:
        folder = OUT / f"workflows_{job}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{job}.yaml").write_text(recipe(source, f"ours_{n}", server.port))
        env = dict(os.environ, OM_DAGSTER_WORKFLOWS_DIR=str(folder))
        env.pop("DAGSTER_HOME", None)
        log = OUT / f"{job}.log"
        seconds, rss, code = timed([str(DAGSTER), "job", "execute", "-m", "om_dagster", "-j", job], env, log)
        return result(label, n, seconds, rss, code, server.stats(), log)
    finally:
        server.stop()


def run_peer(metadata: str, source: dict, n: int) -> dict:
    server = Server("2.0.7")
    try:
        path = OUT / f"peer_{n}.yaml"
        path.write_text(recipe(source, f"peer_{n}", server.port))
        log = OUT / f"peer_{n}.log"
        seconds, rss, code = timed([metadata, "ingest", "-c", str(path)], dict(os.environ), log)
        return result("metadata ingest", n, seconds, rss, code, server.stats(), log)
    finally:
        server.stop()


def result(who: str, n: int, seconds: float, rss: float, code: int, stats: dict, log: Path) -> dict:
    tables = stats["entities"].get("tables", 0)
    if code != 0 or tables != n:
        print(f"  ! {who} N={n}: exit {code}, {tables} tables on the server (log: {log})", flush=True)
    return {
        "who": who,
        "n": n,
        "seconds": seconds,
        "rss": rss,
        "requests": stats["total_requests"] - 1,
        "tables": tables,
        "ok": code == 0 and tables == n,
    }


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        int(line.split()[1]) // 1024 // 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return (
        f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores, {mem} GiB, Python "
        f"{platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200,2000,20000")
    parser.add_argument("--peer", help="path of the official `metadata` CLI, in its own venv")
    parser.add_argument(
        "--peer-sizes", default="200,2000", help="the official client needs minutes per 1,000"
    )
    parser.add_argument("--servers", default="", help="also postgres,mysql (from `.ci/services start`)")
    parser.add_argument("--server-size", type=int, default=2000)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    peer_sizes = {int(s) for s in args.peer_sizes.split(",")} if args.peer else set()

    print(f"machine: {machine()}")
    import dagster  # only to find where it is installed

    if not any((Path(dagster.__file__).parent / "__pycache__").glob("*.pyc")):
        print(
            "note: dagster has no bytecode here (installed with uv, or PYTHONDONTWRITEBYTECODE): every run "
            "compiles it, ~2.5 s; `python -m compileall -q .venv/lib` first (pip install does it)"
        )
    rows = []
    for n in sizes:
        source = sqlite_catalog(n)
        rows.append(run_ours(source, n, "om-dagster"))
        if n in peer_sizes:
            rows.append(run_peer(args.peer, source, n))
    for kind in filter(None, args.servers.split(",")):
        rows.append(run_ours(server_catalog(kind, args.server_size), args.server_size, f"om-dagster {kind}"))

    print(
        f"\n{'client':<20} {'tables':>7} {'seconds':>8} {'tables/s':>9} {'requests':>9} {'req/table':>9} "
        f"{'peak RSS MiB':>12}  ok"
    )
    for r in rows:
        print(
            f"{r['who']:<20} {r['n']:>7} {r['seconds']:>8.1f} {r['n'] / r['seconds']:>9.1f} "
            f"{r['requests']:>9} {r['requests'] / r['n']:>9.2f} {r['rss']:>12.0f}  "
            f"{'yes' if r['ok'] else 'NO'}"
        )
    ours = {r["n"]: r for r in rows if r["who"] == "om-dagster"}
    for r in rows:
        if r["who"] == "metadata ingest":
            print(
                f"speed-up at {r['n']} tables: {r['seconds'] / ours[r['n']]['seconds']:.1f}x "
                f"(metadata ingest {r['seconds']:.1f} s / om-dagster {ours[r['n']]['seconds']:.1f} s), "
                f"requests {r['requests'] / ours[r['n']]['requests']:.0f}x fewer"
            )
    if len(ours) > 1:
        small, large = ours[min(ours)], ours[max(ours)]
        print(f"peak RSS at {large['n']} tables / at {small['n']}: {large['rss'] / small['rss']:.2f}x")


if __name__ == "__main__":
    main()
