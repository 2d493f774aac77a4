"""The bridge's store: the ingestion pipelines OpenMetadata deployed, and whether each is
enabled. One source of truth for what runs on a cron (the managed-pipelines sensor reads
it) and for what the bridge answers.

A real database through SQLAlchemy: SQLite under `DAGSTER_HOME` by default, any URL in
`OM_DAGSTER_BRIDGE_DB` (PostgreSQL in production). No secret is stored: the deployed JSON
carries the ingestion bot's JWT and may carry credentials in its `sourceConfig`; every
value under a secret-sounding key is dropped before the row is written, and the run reads
the service's connection from OpenMetadata with the bot token of its own environment.
"""

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import JSON, Boolean, Column, Float, MetaData, String, Table

from om_dagster.core.recipe import SECRET_KEY

DB_ENV = "OM_DAGSTER_BRIDGE_DB"
UNSAFE = re.compile(r"[^0-9a-zA-Z\-_]+")  # Airflow's cleaning of a dag_id

metadata = MetaData()
pipelines = Table(
    "om_dagster_pipelines",
    metadata,
    Column("name", String(256), primary_key=True),  # the dag_id: the pipeline's name, cleaned
    Column("fqn", String(1024), nullable=False, unique=True),
    Column("pipeline_type", String(64), nullable=False),
    Column("schedule", String(256)),  # cron, or None: on demand
    Column("timezone", String(64), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("entity", JSON, nullable=False),  # the IngestionPipeline, secrets dropped
    Column("deployed_at", Float, nullable=False),
)


def dag_id(name: str) -> str:
    """The key a pipeline's name becomes, as Airflow cleans it."""
    return UNSAFE.sub("_", name)


def without_secrets(value: Any, key: str = "") -> Any:
    """`value` with every entry under a secret-sounding key left out (the bot's JWT, passwords,
    keys), and the OpenMetadata connection kept to where the server is."""
    if isinstance(value, dict):
        return {k: without_secrets(v, str(k)) for k, v in value.items() if not SECRET_KEY.search(str(k))}
    if isinstance(value, list):
        return [without_secrets(v, key) for v in value]
    return value


@dataclass
class Deployed:
    name: str
    fqn: str
    pipeline_type: str
    schedule: str | None
    timezone: str
    enabled: bool
    entity: dict[str, Any]

    @property
    def timeout(self) -> int | None:
        """`airflowConfig.workflowTimeout`: seconds a run may take."""
        return (self.entity.get("airflowConfig") or {}).get("workflowTimeout")


class NameTaken(Exception):
    """Another pipeline (another FQN) already has this cleaned name."""


class Store:
    def __init__(self, url: str | None = None) -> None:
        self.engine = sqlalchemy.create_engine(url or default_url())
        metadata.create_all(self.engine)

    def deploy(self, entity: dict[str, Any]) -> Deployed:
        """Insert or replace by name; a redeploy keeps whether it was paused (as Airflow applies
        `pausePipeline` on first creation only)."""
        name, fqn = dag_id(entity["name"]), entity.get("fullyQualifiedName") or entity["name"]
        airflow = entity.get("airflowConfig") or {}
        with self.engine.begin() as conn:
            held = conn.execute(sqlalchemy.select(pipelines).where(pipelines.c.name == name)).first()
            if held is not None and held.fqn != fqn:
                raise NameTaken(f"{name!r} is deployed already for {held.fqn}, not {fqn}")
            enabled = (
                held.enabled
                if held is not None
                else entity.get("enabled", True) and not airflow.get("pausePipeline", False)
            )
            row = {
                "name": name,
                "fqn": fqn,
                "pipeline_type": entity.get("pipelineType") or "metadata",
                "schedule": airflow.get("scheduleInterval") or None,
                "timezone": airflow.get("pipelineTimezone") or "UTC",
                "enabled": bool(enabled),
                "entity": without_secrets(entity),
                "deployed_at": time.time(),
            }
            if held is None:
                conn.execute(pipelines.insert().values(**row))
            else:
                conn.execute(pipelines.update().where(pipelines.c.name == name).values(**row))
        return Deployed(**{k: v for k, v in row.items() if k != "deployed_at"})

    def get(self, name: str) -> Deployed | None:
        with self.engine.connect() as conn:
            row = conn.execute(sqlalchemy.select(pipelines).where(pipelines.c.name == dag_id(name))).first()
        return _deployed(row) if row is not None else None

    def all(self) -> list[Deployed]:
        with self.engine.connect() as conn:
            return [
                _deployed(r) for r in conn.execute(sqlalchemy.select(pipelines).order_by(pipelines.c.name))
            ]

    def set_enabled(self, name: str, enabled: bool) -> bool:
        """False when no such pipeline is deployed."""
        with self.engine.begin() as conn:
            done = conn.execute(
                pipelines.update().where(pipelines.c.name == dag_id(name)).values(enabled=enabled)
            )
        return done.rowcount == 1

    def delete(self, name: str) -> Deployed | None:
        with self.engine.begin() as conn:
            row = conn.execute(sqlalchemy.select(pipelines).where(pipelines.c.name == dag_id(name))).first()
            conn.execute(pipelines.delete().where(pipelines.c.name == dag_id(name)))
        return _deployed(row) if row is not None else None

    def close(self) -> None:
        self.engine.dispose()


def _deployed(row: Any) -> Deployed:
    entity = row.entity if isinstance(row.entity, dict) else json.loads(row.entity)
    return Deployed(row.name, row.fqn, row.pipeline_type, row.schedule, row.timezone, row.enabled, entity)


def nothing_deployed(url: str) -> bool:
    """True for a SQLite store no bridge has created yet: reading it must not create it."""
    parsed = sqlalchemy.engine.make_url(url)
    return (
        parsed.get_backend_name() == "sqlite" and bool(parsed.database) and not Path(parsed.database).exists()
    )


def shown(url: str) -> str:
    """The store's URL as logs may show it: its password masked."""
    return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)


def default_url() -> str:
    """`OM_DAGSTER_BRIDGE_DB`, else a SQLite file under `DAGSTER_HOME` (else the working folder)."""
    if url := os.environ.get(DB_ENV):
        return url
    home = Path(os.environ.get("DAGSTER_HOME") or ".").expanduser()
    return f"sqlite:///{home / 'om_dagster_bridge.db'}"
