"""The file and console sinks."""

import json

import pytest

from om_dagster.core.loader import load_recipe
from om_dagster.core.recipe import RecipeError
from om_dagster.sinks.console import ConsoleSink
from om_dagster.sinks.file import FileSink
from om_dagster.sources.sqlite import SqliteSource
from tests.conftest import make_sqlite, recipe_dict, write_recipe

DDL = "CREATE TABLE a (id INTEGER PRIMARY KEY); CREATE TABLE b (id INTEGER REFERENCES a (id));"


def source_records(recipe):
    source = SqliteSource.create(recipe.workflow.source.sourceConfig.config, None, recipe)
    with source:
        yield from source.run()


def test_file_sink_writes_one_create_request_per_line(tmp_path):
    db = make_sqlite(tmp_path / "c.db", DDL)
    out = tmp_path / "out" / "entities.jsonl"
    recipe = load_recipe(
        write_recipe(
            tmp_path / "r.yaml", recipe_dict(db, sink={"type": "file", "config": {"filename": str(out)}})
        )
    )
    sink = FileSink.create(recipe.workflow.sink.config, None, recipe)
    with sink:
        sink.run(source_records(recipe))
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["name"] for line in lines] == ["svc", "main", "main", "a", "b"]
    assert lines[0] == {"name": "svc", "serviceType": "SQLite"}  # no connection, so no secret, in the file
    assert sink.status.records == 5


def test_file_sink_needs_a_filename(tmp_path):
    with pytest.raises(RecipeError, match=r"sink.config.filename: required for the file sink"):
        load_recipe(write_recipe(tmp_path / "r.yaml", recipe_dict("x.db", sink={"type": "file"})))


def test_console_sink_prints_each_entity(tmp_path, capsys):
    db = make_sqlite(tmp_path / "c.db", DDL)
    recipe = load_recipe(write_recipe(tmp_path / "r.yaml", recipe_dict(db, sink={"type": "console"})))
    sink = ConsoleSink.create({}, None, recipe)
    with sink:
        sink.run(source_records(recipe))
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 5 and out[0].startswith("databaseService: ")
    assert json.loads(out[-1].split(": ", 1)[1])["name"] == "b"
