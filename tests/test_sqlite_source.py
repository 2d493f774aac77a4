"""The SQLite metadata source: types, constraints, views, names, filters, failures."""

from pathlib import Path

import pytest

from om_dagster.core.loader import load_recipe
from om_dagster.core.steps import Kind, StepError
from om_dagster.sources.sqlite import SqliteSource
from tests.conftest import make_sqlite, recipe_dict, write_recipe

CATALOG = """
CREATE TABLE parent (id INTEGER PRIMARY KEY, code VARCHAR(10) NOT NULL, UNIQUE (code));
CREATE TABLE typed (
    i INTEGER, bi BIGINT, si SMALLINT, ti TINYINT,
    n NUMERIC(12, 3), d DECIMAL(8), f FLOAT, r REAL, dp DOUBLE PRECISION,
    vc VARCHAR(33), nvc NVARCHAR(12), c CHAR(4), t TEXT, cl CLOB,
    b BLOB, bo BOOLEAN, dt DATE, ts TIMESTAMP, dtt DATETIME, tm TIME, js JSON,
    weird "MADE UP TYPE"
);
CREATE TABLE child (
    a INTEGER NOT NULL, b INTEGER NOT NULL, parent_id INTEGER REFERENCES parent (id), note TEXT,
    PRIMARY KEY (a, b), UNIQUE (a, note)
);
CREATE TABLE "dotted.name" ("col.with.dots" INTEGER PRIMARY KEY, "space col" TEXT);
CREATE TABLE "select" ("from" INTEGER, "ünïcødé" TEXT);
CREATE TABLE "quo""te" (x INTEGER);
CREATE VIEW parent_codes AS SELECT id, code FROM parent;
CREATE TABLE gone (x INTEGER);
CREATE VIEW broken AS SELECT x FROM gone;
DROP TABLE gone;
"""


@pytest.fixture
def catalog(tmp_path) -> Path:
    return make_sqlite(tmp_path / "cat.db", CATALOG)


def run_source(tmp_path: Path, db: Path | str, **source_config):
    recipe = load_recipe(write_recipe(tmp_path / "r.yaml", recipe_dict(db, source_config=source_config)))
    source = SqliteSource.create(recipe.workflow.source.sourceConfig.config, None, recipe)
    with source:
        records = list(source.run())
    return records, source.status


def tables(records) -> dict:
    return {r.body["name"]: r.body for r in records if r.kind == Kind.TABLE}


def test_emits_the_hierarchy_parent_first(tmp_path, catalog):
    records, _ = run_source(tmp_path, catalog)
    kinds = [r.kind for r in records]
    assert kinds[:3] == [Kind.DATABASE_SERVICE, Kind.DATABASE, Kind.DATABASE_SCHEMA]
    assert kinds[-1] == Kind.SCHEMA_DONE and set(kinds[3:-1]) == {Kind.TABLE}
    assert records[0].body == {"name": "svc", "serviceType": "SQLite"}
    assert records[1].body == {"name": "main", "service": "svc"}
    assert records[2].body == {"name": "main", "database": "svc.main"}


def test_column_types_map_to_openmetadata_data_types(tmp_path, catalog):
    records, status = run_source(tmp_path, catalog)
    cols = {c["name"]: c for c in tables(records)["typed"]["columns"]}
    expected = {
        "i": "INT",
        "bi": "BIGINT",
        "si": "SMALLINT",
        "n": "NUMERIC",
        "d": "DECIMAL",
        "f": "FLOAT",
        "r": "FLOAT",
        "vc": "VARCHAR",
        "nvc": "VARCHAR",
        "c": "CHAR",
        "t": "TEXT",
        "b": "BLOB",
        "bo": "BOOLEAN",
        "dt": "DATE",
        "ts": "TIMESTAMP",
        "dtt": "DATETIME",
        "tm": "TIME",
        "js": "JSON",
    }
    assert {name: cols[name]["dataType"] for name in expected} == expected
    assert cols["vc"]["dataLength"] == 33 and cols["vc"]["dataTypeDisplay"] == "VARCHAR(33)"
    assert cols["c"]["dataLength"] == 4
    assert (cols["n"]["precision"], cols["n"]["scale"], cols["n"]["dataTypeDisplay"]) == (
        12,
        3,
        "NUMERIC(12,3)",
    )
    assert (cols["d"]["precision"], cols["d"]["scale"]) == (8, 0)
    assert [c["ordinalPosition"] for c in tables(records)["typed"]["columns"]] == list(range(1, 23))
    assert status.warning_count == 0
    # SQLAlchemy reads names SQLite does not know by their affinity (SQLite's own rule)
    assert {n: cols[n]["dataType"] for n in ("ti", "dp", "cl", "weird")} == {
        "ti": "INT",
        "dp": "FLOAT",
        "cl": "TEXT",
        "weird": "NUMERIC",
    }


