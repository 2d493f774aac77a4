"""The profiler: profiles equal to values computed here, independently, from the same rows."""

import math
import statistics
import time

import pytest
import sqlalchemy
import yaml

from om_dagster.core.recipe import RecipeError
from om_dagster.location.definitions import build_definitions
from tests.catalog import ROWS, Catalog, profiler_recipe, quartile, rows, sqlite_catalog
from tests.conftest import EXAMPLES, recipe_dict, require_shared, write_recipe
from tests.test_postgres import recipe as postgres_recipe


@pytest.fixture
def profiled(tmp_path, catalog):
    """The catalog ingested, then profiled, both through their Dagster jobs."""

    def run(source_config: dict | None = None, processor: dict | None = None):
        folder = tmp_path / "wf"
        write_recipe(folder / "shop.yaml", catalog.recipe)
        write_recipe(folder / "shop_profiler.yaml", catalog.profiler_recipe(source_config, processor))
        defs = build_definitions(folder)
        assert defs.resolve_job_def("shop").execute_in_process().success
        return defs.resolve_job_def("shop_profiler").execute_in_process(raise_on_error=False)

    return run


def columns(standin, catalog: Catalog, table: str) -> dict[str, dict]:
    [profile] = standin.profiles(f"{catalog.prefix}.{table}")
    return {c["name"]: c for c in profile.get("columnProfile", [])}


def test_a_profile_has_the_numbers_computed_independently(profiled, catalog, standin):
    result = profiled(
        {
            "metrics": [
                "valuesCount",
                "nullCount",
                "nullProportion",
                "rowCount",
                "columnCount",
                "min",
                "max",
                "mean",
                "sum",
                "stddev",
                "median",
                "firstQuartile",
                "thirdQuartile",
                "interQuartileRange",
                "nonParametricSkew",
                "distinctCount",
                "distinctProportion",
                "uniqueCount",
                "uniqueProportion",
                "duplicateCount",
                "minLength",
                "maxLength",
            ]
        }
    )
    assert result.success
    [profile] = standin.profiles(f"{catalog.prefix}.sales")
    assert profile["tableProfile"]["rowCount"] == ROWS and profile["tableProfile"]["columnCount"] == 4
    assert "profileSample" not in profile["tableProfile"]  # no sample was taken
    if catalog.server is not None:  # the catalog's size (and MariaDB's creation time)
        assert profile["tableProfile"]["sizeInByte"] > 0
        assert ("createDateTime" in profile["tableProfile"]) == catalog.prefix.startswith("my.")
    cols = columns(standin, catalog, "sales")
    data = rows()
    amounts = [float(a) for _, a, _, _ in data if a is not None]
    amount = cols["amount"]
    assert amount["valuesCount"] == len(amounts) and amount["nullCount"] == ROWS - len(amounts)
    assert amount["nullProportion"] == pytest.approx((ROWS - len(amounts)) / ROWS)
    exact = sum(a for _, a, _, _ in data if a is not None)
    assert amount["sum"] == pytest.approx(float(exact), abs=0.005)  # not the truncated integer sum
    assert amount["sum"] != sum(int(a) for _, a, _, _ in data if a is not None)
    assert amount["mean"] == pytest.approx(statistics.fmean(amounts))
    assert amount["stddev"] == pytest.approx(statistics.pstdev(amounts), rel=1e-9)
    assert (amount["min"], amount["max"]) == (min(amounts), max(amounts))
    for key, q in (("firstQuartile", 0.25), ("median", 0.5), ("thirdQuartile", 0.75)):
        assert amount[key] == pytest.approx(quartile(amounts, q))
    assert amount["interQuartileRange"] == pytest.approx(quartile(amounts, 0.75) - quartile(amounts, 0.25))
    skew = (statistics.fmean(amounts) - quartile(amounts, 0.5)) / statistics.pstdev(amounts)
    assert amount["nonParametricSkew"] == pytest.approx(skew)
    names = [n for _, _, n, _ in data if n is not None]
    name = cols["name"]
    counts = {n: names.count(n) for n in set(names)}
    assert name["distinctCount"] == len(counts)
    assert name["uniqueCount"] == sum(1 for c in counts.values() if c == 1)
    assert name["duplicateCount"] == len(names) - len(counts)
    assert name["distinctProportion"] == pytest.approx(len(counts) / len(names))
    # lengths in characters, not bytes ("żółw" is 4 characters, 7 bytes)
    assert (name["minLength"], name["maxLength"]) == (min(map(len, names)), max(map(len, names)))
    unset = cols["unset"]
    assert (unset["valuesCount"], unset["nullCount"], unset["nullProportion"]) == (0, ROWS, 1.0)
    assert "distinctProportion" not in unset and "minLength" not in unset
    [blank] = standin.profiles(f"{catalog.prefix}.blank")
    assert blank["tableProfile"]["rowCount"] == 0
    assert {c["name"]: c["valuesCount"] for c in blank["columnProfile"]} == {"id": 0, "label": 0}
    assert "nullProportion" not in blank["columnProfile"][0]  # 0 of 0 rows is no proportion
    assert not standin.get("tables", f"{catalog.prefix}.big_sales").get("_profiles")  # includeViews false
    # the asset's materialization shows each table's shape, readable in the UI
    [metadata] = [
        e.event_specific_data.materialization.metadata
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    ]
    assert metadata["tables profiled"].value == 2 and metadata["rows counted"].value == ROWS
    shown = {r.data["table"]: r.data for r in metadata["profiles"].value.records}
    assert shown[f"{catalog.prefix}.sales"]["rows"] == ROWS
    assert (shown[f"{catalog.prefix}.sales"]["most nulls"], shown[f"{catalog.prefix}.sales"]["null %"]) == (
        "unset",
        100,
    )


