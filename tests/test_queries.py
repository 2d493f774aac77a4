"""Query parsing: names resolved exactly as the dialect folds them, never guessed; a parse
past parsingTimeoutLimit stopped for real; query shapes; the CSV log's time forms."""

import time
from datetime import UTC, datetime

import pytest

from om_dagster.queries.analyzer import follow_temps
from om_dagster.queries.log import parse_time
from om_dagster.queries.parser import Catalog, analyze, fingerprint, masked
from om_dagster.queries.pool import Parsers

TABLES = [
    (("shop", "public", "orders"), ["id", "amount"]),
    (("shop", "sales", "orders"), ["id", "total"]),
    (("shop", "sales", "Mixed"), ["Id", "total"]),
    (("shop", "sales", "mixed"), ["id"]),
]


def reads(sql: str, dialect: str = "postgres", **defaults) -> list:
    result = analyze(sql, dialect, Catalog(TABLES, dialect), "shop", defaults.get("schema"))
    return [tuple(k) for k in result["reads"]] or sorted(result["unresolved"].values())


def test_names_resolve_as_the_dialect_folds_them_and_an_ambiguous_one_is_not_guessed():
    assert reads("SELECT * FROM orders") == [("shop", "public", "orders")]  # PostgreSQL's default schema
    assert reads("SELECT * FROM orders", schema="sales") == [("shop", "sales", "orders")]
    assert reads('SELECT * FROM sales."Mixed"') == [("shop", "sales", "Mixed")]  # quoted: exact
    assert reads("SELECT * FROM sales.Mixed") == [("shop", "sales", "mixed")]  # unquoted: folded to lower
    assert reads("SELECT * FROM SHOP.SALES.ORDERS") == [("shop", "sales", "orders")]
    assert reads("SELECT * FROM nowhere.orders") == ["unknown table nowhere.orders"]
    # MySQL compares names without case here, and both `Mixed` and `mixed` match: no guess
    assert reads("SELECT * FROM sales.MIXED", "mysql") == [
        "ambiguous table sales.MIXED: shop.sales.Mixed, shop.sales.mixed"
    ]


def test_a_query_never_reads_another_databases_namesake():
    """The log says which database a query ran in: a table that database lacks is unknown, not
    the one of that name in another database."""
    tables = [(("mart", "sales", "orders"), ["id"]), (("other", "sales", "orders"), ["id"])]
    tables += [(("other", "sales", "returns"), ["id"])]
    catalog = Catalog(tables, "postgres")
    analysis = analyze("SELECT * FROM returns JOIN orders USING (id)", "postgres", catalog, "mart", "sales")
    assert analysis["reads"] == [("mart", "sales", "orders")]
    assert sorted(analysis["unresolved"].values()) == ["unknown table returns"]
    # a database the service does not hold: none of its tables, however few namesakes
    analysis = analyze("SELECT * FROM returns", "postgres", catalog, "elsewhere", "sales")
    assert sorted(analysis["unresolved"].values()) == ["unknown table returns"]


def test_a_join_with_a_temporary_table_is_no_join_of_tables():
    """A session's temporary table is no entity: a join with it names no pair of tables (the
    usage sink would warn of a table it cannot find)."""
    analysis = analyze(
        "SELECT * FROM orders o JOIN tmp_ids t ON o.id = t.id JOIN sales.orders s ON s.id = o.id",
        "postgres",
        Catalog(TABLES, "postgres"),
        "shop",
        None,
    )
    assert [tuple(map(tuple, pair)) for pair in analysis["joins"]] == [
        (("shop", "public", "orders", "id"), ("shop", "sales", "orders", "id"))
    ]


