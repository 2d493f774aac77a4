"""Fixtures: the contract in ../shared, the stand-in server, SQLite catalogs, recipe files."""

import csv
import os
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy
import yaml

from om_dagster.core.recipe import OpenMetadataServerConfig
from om_dagster.openmetadata.client import OpenMetadataClient
from om_dagster.openmetadata.deployed import Store
from tests.standin import SCHEMA_DIR, SHARED, StandIn

EXAMPLES = SHARED / "openmetadata" / "examples"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_shared() -> None:
    """Tests that need ../shared fail in CI when it is missing, and skip elsewhere."""
    if SCHEMA_DIR.is_dir() and EXAMPLES.is_dir():
        return
    message = f"the OpenMetadata contract is not at {SHARED} (set OM_DAGSTER_SHARED)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(reason=message)


@pytest.fixture(scope="session")
def schemas_available() -> None:
    require_shared()


@pytest.fixture
def standin(schemas_available) -> Iterator[StandIn]:
    """A fresh stand-in server per test, validating every body against the schemas."""
    server = StandIn().start()
    yield server
    server.stop()


@dataclass
class Server:
    """A database server the services script started, and a fresh database on it."""

    user: str
    password: str
    host_port: str
    database: str
    engine: sqlalchemy.Engine


def server_credentials(var: str, what: str) -> tuple[str, str, str]:
    """user, password, host:port from `.ci/services` (fail in CI without them, skip elsewhere)."""
    value = os.environ.get(var)
    if not value:
        message = f'{what} is not running here ({var} is unset): eval "$(.ci/services start)"'
        if IN_CI:
            pytest.fail(message)
        pytest.skip(reason=message)
    user, _, rest = value.partition(":")
    password, _, host_port = rest.rpartition("@")
    return user, password, host_port


def fresh_database(scheme: str, var: str, what: str, admin_db: str | None) -> Iterator[Server]:
    user, password, host_port = server_credentials(var, what)
    host, _, port = host_port.partition(":")
    url = sqlalchemy.URL.create(scheme, user, password, host, int(port), admin_db)
    admin = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"t_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    engine = sqlalchemy.create_engine(url.set(database=name), isolation_level="AUTOCOMMIT")
    yield Server(user, password, host_port, name, engine)
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f"DROP DATABASE {name}"))
    admin.dispose()


@pytest.fixture
def postgres() -> Iterator[Server]:
    yield from fresh_database("postgresql+psycopg2", "OM_TEST_POSTGRES", "PostgreSQL", "postgres")


@pytest.fixture
def mysql() -> Iterator[Server]:
    yield from fresh_database("mysql+pymysql", "OM_TEST_MYSQL", "MariaDB", None)


@pytest.fixture
def moto(monkeypatch) -> str:
    """The moto endpoint, emptied; no AWS credentials anywhere in the environment."""
    endpoint = os.environ.get("OM_TEST_MOTO")
    if not endpoint:
        message = 'moto is not running here (OM_TEST_MOTO is unset): eval "$(.ci/services start)"'
        if IN_CI:
            pytest.fail(message)
        pytest.skip(reason=message)
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return endpoint


def run_sql(server: Server, script: str) -> None:
    with server.engine.connect() as conn:
        for statement in filter(str.strip, script.split(";")):
            conn.execute(sqlalchemy.text(statement))


ROOT = Path(__file__).resolve().parent.parent


def execute_job(
    folder: Path | None, job: str, cwd: Path = ROOT, **env_extra: str
) -> subprocess.CompletedProcess:
    """`dagster job execute -m om_dagster -j JOB` in a subprocess, on recipes from `folder`
    (the project's workflows/ when None), with a throw-away instance."""
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"} | env_extra
    if folder is not None:
        env["OM_DAGSTER_WORKFLOWS_DIR"] = str(folder)
    command = [str(Path(sys.executable).parent / "dagster"), "job", "execute", "-m", "om_dagster", "-j", job]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def seed_pipelines(
    server_url: str, db: Path, schedules: dict[str, str | None], store_url: str | None = None
) -> None:
    """A SQLite service `svc` with its connection, and a metadata ingestion pipeline per
    name with its cron (None: no schedule), on the stand-in server; deployed into the bridge's
    store at `store_url` too, as the server's deploy would."""
    om = OpenMetadataClient(OpenMetadataServerConfig(hostPort=server_url))
    connection = {"config": {"type": "SQLite", "databaseMode": str(db), "database": "main"}}
    service = om.put(
        "services/databaseServices", {"name": "svc", "serviceType": "SQLite", "connection": connection}
    )
    store = Store(store_url) if store_url else None
    for name, cron in schedules.items():
        pipeline = metadata_pipeline(om, service["id"], name, cron)
        if store is not None:
            store.deploy(pipeline)
    if store is not None:
        store.close()
    om.close()