SAMPLE_FORMS = {
    "1.13": {"profileSample": 50},
    "2.0": {"profileSampleConfig": {"sampleConfigType": "STATIC", "config": {"profileSample": 50}}},
}


@pytest.mark.parametrize("form", SAMPLE_FORMS)
def test_a_percentage_sample_is_one_dataset_every_metric_reads(profiled, catalog, standin, form):
    metrics = ["valuesCount", "uniqueCount", "distinctCount", "rowCount"]
    result = profiled({**SAMPLE_FORMS[form], "metrics": metrics})
    assert result.success
    [profile] = standin.profiles(f"{catalog.prefix}.sales")
    table = profile["tableProfile"]
    assert (table["profileSample"], table["profileSampleType"]) == (50, "PERCENTAGE")
    assert table["rowCount"] == ROWS  # the whole table, always
    ident = columns(standin, catalog, "sales")["id"]
    assert 150 < ident["valuesCount"] < 350
    # one sample: every id is read once, so as many distinct and unique ids as values
    assert ident["uniqueCount"] == ident["distinctCount"] == ident["valuesCount"]


def test_table_config_samples_rows_and_picks_columns(profiled, catalog, standin):
    table_config = {
        "fullyQualifiedName": f"{catalog.prefix}.sales",
        "profileSample": 40,
        "profileSampleType": "ROWS",
        "columnConfig": {
            "excludeColumns": ["unset"],
            "includeColumns": [{"columnName": "id"}, {"columnName": "amount", "metrics": ["max"]}],
        },
    }
    assert profiled(processor={"tableConfig": [table_config]}).success
    cols = columns(standin, catalog, "sales")
    assert set(cols) == {"id", "amount"}
    assert cols["id"]["valuesCount"] == 40
    assert set(cols["amount"]) == {"name", "timestamp", "valuesCount", "nullCount", "max"}


