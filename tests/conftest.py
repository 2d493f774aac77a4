"""Fixtures: the contract in ../shared, the stand-in server, SQLite catalogs, recipe files."""

import os
import sqlite3
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

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
    pytest.skip(message)


@pytest.fixture(scope="session")
def schemas_available() -> None:
    require_shared()


@pytest.fixture
def standin(schemas_available) -> Iterator[StandIn]:
    """A fresh stand-in server per test, validating every body against the schemas."""
    server = StandIn().start()
    yield server
    server.stop()


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
    from om_dagster import registry

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