def metadata_pipeline(
    om: OpenMetadataClient, service_id: str, name: str, cron: str | None = None
) -> dict[str, Any]:
    """A metadata ingestion pipeline of a database service, with its cron (None: no schedule)."""
    return om.put(
        "services/ingestionPipelines",
        {
            "name": name,
            "pipelineType": "metadata",
            "service": {"id": service_id, "type": "databaseService"},
            "sourceConfig": {"config": {"type": "DatabaseMetadata"}},
            "airflowConfig": {"scheduleInterval": cron} if cron else {},
        },
    )


def query_log(path: Path, header: list[str], rows: list[tuple]) -> Path:
    """A CSV query log with OpenMetadata's column names."""
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@contextmanager
def general_log(server: Server) -> Iterator[sqlalchemy.Connection]:
    """A connection whose statements MariaDB's general log (to its table, emptied first) keeps;
    the log is off again after the block."""
    admin = server.engine.execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("SET GLOBAL log_output = 'TABLE'")
        conn.exec_driver_sql("TRUNCATE TABLE mysql.general_log")
        conn.exec_driver_sql("SET GLOBAL general_log = 1")
    try:
        with admin.connect() as conn:  # a connection of its own: its database from the log
            yield conn
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql("SET GLOBAL general_log = 0")


def make_sqlite(path: Path, ddl: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.executescript(ddl)
    conn.close()
    return path


def recipe_dict(
    db: Path | str,
    service: str = "svc",
    sink: dict | None = None,
    server_url: str = "http://127.0.0.1:1/api",
    token: str | None = None,
    source_config: dict | None = None,
    **workflow,
) -> dict:
    server: dict = {"hostPort": server_url}
    if token:
        server |= {"authProvider": "openmetadata", "securityConfig": {"jwtToken": token}}
    return {
        "source": {
            "type": "sqlite",
            "serviceName": service,
            "serviceConnection": {"config": {"type": "SQLite", "databaseMode": str(db), "database": "main"}},
            "sourceConfig": {"config": {"type": "DatabaseMetadata", **(source_config or {})}},
        },
        "sink": sink or {"type": "metadata-rest", "config": {}},
        "workflowConfig": {"openMetadataServerConfig": server, **workflow},
    }


def write_recipe(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """Install a module of steps as a distribution with `om_dagster.connectors` entry points."""
    from om_dagster.core import registry

    def install(code: str, entry_points: dict[str, str], module: str = "om_plugin_demo") -> None:
        monkeypatch.delitem(sys.modules, module, raising=False)  # another test's module of that name
        site = tmp_path / "site"
        site.mkdir(exist_ok=True)
        (site / f"{module}.py").write_text(textwrap.dedent(code))
        dist = site / f"{module}-0.1.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
        lines = "".join(f"{name} = {module}:{cls}\n" for name, cls in entry_points.items())
        (dist / "entry_points.txt").write_text(f"[om_dagster.connectors]\n{lines}")
        monkeypatch.syspath_prepend(str(site))
        registry._plugins.cache_clear()

    yield install
    registry._plugins.cache_clear()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def catalog(request, tmp_path, standin):
    """`tests/catalog.py`'s tables on SQLite, PostgreSQL and MariaDB, each with its metadata
    recipe and the FQN prefix of its tables."""
    from tests.catalog import Catalog, fill, sqlite_catalog
    from tests.test_mysql import recipe as mysql_recipe
    from tests.test_postgres import recipe as postgres_recipe

    if request.param == "sqlite":
        db = sqlite_catalog(tmp_path / "shop.db")
        return Catalog(recipe_dict(db, server_url=standin.url), "svc.main.main")
    server = request.getfixturevalue("postgres" if request.param == "postgresql" else "mysql")
    fill(server.engine)
    if request.param == "postgresql":
        return Catalog(postgres_recipe(server, standin), f"pg.{server.database}.public", server)
    return Catalog(mysql_recipe(server, standin), f"my.default.{server.database}", server)