def test_the_seed_documents_fqn_filter_pattern_runs_with_a_warning(tmp_path, standin):
    db = sqlite_catalog(tmp_path / "shop.db")
    folder = tmp_path / "wf"
    write_recipe(folder / "shop.yaml", recipe_dict(db, server_url=standin.url))
    write_recipe(
        folder / "old.yaml", profiler_recipe(db, standin.url, {"fqnFilterPattern": "svc.main.main.sal.*"})
    )
    defs = build_definitions(folder)
    assert defs.resolve_job_def("shop").execute_in_process().success
    result = defs.resolve_job_def("old").execute_in_process()
    assert result.success
    assert standin.profiles("svc.main.main.sales") and not standin.get("tables", "svc.main.main.blank").get(
        "_profiles"
    )


def test_a_source_without_a_query_engine_is_a_one_line_error(tmp_path):
    from om_dagster.core.loader import build_recipe

    recipe = profiler_recipe(tmp_path / "x.db", "http://127.0.0.1:1/api")
    recipe["source"]["type"] = "dynamodb"
    recipe["source"]["serviceConnection"] = {
        "config": {"type": "DynamoDB", "awsConfig": {"awsRegion": "us-east-1"}}
    }
    with pytest.raises(RecipeError) as err:
        build_recipe(recipe, tmp_path / "dynamo_profiler.yaml")
    assert "source.type: 'dynamodb' has no query engine" in str(err.value) and "\n" not in str(err.value)