def test_writes_in_other_forms_are_the_create_or_insert_they_amount_to():
    """SELECT ... INTO TEMP (a temporary table of the session), Snowflake's CLONE (every
    column), MySQL's REPLACE INTO ... SELECT (which sqlglot leaves unparsed)."""
    pg = Catalog(TABLES, "postgres")
    into = analyze("SELECT id, amount INTO TEMP big FROM orders WHERE amount > 9", "postgres", pg, "shop")
    assert into["reads"] == [("shop", "public", "orders")] and into["edges"] == []
    [edge] = into["temps"]["big"]
    assert edge["columns"] == {
        "amount": [("shop", "public", "orders", "amount")],
        "id": [("shop", "public", "orders", "id")],
    }
    snow = Catalog([(("DB", "S", "T"), ["ID", "V"]), (("DB", "S", "T_COPY"), ["ID", "V"])], "snowflake")
    clone = analyze("CREATE OR REPLACE TABLE t_copy CLONE t AT (OFFSET => -60)", "snowflake", snow, "DB", "S")
    [edge] = clone["edges"]
    assert (edge["source"], edge["target"]) == (("DB", "S", "T"), ("DB", "S", "T_COPY"))
    assert edge["columns"] == {"ID": [("DB", "S", "T", "ID")], "V": [("DB", "S", "T", "V")]}
    my = Catalog([(("default", "shop", "a"), ["id", "n"]), (("default", "rep", "b"), ["id", "n"])], "mysql")
    replace = analyze("REPLACE INTO rep.b (id, n) SELECT id, n FROM a", "mysql", my, "shop")
    assert replace["writes"] == [("default", "rep", "b")] and replace["reads"] == [("default", "shop", "a")]
    assert replace["edges"][0]["columns"]["n"] == [("default", "shop", "a", "n")]
    # PostgreSQL's data-modifying CTE: the rows it deletes are what the INSERT writes
    archive = analyze(
        "WITH gone AS (DELETE FROM sales.orders WHERE id < 9 RETURNING *) "
        "INSERT INTO orders SELECT * FROM gone",
        "postgres",
        pg,
        "shop",
    )
    assert archive["writes"] == [("shop", "public", "orders"), ("shop", "sales", "orders")]
    [edge] = archive["edges"]
    assert edge["source"] == ("shop", "sales", "orders") and edge["columns"]["id"] == [
        ("shop", "sales", "orders", "id")
    ]


def test_a_temporary_table_created_then_filled_by_position_is_followed_by_its_own_columns():
    """CREATE TEMP TABLE t (columns), INSERT INTO t SELECT (no column list: by position), then a
    query reading t's columns: lineage from the tables that filled it, column by column; in
    Snowflake too, whose unquoted names fold to upper case."""
    for dialect, fold in (("postgres", str.lower), ("snowflake", str.upper)):
        tables = [(("db", "s", "fx"), ["cur", "rate_to_usd"]), (("db", "s", "out"), ["cur", "usd"])]
        catalog = Catalog(
            [((d, sc, fold(t)), [fold(c) for c in cols]) for (d, sc, t), cols in tables], dialect
        )
        session = [
            "CREATE TEMPORARY TABLE tmp (cur TEXT, rate NUMERIC)",
            "INSERT INTO tmp SELECT cur, rate_to_usd FROM fx",
            "INSERT INTO out (cur, usd) SELECT t.cur, t.rate * 2 FROM tmp t",
        ]
        temps: dict = {}
        declared: dict = {}
        edges = [
            e
            for sql in session
            for e in follow_temps(analyze(sql, dialect, catalog, "db", "s"), temps, declared)
        ]
        assert [(e["source"], e["target"]) for e in edges] == [
            (("db", "s", fold("fx")), ("db", "s", fold("out")))
        ]
        assert edges[0]["columns"] == {
            fold("cur"): [("db", "s", fold("fx"), fold("cur"))],
            fold("usd"): [("db", "s", fold("fx"), fold("rate_to_usd"))],
        }


def test_columns_that_choose_rows_are_not_sources_of_values():
    """An aggregate's FILTER, a window's PARTITION BY, its ORDER BY when the function has a
    column of its own: none is where a value comes from."""
    catalog = Catalog(
        [(("db", "s", "pay"), ["amount", "method", "day", "who"]), (("db", "s", "mix"), ["a", "b", "c"])],
        "postgres",
    )
    sql = (
        "INSERT INTO mix (a, b, c) SELECT sum(amount) FILTER (WHERE method = 'card'), "
        "sum(amount) OVER (PARTITION BY who ORDER BY day), "
        "row_number() OVER (PARTITION BY who ORDER BY day) FROM pay"
    )
    [edge] = analyze(sql, "postgres", catalog, "db", "s")["edges"]
    assert edge["columns"] == {
        "a": [("db", "s", "pay", "amount")],
        "b": [("db", "s", "pay", "amount")],
        "c": [("db", "s", "pay", "day")],  # a rank has no column of its own: its order's
    }


