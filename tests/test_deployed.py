"""The bridge's store of deployed pipelines, on SQLite (the default) and on PostgreSQL (by
URL, as in production): what runs, whether paused, and never a secret."""

import pytest
import sqlalchemy

from om_dagster.openmetadata.deployed import NameTaken, Store, shown

JWT = "eyJhbGciOiJSUzI1NiJ9.never-stored.sig"
PASSWORD = "pg-s3cret-never-stored"


def pipeline(name: str = "nightly ingest", fqn: str = "svc.nightly ingest", **airflow) -> dict:
    """An IngestionPipeline as the server sends it to deploy: the bot's JWT, decrypted secrets."""
    return {
        "name": name,
        "fullyQualifiedName": fqn,
        "pipelineType": "metadata",
        "sourceConfig": {
            "config": {"type": "DatabaseMetadata", "dbtConfigSource": {"dbtPassword": PASSWORD}}
        },
        "airflowConfig": {"scheduleInterval": "0 3 * * *", "pipelineTimezone": "Europe/Paris", **airflow},
        "openMetadataServerConnection": {
            "hostPort": "http://om:8585/api",
            "authProvider": "openmetadata",
            "securityConfig": {"jwtToken": JWT},
        },
    }


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bridge.db'}"
    else:
        url = request.getfixturevalue("postgres").engine.url.render_as_string(hide_password=False)
    held = Store(url)
    yield held
    held.close()


def test_a_deployed_pipeline_is_held_by_its_cleaned_name_without_secrets(store):
    deployed = store.deploy(pipeline())
    assert (deployed.name, deployed.fqn, deployed.schedule, deployed.timezone) == (
        "nightly_ingest",  # Airflow's cleaning of a dag_id
        "svc.nightly ingest",
        "0 3 * * *",
        "Europe/Paris",
    )
    assert store.get("nightly ingest") == store.get("nightly_ingest") == deployed
    with store.engine.connect() as conn:
        raw = " ".join(
            str(row) for row in conn.execute(sqlalchemy.text("SELECT * FROM om_dagster_pipelines"))
        )
    assert JWT not in raw and PASSWORD not in raw and "http://om:8585/api" in raw


def test_pause_survives_a_redeploy_and_unknown_pipelines_are_told(store):
    store.deploy(pipeline())
    assert store.set_enabled("nightly_ingest", False) and store.get("nightly_ingest").enabled is False
    store.deploy(pipeline(scheduleInterval="0 4 * * *"))  # the server redeploys on a change
    again = store.get("nightly_ingest")
    assert again.enabled is False and again.schedule == "0 4 * * *"
    assert store.set_enabled("nowhere", True) is False
    assert store.deploy(pipeline("paused", "svc.paused", pausePipeline=True)).enabled is False
    assert [p.name for p in store.all()] == ["nightly_ingest", "paused"]
    with pytest.raises(NameTaken, match=r"'nightly_ingest' is deployed already for svc\.nightly ingest"):
        store.deploy(pipeline("nightly_ingest", "other.nightly_ingest"))
    assert store.delete("nightly ingest").fqn == "svc.nightly ingest" and store.get("nightly_ingest") is None
    assert store.delete("nightly ingest") is None


def test_the_store_url_is_shown_without_its_password():
    url = "postgresql+psycopg2://om:st0re@db:5432/om"
    assert shown(url) == "postgresql+psycopg2://om:***@db:5432/om"