def test_statements_per_table_do_not_grow_with_its_columns(postgres):
    """The table's size from the catalog, the fused aggregate, the distinct/unique pass:
    3 statements, at 3 columns as at 60."""
    from om_dagster.profiler.config import ProfilerSourceConfig, table_settings
    from om_dagster.profiler.dialects import dialect_for
    from om_dagster.profiler.table import TableProfiler

    settings = table_settings(ProfilerSourceConfig(), None, None)
    sent: list[str] = []
    sqlalchemy.event.listen(postgres.engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    for width in (3, 60):
        names = [f"c{i}" for i in range(width)]
        with postgres.engine.begin() as conn:
            conn.execute(
                sqlalchemy.text(f"CREATE TABLE w{width} ({', '.join(f'{n} INTEGER' for n in names)})")
            )
            values = ", ".join("g" for _ in names)
            conn.execute(
                sqlalchemy.text(f"INSERT INTO w{width} SELECT {values} FROM generate_series(1, 100) g")
            )
        sent.clear()
        with postgres.engine.connect() as conn:
            result = TableProfiler(conn, dialect_for(postgres.engine), settings).profile(
                "public", f"w{width}", [{"name": n, "dataType": "INT"} for n in names], 0
            )
        queries = [q for q in sent if not q.startswith("SET ")]
        assert result.statements == len(queries) == 3, queries
        assert result.body["tableProfile"]["sizeInByte"] > 0
        assert len(result.body["columnProfile"]) == width
        assert result.body["columnProfile"][-1]["median"] == 50.5


def test_timeout_seconds_cancels_the_statement_in_the_database(tmp_path, catalog, standin):
    """A profile query that would run for hours is cancelled by the database at the budget:
    the table is a counted failure naming the cause, and the other tables are profiled."""
    slow = {
        "fullyQualifiedName": f"{catalog.prefix}.sales",
        "profileQuery": "SELECT s.* FROM sales s, sales a, sales b, sales c",  # 500^4 rows
    }
    folder = tmp_path / "wf"
    write_recipe(folder / "shop.yaml", catalog.recipe)
    profiler = catalog.profiler_recipe({"timeoutSeconds": 2}, {"tableConfig": [slow]})
    profiler["workflowConfig"]["raiseOnError"] = False
    write_recipe(folder / "shop_profiler.yaml", profiler)
    defs = build_definitions(folder)
    assert defs.resolve_job_def("shop").execute_in_process().success
    started = time.monotonic()
    result = defs.resolve_job_def("shop_profiler").execute_in_process()
    assert time.monotonic() - started < 30
    assert not standin.get("tables", f"{catalog.prefix}.sales").get("_profiles")
    assert standin.profiles(f"{catalog.prefix}.blank")
    [failures] = [
        e.event_specific_data.materialization.metadata["failed entities"].value
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    ]
    assert "cancelled it at the 2 s budget (timeoutSeconds)" in failures
    if catalog.prefix.startswith("pg."):
        server = catalog.server
        with server.engine.connect() as conn:
            mine = "query LIKE '%sales s, sales a%' AND state = 'active' AND pid <> pg_backend_pid()"
            running = conn.execute(
                sqlalchemy.text(f"SELECT count(*) FROM pg_stat_activity WHERE {mine}")
            ).scalar()
        assert running == 0


def test_the_official_profiler_example_runs_with_only_host_and_credentials_changed(tmp_path, mysql, standin):
    """`mysql_profiler.yaml` (its filter keeps schemas named `openmetadata_db*`), after
    `mysql.yaml`: both as printed, but for the server, the credentials and mysql.yaml's
    `databaseSchema` (the database it reads)."""
    require_shared()
    schema = f"openmetadata_db_{mysql.database}"
    with mysql.engine.connect() as conn:
        conn.execute(sqlalchemy.text(f"CREATE DATABASE {schema}"))
        conn.execute(sqlalchemy.text(f"CREATE TABLE {schema}.films (id INT PRIMARY KEY, title TEXT)"))
        conn.execute(sqlalchemy.text(f"INSERT INTO {schema}.films VALUES (1, 'Alien'), (2, 'Heat')"))
    try:
        folder = tmp_path / "wf"
        for name in ("mysql", "mysql_profiler"):
            data = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
            data["source"]["serviceConnection"]["config"].update(
                hostPort=mysql.host_port, username=mysql.user, authType={"password": mysql.password}
            )
            if name == "mysql":
                data["source"]["serviceConnection"]["config"]["databaseSchema"] = schema
            data["workflowConfig"]["openMetadataServerConfig"]["hostPort"] = standin.url
            write_recipe(folder / f"{name}.yaml", data)
        defs = build_definitions(folder)
        assert defs.resolve_job_def("mysql").execute_in_process().success
        assert defs.resolve_job_def("mysql_profiler").execute_in_process().success
        [profile] = standin.profiles(f"local_mysql.default.{schema}.films")
        assert profile["tableProfile"]["rowCount"] == 2
        title = next(c for c in profile["columnProfile"] if c["name"] == "title")
        assert (title["valuesCount"], title["distinctCount"]) == (2, 2)
    finally:
        with mysql.engine.connect() as conn:
            conn.execute(sqlalchemy.text(f"DROP DATABASE {schema}"))


def test_a_histogram_on_request_counts_every_value_into_openmetadata_bins(profiled, catalog, standin):
    assert profiled({"metrics": ["valuesCount", "histogram"]}).success
    amount = columns(standin, catalog, "sales")["amount"]
    values = [float(a) for _, a, _, _ in rows() if a is not None]
    iqr = quartile(values, 0.75) - quartile(values, 0.25)
    width = 2 * iqr * len(values) ** (-1 / 3)  # Freedman-Diaconis, as OpenMetadata bins
    count = math.ceil((max(values) - min(values)) / width)
    expected = [0] * count
    for v in values:
        expected[min(int((v - min(values)) // width), count - 1)] += 1
    histogram = amount["histogram"]
    assert histogram["frequencies"] == expected and sum(histogram["frequencies"]) == len(values)
    assert histogram["boundaries"][0] == f"{min(values):.3f} to {min(values) + width:.3f}"
    assert histogram["boundaries"][-1].endswith(" and up")
    assert set(amount) == {"name", "timestamp", "valuesCount", "nullCount", "histogram"}
    assert "histogram" not in columns(standin, catalog, "sales")["name"]  # numbers only


def test_a_column_over_its_share_of_the_budget_loses_its_metrics_not_the_table(tmp_path, postgres, standin):
    """A view whose column `s` takes 0.1 s a row: the fused scan outlives half of the 2 s
    budget, then `id` is profiled alone and `s`, over its share, is left out with a warning.
    The distinct/unique pass, run beside the scan, reads `s` too: cancelled at the budget,
    its counts are left out with a second warning."""
    with postgres.engine.begin() as conn:
        for statement in (
            "CREATE TABLE base (id INTEGER)",
            "INSERT INTO base SELECT g FROM generate_series(1, 40) g",
            "CREATE FUNCTION paced(x INTEGER) RETURNS INTEGER LANGUAGE plpgsql STABLE AS "
            "'BEGIN PERFORM pg_sleep(0.1); RETURN x; END'",
            "CREATE VIEW slow AS SELECT id, paced(id) AS s FROM base",
        ):
            conn.execute(sqlalchemy.text(statement))
    catalog = Catalog(postgres_recipe(postgres, standin), f"pg.{postgres.database}.public", postgres)
    folder = tmp_path / "wf"
    write_recipe(folder / "shop.yaml", catalog.recipe)
    only_the_view = {
        "includeViews": True,
        "tableFilterPattern": {"includes": ["^slow$"]},
        "timeoutSeconds": 2,
    }
    write_recipe(folder / "shop_profiler.yaml", catalog.profiler_recipe(only_the_view))
    defs = build_definitions(folder)
    assert defs.resolve_job_def("shop").execute_in_process().success
    result = defs.resolve_job_def("shop_profiler").execute_in_process()
    assert result.success
    [profile] = standin.profiles(f"{catalog.prefix}.slow")
    assert profile["tableProfile"]["rowCount"] == 40
    assert [c["name"] for c in profile["columnProfile"]] == ["id"]
    assert profile["columnProfile"][0]["median"] == 20.5
    assert "distinctCount" not in profile["columnProfile"][0]
    [metadata] = [
        e.event_specific_data.materialization.metadata
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    ]
    assert metadata["processor:orm-profiler warnings"].value == 2


def test_sqlite_stddev_keeps_its_digits_far_from_zero(tmp_path):
    """Values near 10^12 (or epoch seconds) with a small spread: E[x²] - E[x]² on raw values
    loses every digit (519,917.8 for a true 28.87); shifted next to the data it does not.
    Times SQLite keeps as text come out in ISO form, dates as dates."""
    from om_dagster.profiler.config import ProfilerSourceConfig, table_settings
    from om_dagster.profiler.dialects import dialect_for
    from om_dagster.profiler.table import TableProfiler

    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'far.db'}")
    values = [10**12 + n for n in range(100)]
    epochs = [1_700_000_000 + n * 10 for n in range(100)]
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("CREATE TABLE far (big INTEGER, epoch INTEGER, day DATE, at TIMESTAMP)"))
        conn.execute(
            sqlalchemy.text("INSERT INTO far VALUES (:b, :e, '2024-01-02', '2024-01-02 03:04:05')"),
            [{"b": b, "e": e} for b, e in zip(values, epochs, strict=True)],
        )
    settings = table_settings(ProfilerSourceConfig(metrics=["stddev", "min"]), None, None)
    with engine.connect() as conn:
        result = TableProfiler(conn, dialect_for(engine), settings).profile(
            "main",
            "far",
            [
                {"name": "big", "dataType": "BIGINT"},
                {"name": "epoch", "dataType": "INT"},
                {"name": "day", "dataType": "DATE"},
                {"name": "at", "dataType": "TIMESTAMP"},
            ],
            0,
        )
    by_name = {c["name"]: c for c in result.body["columnProfile"]}
    assert (by_name["day"]["min"], by_name["at"]["min"]) == ("2024-01-02", "2024-01-02T03:04:05")
    got = {name: by_name[name]["stddev"] for name in ("big", "epoch")}
    assert result.statements == 1  # still the one fused scan
    assert got["big"] == pytest.approx(statistics.pstdev(values), rel=1e-9)
    assert got["epoch"] == pytest.approx(statistics.pstdev(epochs), rel=1e-9)