def test_merge_and_update_from_a_subquery_follow_its_columns():
    """The dbt and ELT shape: MERGE USING (SELECT ... GROUP BY) o ... UPDATE SET d.x = o.y,
    and UPDATE ... FROM (SELECT ...) s: each target column from the columns under o.y."""
    catalog = Catalog(
        [(("DB", "S", "STG"), ["ID", "AMOUNT", "AT"]), (("DB", "S", "DIM"), ["ID", "LTV", "FIRST_AT"])],
        "snowflake",
    )
    merge = (
        "MERGE INTO dim d USING (SELECT id, SUM(amount) AS total, MIN(at) AS first FROM stg GROUP BY id) o "
        "ON d.id = o.id WHEN MATCHED THEN UPDATE SET d.ltv = o.total, d.first_at = o.first"
    )
    update = (
        "UPDATE dim SET ltv = s.total FROM (SELECT id, SUM(amount) AS total FROM stg GROUP BY id) s "
        "WHERE dim.id = s.id"
    )
    for sql, expected in (
        (merge, {"LTV": [("DB", "S", "STG", "AMOUNT")], "FIRST_AT": [("DB", "S", "STG", "AT")]}),
        (update, {"LTV": [("DB", "S", "STG", "AMOUNT")]}),
    ):
        [edge] = analyze(sql, "snowflake", catalog, "DB", "S")["edges"]
        assert (edge["source"], edge["target"]) == (("DB", "S", "STG"), ("DB", "S", "DIM"))
        assert edge["columns"] == expected


def test_an_unqualified_using_column_is_the_left_tables_but_in_a_full_join():
    catalog = Catalog(
        [
            (("db", "s", "o"), ["id", "v"]),
            (("db", "s", "p"), ["id", "w"]),
            (("db", "s", "t"), ["id", "v", "w"]),
        ],
        "postgres",
    )

    def sources(join: str) -> list:
        sql = f"INSERT INTO t SELECT id, v, w FROM o {join} JOIN p USING (id)"
        edges = analyze(sql, "postgres", catalog, "db", "s")["edges"]
        return sorted(c for e in edges for c in e["columns"].get("id", []))

    assert sources("LEFT") == sources("INNER") == [("db", "s", "o", "id")]
    assert sources("FULL") == [("db", "s", "o", "id"), ("db", "s", "p", "id")]  # COALESCE of both


def test_a_lateral_subquery_gives_its_columns_as_a_joined_one():
    catalog = Catalog(
        [
            (("db", "s", "c"), ["id"]),
            (("db", "s", "o"), ["cid", "at", "v"]),
            (("db", "s", "t"), ["id", "at", "v"]),
        ],
        "postgres",
    )
    sql = (
        "INSERT INTO t SELECT c.id, lo.at, lo.v FROM c CROSS JOIN LATERAL "
        "(SELECT o.at, o.v FROM o WHERE o.cid = c.id ORDER BY o.at DESC LIMIT 1) AS lo"
    )
    edges = {e["source"][2]: e["columns"] for e in analyze(sql, "postgres", catalog, "db", "s")["edges"]}
    assert edges == {
        "c": {"id": [("db", "s", "c", "id")]},
        "o": {"at": [("db", "s", "o", "at")], "v": [("db", "s", "o", "v")]},
    }


def test_queries_differing_only_in_literals_are_one_shape():
    a = "SELECT * FROM orders WHERE id = 42 AND note = 'it''s'"
    b = "select * from orders where id = 7 and note = 'x'"
    assert masked(a) == "SELECT * FROM orders WHERE id = ? AND note = ?"
    assert fingerprint(a) != fingerprint(b)  # case is part of the text the server names
    assert fingerprint(a) == fingerprint("SELECT *  FROM orders\n WHERE id = 1 AND note = ''")
    assert masked("SELECT c1, t2.col3 FROM t2") == "SELECT c1, t2.col3 FROM t2"  # names keep digits


def test_a_parse_past_the_limit_is_stopped_and_the_workers_go_on():
    parsers = Parsers(TABLES, "postgres", workers=1, timeout=0.5)
    try:
        slow = "SELECT " + " + ".join(f"c{i}" for i in range(250_000)) + " FROM orders"
        started = time.monotonic()
        result = parsers.parse(slow, "shop", None)
        assert time.monotonic() - started < 3  # stopped near its limit, not parsed to the end (~3 s)
        assert result["error"] == "parsing took longer than parsingTimeoutLimit (0.5 s): stopped"
        assert parsers.parse("SELECT id FROM orders", "shop", None)["reads"] == [("shop", "public", "orders")]
    finally:
        parsers.close()
    assert all(not w.process.is_alive() for w in parsers.all)


@pytest.mark.parametrize(
    "text",
    [
        "2024-06-03 10:15:00.250000",  # the official client's only form
        "2024-06-03 10:15:00.25",
        "2024-06-03T10:15:00.250Z",
        "2024-06-03 12:15:00.250+02:00",
        "1717409700.25",  # epoch seconds
    ],
)
def test_a_log_time_in_any_iso_form_is_read_as_utc(text):
    assert parse_time(text) == datetime(2024, 6, 3, 10, 15, 0, 250000, tzinfo=UTC)


def test_a_log_time_without_fractions_is_read_too():
    assert parse_time("2024-06-03 10:15:00") == datetime(2024, 6, 3, 10, 15, tzinfo=UTC)
