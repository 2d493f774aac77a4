"""Spools (the records handed between ops) stay for re-execution, then are pruned after their
retention whatever the run's outcome; a step whose spool is gone says so in one line."""

import os
import time

from dagster import DagsterEventType, DagsterInstance, ReexecutionOptions, execute_job, reconstructable

from om_dagster.core.spool import prune
from om_dagster.location.definitions import build_definitions
from tests.conftest import make_sqlite, recipe_dict, write_recipe


def shop_job():
    """The recipe job, rebuilt where a re-execution runs (from OM_DAGSTER_WORKFLOWS_DIR)."""
    return build_definitions().resolve_job_def("shop")


def test_the_sink_of_a_successful_run_re_executes_twice_then_says_when_its_spool_is_pruned(
    tmp_path, monkeypatch
):
    db = make_sqlite(tmp_path / "cat.db", "CREATE TABLE a (x INT); CREATE TABLE b (y INT);")
    out = tmp_path / "out.jsonl"
    write_recipe(
        tmp_path / "wf" / "shop.yaml",
        recipe_dict(db, sink={"type": "file", "config": {"filename": str(out)}}),
    )
    monkeypatch.setenv("OM_DAGSTER_WORKFLOWS_DIR", str(tmp_path / "wf"))
    job = reconstructable(shop_job)
    (tmp_path / "home").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "home")) as instance:
        with execute_job(job, instance) as first:
            assert first.success
        for _ in range(2):
            again = ReexecutionOptions(parent_run_id=first.run_id, step_selection=["shop_steps.sink"])
            with execute_job(job, instance, reexecution_options=again) as result:
                assert result.success
            assert len(out.read_text().splitlines()) == 5
        spools = tmp_path / "home" / "storage" / "om_dagster"
        assert prune(spools, retention_seconds=3600) == 0  # recent: kept for re-execution
        assert prune(spools, retention_seconds=0, now=time.time() + 1) == 1
        assert not any(spools.iterdir())
        with execute_job(job, instance, reexecution_options=again) as result:
            assert not result.success
            [failure] = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
            message = failure.step_failure_data.user_failure_data.description
    assert "were pruned after their retention: re-execute from the source step" in message
    assert "\n" not in message


def test_prune_keeps_recent_spools_and_removes_old_and_empty_folders(tmp_path):
    old, recent, empty = (tmp_path / name for name in ("old-run", "recent-run", "empty-run"))
    for folder in (old, recent, empty):
        folder.mkdir()
    (old / "source.jsonl").write_text("{}\n")
    (recent / "source.jsonl").write_text("{}\n")
    two_days_ago = time.time() - 48 * 3600
    os.utime(old / "source.jsonl", (two_days_ago, two_days_ago))
    assert prune(tmp_path, retention_seconds=24 * 3600) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["recent-run"]
    assert prune(tmp_path / "missing", retention_seconds=0) == 0