def test_constraints_single_and_composite(tmp_path, catalog):
    records, _ = run_source(tmp_path, catalog)
    found = tables(records)
    parent_cols = {c["name"]: c for c in found["parent"]["columns"]}
    assert parent_cols["id"]["constraint"] == "PRIMARY_KEY"
    assert parent_cols["code"]["constraint"] == "UNIQUE"
    child = found["child"]
    child_cols = {c["name"]: c for c in child["columns"]}
    # columns of a composite key carry no column constraint: the key is a table constraint (as OpenMetadata)
    assert "constraint" not in child_cols["a"] and child_cols["note"]["constraint"] == "NULL"
    assert {"constraintType": "PRIMARY_KEY", "columns": ["a", "b"]} in child["tableConstraints"]
    assert {"constraintType": "UNIQUE", "columns": ["a", "note"]} in child["tableConstraints"]
    assert {
        "constraintType": "FOREIGN_KEY",
        "columns": ["parent_id"],
        "referredColumns": ["svc.main.main.parent.id"],
        "relationshipType": "MANY_TO_ONE",
    } in child["tableConstraints"]


def test_foreign_key_relationships_read_uniqueness_on_both_sides(tmp_path):
    db = make_sqlite(
        tmp_path / "fk.db",
        """
        CREATE TABLE person (id INTEGER PRIMARY KEY, tag TEXT);
        CREATE TABLE passport (person_id INTEGER PRIMARY KEY REFERENCES person (id));
        CREATE TABLE tagged (tag TEXT REFERENCES person (tag));
        CREATE TABLE badge (code TEXT, tag TEXT, UNIQUE (code), FOREIGN KEY (code) REFERENCES person (tag));
        """,
    )
    records, _ = run_source(tmp_path, db)
    kinds = {
        name: [c["relationshipType"] for c in t["tableConstraints"] if c["constraintType"] == "FOREIGN_KEY"]
        for name, t in tables(records).items()
    }
    assert kinds == {
        "person": [],
        "passport": ["ONE_TO_ONE"],
        "tagged": ["MANY_TO_MANY"],
        "badge": ["ONE_TO_MANY"],
    }


def test_views_carry_type_and_definition(tmp_path, catalog):
    records, _ = run_source(tmp_path, catalog)
    view = tables(records)["parent_codes"]
    assert view["tableType"] == "View"
    assert view["schemaDefinition"].startswith("CREATE VIEW parent_codes AS SELECT id, code FROM parent")
    assert tables(records)["parent"]["tableType"] == "Regular"


def test_awkward_names_keep_their_names_and_get_quoted_fqns(tmp_path, catalog):
    records, _ = run_source(tmp_path, catalog)
    found = tables(records)
    assert found["dotted.name"]["databaseSchema"] == "svc.main.main"
    assert [c["name"] for c in found["dotted.name"]["columns"]] == ["col.with.dots", "space col"]
    assert [c["name"] for c in found["select"]["columns"]] == ["from", "ünïcødé"]


def test_bad_tables_are_counted_failures_and_the_rest_is_read(tmp_path, catalog):
    records, status = run_source(tmp_path, catalog)
    failed = {i.name: i.reason for i in status.failures}
    assert set(failed) == {"svc.main.main.broken", 'svc.main.main.quo"te'}
    assert "no such table: main.gone" in failed["svc.main.main.broken"]
    assert "double quote" in failed['svc.main.main.quo"te']
    assert len(tables(records)) == 6
    assert status.records == 3 + 6
    # tables that exist but were not emitted are never soft-deleted by the sink
    assert sorted(records[-1].body["keep"]) == ["broken", 'quo"te']


def test_filters_follow_openmetadata_rules(tmp_path, catalog):
    records, status = run_source(
        tmp_path, catalog, tableFilterPattern={"includes": ["PAR.*", "child"], "excludes": ["parent_codes"]}
    )
    assert set(tables(records)) == {"parent", "child"}  # case-insensitive match from the start
    assert "svc.main.main.typed" in {i.name for i in status.filtered}
    assert "typed" in records[-1].body["keep"]


def test_fqn_filtering_matches_on_the_full_name(tmp_path, catalog):
    records, _ = run_source(
        tmp_path,
        catalog,
        useFqnForFiltering=True,
        tableFilterPattern={"includes": [r"svc\.main\.main\.child$"]},
    )
    assert set(tables(records)) == {"child"}


def test_schema_filter_and_include_switches(tmp_path, catalog):
    records, status = run_source(tmp_path, catalog, schemaFilterPattern={"excludes": ["main"]})
    assert not tables(records) and status.filtered[0].name == "svc.main.main"
    records, _ = run_source(tmp_path, catalog, includeViews=False)
    assert "parent_codes" not in tables(records) and "parent" in tables(records)
    records, _ = run_source(tmp_path, catalog, includeTables=False)
    assert set(tables(records)) == {"parent_codes"}


def test_a_missing_database_file_is_an_error_not_an_empty_catalog(tmp_path):
    with pytest.raises(StepError, match=r"databaseMode: no SQLite file at .*nope.db"):
        run_source(tmp_path, tmp_path / "nope.db")
    assert not (tmp_path / "nope.db").exists()


def test_a_file_that_is_not_sqlite_is_one_clear_line(tmp_path):
    not_db = tmp_path / "notes.db"
    not_db.write_text("these are not the tables you are looking for " * 100)
    with pytest.raises(StepError) as err:
        run_source(tmp_path, not_db)
    assert str(err.value) == (
        f"{tmp_path / 'r.yaml'}: cannot read SQLite database 'main' at {not_db}: file is not a database"
    )


def test_memory_mode_reads_an_empty_catalog(tmp_path):
    records, status = run_source(tmp_path, ":memory:")
    assert not tables(records) and status.failure_count == 0
