"""Benchmark: om-dagster's usage workflow (`query-log-usage`) against the official `metadata usage`.

    .venv/bin/python bench/usage.py --peer /tmp/om-peer/bin/metadata     # 100,000 queries
    .venv/bin/python bench/usage.py --queries 2000 --peer-queries 200 --peer /tmp/om-peer/bin/metadata
    .venv/bin/python bench/usage.py                                      # ours alone

The data (under /tmp/usagebench): a SQLite catalog of 200 tables (50 business entities, each
in 4 layers `raw_`, `stg_`, `core_`, `mart_`; 4 to 8 columns: `id`, `created_at`, 1 to 3
`<entity>_id` references, a few attributes) and a CSV query log in OpenMetadata's columns
(`query_text`, `user_name`, `start_time` as `%Y-%m-%d %H:%M:%S.%f`, which the official
client requires, `database_name`, `schema_name`, `aborted`). Its queries, drawn from a fixed
seed: SELECTs joining 2 to 4 tables on their references, CTEs, aggregates, INSERT ... SELECT
from one layer into the next, UPDATEs, by 12 users; ~30% of them a new shape, the others an
earlier shape again (popular ones more often) with other literals; ~1% aborted; spread
evenly over the 7 days before today (UTC). The log of N queries is the first N queries of
any longer one, their times spread over the same 7 days.

Each run gets a fresh stand-in server (tests/standin.py, in its own process). The service's
metadata recipe puts the catalog there first, through om-dagster for both clients (not
timed); then the usage recipe (`query-log-usage`, processor `query-parser`, stage
`table-usage`, bulk sink `metadata-usage`) runs, timed with its CLI's start-up: ours through
`dagster job execute`, as bench/ingest.py runs ingestion, the official client's (`--peer`,
see ../shared/peer/README.md) through `metadata usage`. Printed per run: wall seconds,
queries/s, peak RSS (the process and the children it waited for, the largest of them),
requests the server received during the run. Ours runs at N and N/10 (is its memory flat?).

The official client parses ~10 queries/s here: it runs on the first `--peer-queries` queries
(2,000), ours on the same log too, and the official figure for N is extrapolated, labelled as
such. Their usage counts on the stand-in (per table and day) are compared with each other and
with what the generator put in the log, and the requests the stand-in could not route listed.
"""

import argparse
import csv
import importlib.util
import json
import os
import random
import re
import sqlite3
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ingest import ServeProcess, machine  # bench/ingest.py: the same machine line and ports
from ingest import recipe as ingest_recipe

# bench/profile.py's timing, revision line and id pattern, loaded by its path: its name is the
# standard library's `profile`
_spec = importlib.util.spec_from_file_location("bench_profile", Path(__file__).with_name("profile.py"))
assert _spec is not None and _spec.loader is not None
bench_profile = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_profile)
UUID, revision, timed = bench_profile.UUID, bench_profile.revision, bench_profile.timed

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve()
OUT = Path("/tmp/usagebench")
DAGSTER = Path(sys.executable).parent / "dagster"
TOKEN = "bench-token"
SERVICE = "usage_bench"
SEED = "om-dagster usage bench"
NEW_SHAPE = 0.30  # share of queries that are a shape not seen before
ABORTED = 0.01
DAYS = 7

# --- the catalog --------------------------------------------------------------------------

ENTITIES = [
    "customers",
    "orders",
    "order_items",
    "products",
    "categories",
    "suppliers",
    "shipments",
    "invoices",
    "payments",
    "refunds",
    "carts",
    "sessions",
    "page_views",
    "campaigns",
    "ad_clicks",
    "leads",
    "accounts",
    "contacts",
    "opportunities",
    "employees",
    "departments",
    "payroll",
    "timesheets",
    "warehouses",
    "inventory",
    "stock_moves",
    "purchase_orders",
    "vendors",
    "returns",
    "reviews",
    "subscriptions",
    "plans",
    "coupons",
    "addresses",
    "regions",
    "stores",
    "channels",
    "events",
    "tickets",
    "agents",
    "calls",
    "emails",
    "devices",
    "app_installs",
    "experiments",
    "assignments",
    "budgets",
    "ledger_entries",
    "currencies",
    "exchange_rates",
]
LAYERS = ("raw", "stg", "core", "mart")
# attribute: (type, literal kind of its values: see `literal`)
ATTRIBUTES = {
    "status": ("VARCHAR(16)", "S"),
    "amount": ("DECIMAL(12, 2)", "N"),
    "quantity": ("INTEGER", "Q"),
    "name": ("VARCHAR(64)", "T"),
    "country": ("CHAR(2)", "C"),
    "channel": ("VARCHAR(16)", "H"),
    "score": ("REAL", "N"),
    "is_active": ("BOOLEAN", "B"),
    "updated_at": ("TIMESTAMP", "D"),
}
NUMERIC = ("amount", "quantity", "score")


def singular(noun: str) -> str:
    if noun.endswith("ies"):
        return noun[:-3] + "y"
    if noun.endswith(("sses", "ches", "xes")):
        return noun[:-2]
    return noun[:-1] if noun.endswith("s") else noun


@dataclass(frozen=True)
class Entity:
    noun: str
    refs: tuple[str, ...]  # entities it references (`<entity>_id`)
    attrs: tuple[str, ...]

    def columns(self) -> list[str]:
        return ["id", *(f"{singular(r)}_id" for r in self.refs), *self.attrs, "created_at"]


def entities() -> dict[str, Entity]:
    out = {}
    for i, noun in enumerate(ENTITIES):
        rng = random.Random(f"{SEED} entity {i}")
        refs = rng.sample([e for e in ENTITIES if e != noun], rng.randint(1, 3))
        attrs = rng.sample(list(ATTRIBUTES), rng.randint(2, 3))
        out[noun] = Entity(noun, tuple(refs), tuple(a for a in ATTRIBUTES if a in attrs))
    return out


CATALOG = entities()
# noun -> (other noun, my column, its column): both ways along every reference
RELATIONS: dict[str, list[tuple[str, str, str]]] = {n: [] for n in ENTITIES}
for _entity in CATALOG.values():
    for _ref in _entity.refs:
        RELATIONS[_entity.noun].append((_ref, f"{singular(_ref)}_id", "id"))
        RELATIONS[_ref].append((_entity.noun, "id", f"{singular(_ref)}_id"))


def table_name(layer: str, noun: str) -> str:
    return f"{layer}_{noun}"


def catalog_db() -> Path:
    """The SQLite file of the 200 tables (made once)."""
    path = OUT / "catalog.db"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        conn = sqlite3.connect(tmp)
        with conn:
            for layer in LAYERS:
                for entity in CATALOG.values():
                    cols = [
                        "id INTEGER PRIMARY KEY",
                        *(f"{singular(r)}_id INTEGER" for r in entity.refs),
                        *(f"{a} {ATTRIBUTES[a][0]}" for a in entity.attrs),
                        "created_at TIMESTAMP",
                    ]
                    conn.execute(f"CREATE TABLE {table_name(layer, entity.noun)} ({', '.join(cols)})")
        conn.close()
        tmp.rename(path)
    return path


# --- the query log ------------------------------------------------------------------------

STATUSES = ("open", "closed", "pending", "shipped", "cancelled", "active", "failed")
COUNTRIES = ("DE", "FR", "US", "GB", "IT", "ES", "NL", "JP", "BR", "IN")
CHANNELS = ("web", "store", "mobile", "partner", "email")
ANALYSTS = ("alice", "bob", "carol", "dave", "erin", "looker_svc", "tableau_svc", "metabase")
LOADERS = ("etl_airflow", "dbt_prod", "fivetran", "dbt_prod")
SLOT = re.compile(r"§(\w)")


def literal(kind: str, rng: random.Random, today: datetime) -> str:
    if kind == "D":
        return f"'{(today - timedelta(days=rng.randint(1, 90))).date().isoformat()}'"
    if kind == "S":
        return f"'{rng.choice(STATUSES)}'"
    if kind == "C":
        return f"'{rng.choice(COUNTRIES)}'"
    if kind == "H":
        return f"'{rng.choice(CHANNELS)}'"
    if kind == "T":
        return f"'{rng.choice('abcdefgh')}{rng.randint(1, 999)}%'"
    if kind == "N":
        return f"{rng.randint(1, 999_999) / 100:.2f}"
    if kind == "Q":
        return str(rng.randint(1, 500))
    if kind == "L":
        return str(rng.choice((10, 20, 50, 100, 1000)))
    if kind == "B":
        return str(rng.randint(0, 1))
    return str(rng.randint(1, 10_000_000))  # I: an id


@dataclass
class Shape:
    """A query with its literals as `§<kind>` slots; the tables it reads and writes."""

    kind: str
    template: str
    tables: frozenset[str]


class Builder:
    """New query shapes, from one random stream."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def layer(self, reading: bool = True) -> str:
        weights = (1, 2, 4, 3) if reading else (0, 2, 3, 2)
        return self.rng.choices(LAYERS, weights)[0]

    def chain(self, size: int) -> list[tuple[str, str, str, str | None]]:
        """`size` tables joined along references: (table, noun, alias, ON condition)."""
        rng = self.rng
        layer = self.layer()
        noun = rng.choice(ENTITIES)
        out: list[tuple[str, str, str, str | None]] = [(table_name(layer, noun), noun, "t1", None)]
        used = {noun}
        while len(out) < size:
            options = [
                (alias, other, mine, theirs)
                for _, n, alias, _ in out
                for other, mine, theirs in RELATIONS[n]
                if other not in used
            ]
            if not options:
                break
            alias, other, mine, theirs = rng.choice(options)
            joined = layer if rng.random() < 0.8 else self.layer()
            new = f"t{len(out) + 1}"
            out.append((table_name(joined, other), other, new, f"{alias}.{mine} = {new}.{theirs}"))
            used.add(other)
        return out

    def attr(self, noun: str) -> str:
        return self.rng.choice(CATALOG[noun].attrs)

    def condition(self, alias: str, noun: str) -> str:
        rng = self.rng
        if rng.random() < 0.5:
            return f"{alias}.created_at >= §D"
        attr = self.attr(noun)
        kind = ATTRIBUTES[attr][1]
        op = rng.choice((">", "<", ">=")) if attr in NUMERIC else ("LIKE" if kind == "T" else "=")
        return f"{alias}.{attr} {op} §{kind}"

    def select_join(self) -> Shape:
        rng = self.rng
        chain = self.chain(rng.choice((2, 2, 3, 3, 4)))
        picked = rng.sample(chain, min(len(chain), 2))
        dims = [f"{alias}.{self.attr(noun)}" for _, noun, alias, _ in picked]
        numeric = [(a, x) for _, n, a, _ in chain for x in CATALOG[n].attrs if x in NUMERIC]
        measures = ["count(*) AS n"]
        if numeric:
            alias, attr = rng.choice(numeric)
            measures.append(f"{rng.choice(('sum', 'avg', 'max'))}({alias}.{attr}) AS {attr}_agg")
        sql = f"SELECT {', '.join(dims + measures)}\nFROM {chain[0][0]} {chain[0][2]}"
        for table, _, alias, on in chain[1:]:
            sql += f"\n{'LEFT JOIN' if rng.random() < 0.3 else 'JOIN'} {table} {alias} ON {on}"
        where = [self.condition(a, n) for _, n, a, _ in rng.sample(chain, rng.randint(1, 2))]
        sql += f"\nWHERE {' AND '.join(where)}\nGROUP BY {', '.join(str(i + 1) for i in range(len(dims)))}"
        if rng.random() < 0.5:
            sql += "\nORDER BY n DESC LIMIT §L"
        return Shape("select", sql, frozenset(t for t, *_ in chain))

    def simple(self) -> Shape:
        rng = self.rng
        noun = rng.choice(ENTITIES)
        table = table_name(self.layer(), noun)
        columns = CATALOG[noun].columns()
        chosen = ", ".join(c for c in columns if rng.random() < 0.6) or "*"
        if rng.random() < 0.4:
            return Shape("select", f"SELECT {chosen} FROM {table} WHERE id = §I", frozenset({table}))
        return Shape(
            "select",
            f"SELECT {chosen} FROM {table} t1 WHERE {self.condition('t1', noun)} "
            f"ORDER BY t1.created_at DESC LIMIT §L",
            frozenset({table}),
        )

    def aggregate(self) -> Shape:
        rng = self.rng
        noun = rng.choice(ENTITIES)
        table = table_name(self.layer(), noun)
        entity = CATALOG[noun]
        keys = [*entity.attrs, *(f"{singular(r)}_id" for r in entity.refs), "date(created_at)"]
        group = rng.sample(keys, rng.randint(1, 2))
        numeric = [a for a in entity.attrs if a in NUMERIC]
        measures = ["count(*) AS n"]
        if numeric:
            measures += [
                f"{f}({a}) AS {f}_{a}" for a in numeric for f in rng.sample(("sum", "avg", "max"), 1)
            ]
        else:
            measures.append(f"count(DISTINCT {singular(rng.choice(entity.refs))}_id) AS refs")
        where = ["created_at >= §D"] + ([self.condition(table, noun)] if rng.random() < 0.5 else [])
        sql = (
            f"SELECT {', '.join(group + measures)} FROM {table} "
            f"WHERE {' AND '.join(where)} GROUP BY {', '.join(group)}"
        )
        if rng.random() < 0.5:
            sql += " HAVING count(*) > §Q"
        if rng.random() < 0.5:
            sql += " ORDER BY n DESC LIMIT §L"
        return Shape("select", sql, frozenset({table}))

    def cte(self) -> Shape:
        rng = self.rng
        chain = self.chain(rng.choice((2, 3)))
        (first, noun, _, _), rest = chain[0], chain[1:]
        ref = rng.choice(CATALOG[noun].refs)
        key = f"{singular(ref)}_id"
        inner = f"SELECT t1.id, t1.{key}, t1.created_at FROM {first} t1"
        for table, _, alias, on in rest:
            inner += f" JOIN {table} {alias} ON {on}"
        inner += f" WHERE {self.condition('t1', noun)}"
        target = table_name(self.layer(), ref)
        attr = self.attr(ref)
        sql = (
            f"WITH recent AS (\n  {inner}\n), totals AS (\n  SELECT r.{key} AS key_id, count(*) AS n "
            f"FROM recent r GROUP BY r.{key}\n)\nSELECT d.{attr}, sum(t.n) AS n FROM totals t "
            f"JOIN {target} d ON t.key_id = d.id\nGROUP BY d.{attr} ORDER BY n DESC LIMIT §L"
        )
        return Shape("select", sql, frozenset({t for t, *_ in chain} | {target}))

    def insert(self) -> Shape:
        rng = self.rng
        noun = rng.choice(ENTITIES)
        step = rng.randint(0, len(LAYERS) - 2)
        source, target = table_name(LAYERS[step], noun), table_name(LAYERS[step + 1], noun)
        columns = [c for i, c in enumerate(CATALOG[noun].columns()) if i == 0 or rng.random() < 0.75]
        select = ", ".join(f"s.{c}" for c in columns)
        sql = f"INSERT INTO {target} ({', '.join(columns)})\nSELECT {select}\nFROM {source} s"
        tables = {source, target}
        if rng.random() < 0.4:
            ref = rng.choice(CATALOG[noun].refs)
            joined = table_name(LAYERS[step], ref)
            sql += f"\nJOIN {joined} r ON s.{singular(ref)}_id = r.id"
            tables.add(joined)
            where = [f"r.{self.attr(ref)} IS NOT NULL"]
        else:
            where = [self.condition("s", noun)]
        if rng.random() < 0.5:  # incremental: what the target lacks
            where.append(f"s.id > (SELECT coalesce(max(id), 0) FROM {target})")
        else:
            where.append("s.created_at >= §D")
        sql += f"\nWHERE {' AND '.join(where)}"
        return Shape("write", sql, frozenset(tables))

    def update(self) -> Shape:
        rng = self.rng
        noun = rng.choice(ENTITIES)
        entity = CATALOG[noun]
        table = table_name(self.layer(reading=False), noun)
        attrs = rng.sample(entity.attrs, rng.randint(1, len(entity.attrs)))
        sets = ", ".join(f"{a} = §{ATTRIBUTES[a][1]}" for a in attrs)
        extra = f" AND {self.condition(table, noun)}" if rng.random() < 0.5 else ""
        back = [other for other, mine, _ in RELATIONS[noun] if mine == "id"]  # entities referencing it
        if back and rng.random() < 0.6:
            other = rng.choice(back)
            source = table_name(self.layer(), other)
            inner = self.condition(source, other)
            sql = (
                f"UPDATE {table} SET {sets} WHERE id IN (SELECT {singular(noun)}_id FROM {source} "
                f"WHERE {inner}){extra}"
            )
            return Shape("write", sql, frozenset({table, source}))
        return Shape("write", f"UPDATE {table} SET {sets} WHERE created_at < §D{extra}", frozenset({table}))

    def new(self) -> Shape:
        kinds = (self.select_join, self.simple, self.aggregate, self.cte, self.insert, self.update)
        return self.rng.choices(kinds, (35, 15, 15, 12, 13, 10))[0]()


def query_log(n: int, today: datetime) -> tuple[Path, dict, dict]:
    """The log of `n` queries (written under OUT), and what the generator put in it: usage
    per table and day of the queries not aborted, and of all of them (the official client
    does not skip aborted queries)."""
    path = OUT / f"queries_{n}_{today.date().isoformat()}.csv"
    rng, times = random.Random(SEED), random.Random(f"{SEED} times")
    builder = Builder(rng)
    shapes: list[Shape] = []
    start = today - timedelta(days=DAYS)
    span = DAYS * 86400
    kept: dict[str, Counter] = {}
    every: dict[str, Counter] = {}
    tmp = path.with_suffix(".tmp")
    OUT.mkdir(parents=True, exist_ok=True)
    with tmp.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["query_text", "user_name", "start_time", "database_name", "schema_name", "aborted"])
        for k in range(n):
            if not shapes or rng.random() < NEW_SHAPE:
                shape = builder.new()
                shapes.append(shape)
            else:  # earlier shapes again, the first ones (the popular dashboards, jobs) the most
                shape = shapes[int(len(shapes) * rng.random() ** 2)]
            text = SLOT.sub(lambda m: literal(m.group(1), rng, today), shape.template)
            user = rng.choice(LOADERS if shape.kind == "write" else ANALYSTS)
            aborted = rng.random() < ABORTED
            moment = start + timedelta(seconds=(k + times.random()) * span / n)
            writer.writerow(
                [
                    text,
                    user,
                    moment.strftime("%Y-%m-%d %H:%M:%S.%f"),
                    "main",
                    "main",
                    "true" if aborted else "false",
                ]
            )
            day = moment.date().isoformat()
            for table in shape.tables:
                fqn = f"{SERVICE}.main.main.{table}"
                every.setdefault(fqn, Counter())[day] += 1
                if not aborted:
                    kept.setdefault(fqn, Counter())[day] += 1
    tmp.replace(path)
    return path, kept, every


def shapes_in(path: Path) -> tuple[int, int]:
    """Queries, and distinct ones once literals are masked (om-dagster's `masked`)."""
    from om_dagster.queries.parser import masked

    with path.open(newline="", encoding="utf-8") as handle:
        texts = [row["query_text"] for row in csv.DictReader(handle)]
    return len(texts), len({masked(t) for t in texts})


# --- recipes and the server ---------------------------------------------------------------


def recipes(db: Path, log: Path, stage: Path, port: int) -> tuple[str, str]:
    """bench/ingest.py's metadata recipe of the catalog, and the same service's usage recipe."""
    source = {"type": "sqlite", "config": {"type": "SQLite", "databaseMode": str(db), "database": "main"}}
    metadata = ingest_recipe(source, SERVICE, port)
    usage = json.loads(metadata)
    usage["source"]["type"] = "query-log-usage"
    usage["source"]["sourceConfig"] = {"config": {"type": "DatabaseUsage", "queryLogFilePath": str(log)}}
    del usage["sink"]
    usage["processor"] = {"type": "query-parser", "config": {}}
    usage["stage"] = {"type": "table-usage", "config": {"filename": str(stage)}}
    usage["bulkSink"] = {"type": "metadata-usage", "config": {"filename": str(stage)}}
    return metadata, json.dumps(usage, indent=1)


def serve(port: int, version: str, as_is: bool) -> None:
    """`--serve`: the stand-in, plus the usage it holds and what it could not route. Unless
    `as_is`, also the official client's query calls as the server answers them (see FIXES)."""
    sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != HERE.parent]
    from tests.standin import SCHEMA_DIR, ApiError, StandIn, _public, _template

    query_fields = set(json.loads((SCHEMA_DIR / "entity/data/query.json").read_text())["properties"])
    extra = re.compile(r"queries/([0-9a-f-]{36})/(usage|users|usedBy)")

    class BenchStandIn(StandIn):
        unrouted: Counter = Counter()
        fixed: Counter = Counter()

        def _query(self, payload: Any) -> Any:
            """A Query as the server answers it: only query.json's fields (the stand-in's
            answers also carry `dialect`, `deleted`, `serviceType`, which the official client's
            `Query` model refuses)."""
            if isinstance(payload, dict) and extra_keys(payload):
                self.fixed["Query answers without " + ", ".join(sorted(extra_keys(payload)))] += 1
                return {k: v for k, v in payload.items() if k in query_fields}
            return payload

        def _query_link(self, query_id: str, what: str, body: Any) -> tuple[int, Any]:
            """`PUT /queries/{id}/usage` (entity references: the query's `queryUsedIn`),
            `/users` (user FQNs), `/usedBy` (names): added to what the query has; 200, the query."""
            with self.state.lock:
                where = self.state.by_id.get(query_id)
                if not where or where[0] != "queries":
                    raise ApiError(404, f"query instance for {query_id} not found")
                query = self.state.entities["queries"][where[1]]
                if what == "usage":
                    have = {r["id"] for r in query.get("queryUsedIn") or []}
                    query["queryUsedIn"] = (query.get("queryUsedIn") or []) + [
                        r for r in body if r["id"] not in have
                    ]
                else:
                    query[what] = sorted(set(query.get(what) or []) | set(body))
                self.fixed[f"PUT /api/v1/queries/{{id}}/{what}"] += 1
                return 200, _public(query)

        def patch(self, path: str, entity_id: str, body: Any) -> dict[str, Any]:
            """The stand-in's PATCH, keeping what it holds beside the entity (`_usage`): its
            patch rebuilds the entity from the public fields and drops them, so the official
            client's lifeCycle PATCH, sent between a table's days, erased the days before."""
            with self.state.lock:
                where = self.state.by_id.get(entity_id)
                entity = self.state.entities[path].get(where[1], {}) if where and where[0] == path else {}
                kept = {k: v for k, v in entity.items() if k.startswith("_") and k != "_request"}
                answer = super().patch(path, entity_id, body)
                if kept and not as_is:
                    self.state.entities[path][where[1]].update(kept)
                    self.fixed[f"PATCH /api/v1/{path}/{{id}} keeping {', '.join(sorted(kept))}"] += 1
            return answer

        def route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
            rest = path.removeprefix("/api/v1/")
            if method == "GET" and rest == "__bench/usage":
                with self.state.lock:
                    tables = self.state.entities.get("tables", {})
                    return 200, {
                        "usage": {fqn: dict(t["_usage"]) for fqn, t in tables.items() if t.get("_usage")},
                        "joins": {f"{a} {b}": days for (a, b), days in self.state.joins.items()},
                        "queries": len(self.state.entities.get("queries", {})),
                        "percentiles": len(self.state.percentiles),
                    }
            if method == "GET" and rest == "__bench/unrouted":
                with self.state.lock:
                    return 200, {"unrouted": dict(self.unrouted), "fixed": dict(self.fixed)}
            if not as_is and method == "PUT" and (link := extra.fullmatch(rest)):
                return self._query_link(link.group(1), link.group(2), body)
            try:
                status, payload = super().route(method, path, query, body)
            except ApiError as err:  # as bench/profile.py counts them
                last = rest.rsplit("/", 1)[-1]
                lookup = "/name/" in path or UUID.match(last) or "/" not in rest
                if err.message.startswith("HTTP 40") or (err.code == 404 and not lookup):
                    with self.state.lock:
                        self.unrouted[f"{method} {_template(path)} -> {err.code}"] += 1
                raise
            if not as_is and (rest == "queries" or rest.startswith("queries/")):
                with self.state.lock:
                    payload = self._query(payload)
            return status, payload

    def extra_keys(payload: dict[str, Any]) -> set[str]:
        return set(payload) - query_fields

    server = BenchStandIn(port, TOKEN, version)
    print(f"stand-in OpenMetadata server (bench) on {server.url}", flush=True)
    server.httpd.serve_forever()


# --- running a client ---------------------------------------------------------------------


def run(
    who: str, n: int, log: Path, as_is: bool, peer: str | None = None, timeout: float | None = None
) -> dict:
    """One client on one log: the metadata recipe (om-dagster's, set-up), then the usage
    recipe, timed."""
    ours = peer is None
    server = ServeProcess(HERE, "1.13.0" if ours else "2.0.7", "as-is" if as_is else "fixed", token=TOKEN)
    folder = OUT / f"{'ours' if ours else 'peer'}_{n}"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        metadata, usage = recipes(catalog_db(), log, folder / "stage", server.port)
        (folder / "bench_metadata.yaml").write_text(metadata)
        env = dict(os.environ, OM_DAGSTER_WORKFLOWS_DIR=str(folder))
        env.pop("DAGSTER_HOME", None)
        job = [str(DAGSTER), "job", "execute", "-m", "om_dagster", "-j"]
        if ours:
            (folder / "bench_usage.yaml").write_text(usage)
            cmd = [*job, "bench_usage"]
        else:  # out of the folder om-dagster loads
            (folder / "official").mkdir(exist_ok=True)
            (folder / "official" / "usage.yaml").write_text(usage)
            cmd = [peer, "usage", "-c", str(folder / "official" / "usage.yaml")]
        set_up, _, code = timed([*job, "bench_metadata"], env, folder / "metadata.log")
        listed = server.get("__standin/stats")["entities"].get("tables", 0)
        if code != 0 or listed != len(LAYERS) * len(ENTITIES):
            print(f"  ! {who} {n}: metadata recipe exit {code}, {listed} tables (log: {folder})")
        before = server.requests()
        seconds, rss, code = timed(cmd, env if ours else dict(os.environ), folder / "usage.log", timeout)
        requests = server.requests() - before - 1
        load = os.getloadavg()[0]
        held = server.get("__bench/usage")
        unrouted = server.get("__bench/unrouted")
        endpoints = server.get("__standin/stats")["requests"]
    finally:
        server.stop()
    (folder / "usage.json").write_text(json.dumps(held, indent=1))
    ok = code == 0 and bool(held["usage"])
    if not ok:
        state = "killed at the time limit" if code is None else f"exit {code}"
        print(f"  ! {who} {n}: {state}, usage on {len(held['usage'])} tables (log: {folder / 'usage.log'})")
    print(f"  .. {who:<15} {n:>8} queries {seconds:8.1f} s  (set-up {set_up:.1f} s)", flush=True)
    return {
        "who": who,
        "n": n,
        "seconds": seconds,
        "rss": rss,
        "code": code,
        "ok": ok,
        "requests": requests,
        "load": load,
        "held": held,
        "unrouted": unrouted,
        "endpoints": endpoints,
        "log": folder / "usage.log",
    }


# --- what the server holds ----------------------------------------------------------------


def flat(usage: dict[str, dict[str, int]]) -> dict[tuple[str, str], int]:
    return {(t, d): c for t, days in usage.items() for d, c in days.items()}


def against(name: str, held: dict, expected: dict[str, Counter]) -> str:
    """How a server's usage counts compare with what the generator put in the log."""
    got, want = flat(held), flat({t: dict(c) for t, c in expected.items()})
    keys = set(got) | set(want)
    same = sum(got.get(k) == want.get(k) for k in keys)
    text = f"{name}: {same} of {len(keys)} (table, day) counts as in the log"
    wrong = sorted(k for k in keys if got.get(k) != want.get(k))
    if wrong:
        t, d = wrong[0]
        text += f"; e.g. {t.rsplit('.', 1)[1]} {d}: {got.get(wrong[0])} vs {want.get(wrong[0])}"
    return text


def compare(ours: dict, peer: dict, kept: dict[str, Counter], every: dict[str, Counter]) -> list[str]:
    a, b = ours["held"], peer["held"]
    tables_a, tables_b = set(a["usage"]), set(b["usage"])
    lines = [
        f"tables with usage: ours {len(tables_a)}, official {len(tables_b)}, both {len(tables_a & tables_b)}"
        + (" (the same tables)" if tables_a == tables_b else "")
    ]
    for side, only in (("ours", tables_a - tables_b), ("official", tables_b - tables_a)):
        if only:
            shown = ", ".join(sorted(t.rsplit(".", 1)[1] for t in only)[:6])
            lines.append(f"  only {side}: {len(only)} tables, e.g. {shown}")
    fa, fb = flat(a["usage"]), flat(b["usage"])
    keys = set(fa) | set(fb)
    same = sum(fa.get(k) == fb.get(k) for k in keys)
    aborted = flat({t: dict(every[t] - kept.get(t, Counter())) for t in every})
    explained = sum(
        fa.get(k) != fb.get(k) and (fa.get(k) or 0) + aborted.get(k, 0) == (fb.get(k) or 0) for k in keys
    )
    lines.append(
        f"(table, day) counts: {len(keys)}; equal {same}, differ {len(keys) - same}"
        + (
            f" ({explained} of them by the aborted queries only, which the official client counts)"
            if same < len(keys)
            else ""
        )
    )
    lines.append("  " + against("ours", a["usage"], kept))
    lines.append("  " + against("official", b["usage"], every) + " (aborted queries included)")
    ja, jb = set(a["joins"]), set(b["joins"])
    lines.append(f"join column pairs: ours {len(ja)}, official {len(jb)}, both {len(ja & jb)}")
    for side, only in (("ours", ja - jb), ("official", jb - ja)):
        if only:
            shown = "; ".join(" = ".join(c.split(".", 3)[3] for c in p.split()) for p in sorted(only)[:3])
            lines.append(f"  only {side}: {len(only)}, e.g. {shown}")
    lines.append(f"Query entities: ours {a['queries']}, official {b['queries']}")
    return lines


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        return serve(int(sys.argv[2]), sys.argv[3], sys.argv[4] == "as-is")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=100_000, help="queries in the log (N)")
    parser.add_argument("--peer", help="path of the official `metadata` CLI, in its own venv")
    parser.add_argument(
        "--peer-queries",
        type=int,
        default=2000,
        help="the official client runs on the first this many queries (it parses ~10 a second: "
        "100,000 would take ~3 hours), ours too, and its figure for N is extrapolated (0: N)",
    )
    parser.add_argument(
        "--peer-timeout", type=float, default=3600, help="seconds before an official run is stopped"
    )
    parser.add_argument(
        "--standin-as-is",
        action="store_true",
        help="answer as tests/standin.py does: the official client then fails every usage record (its "
        "Query answers carry fields the client refuses) and skips its query and lifeCycle calls",
    )
    args = parser.parse_args()
    n = args.queries
    peer_n = min(args.peer_queries or n, n)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.2f}")
    print(f"om-dagster: {revision()}")
    print(
        "ours: om-dagster `dagster job execute` (query-log-usage, query-parser with 2 parse processes); "
        "official: " + (f"`{args.peer} usage`" if args.peer else "not run (no --peer)")
    )
    print(
        "stand-in: tests/standin.py, with TCP_NODELAY, a fresh one each run"
        + (
            ", as it is"
            if args.standin_as_is
            else "; here its Query answers carry only query.json's fields, it takes "
            "PUT /queries/{id}/usage, /users, /usedBy, and a PATCH keeps a table's usage (the official "
            "client's calls; see the end)"
        )
    )
    started = time.perf_counter()
    db = catalog_db()
    sizes = sorted({n, max(1, n // 10)} | ({peer_n} if args.peer else set()), reverse=True)
    logs = {size: query_log(size, today) for size in sizes}
    total, distinct = shapes_in(logs[n][0])
    print(
        f"data: {db} ({len(LAYERS) * len(ENTITIES)} tables); logs of {', '.join(f'{s:,}' for s in sizes)} "
        f"queries over {DAYS} days to {today.date()} (UTC), {len(ANALYSTS) + len(set(LOADERS))} users; "
        f"the {total:,}: {distinct:,} shapes once literals are masked ({distinct / total:.0%}); "
        f"ready in {time.perf_counter() - started:.1f} s"
    )

    rows: list[dict] = []
    ours = {size: run("om-dagster", size, logs[size][0], args.standin_as_is) for size in sizes}
    rows += [ours[s] for s in sizes]
    peer = None
    if args.peer:
        peer = run(
            "metadata usage", peer_n, logs[peer_n][0], args.standin_as_is, args.peer, args.peer_timeout
        )
        rows.append(peer)

    print(
        f"\n{'client':<16} {'queries':>8} {'seconds':>8} {'queries/s':>10} {'peak RSS MiB':>12} "
        f"{'requests':>9} {'load':>5}  ok"
    )
    for r in rows:
        print(
            f"{r['who']:<16} {r['n']:>8} {r['seconds']:>8.1f} {r['n'] / r['seconds']:>10.1f} "
            f"{r['rss']:>12.0f} {r['requests']:>9} {r['load']:>5.2f}  {'yes' if r['ok'] else 'NO'}"
        )
    print(
        "seconds: wall, the CLI's start-up included; peak RSS: the largest of the process and the "
        "children it waited for (ours: its parse processes); requests: what the stand-in received "
        "during the run; load: the 1-minute load average as the run ended"
    )
    for r in rows:
        top = sorted(r["endpoints"].items(), key=lambda kv: -kv[1])[:6]
        print(f"  {r['who']:<16} {r['n']:>8}: {', '.join(f'{k} {v}' for k, v in top)} (whole run)")

    large, tenth = ours[n], ours[max(1, n // 10)]
    if tenth is not large:
        print(
            f"\nmemory: ours' peak RSS at {n:,} queries / at {tenth['n']:,}: "
            f"{large['rss']:.0f} / {tenth['rss']:.0f} MiB = {large['rss'] / tenth['rss']:.2f}"
        )
    if peer is not None:
        mine = ours[peer_n]
        print(f"\nthe same {peer_n:,} queries, ours / official:")
        if peer["code"] is None:
            print(f"  official: stopped at {args.peer_timeout:.0f} s without finishing")
        print(
            f"  seconds {mine['seconds']:.1f} / {peer['seconds']:.1f} = "
            f"{mine['seconds'] / peer['seconds']:.3f} (ours {peer['seconds'] / mine['seconds']:.1f}x faster)"
        )
        print(
            f"  queries/s {peer_n / mine['seconds']:.1f} / {peer_n / peer['seconds']:.1f} = "
            f"{peer['seconds'] / mine['seconds']:.1f}"
        )
        print(f"  peak RSS {mine['rss']:.0f} / {peer['rss']:.0f} MiB = {mine['rss'] / peer['rss']:.2f}")
        print(
            f"  requests {mine['requests']} / {peer['requests']} = "
            f"{mine['requests'] / max(1, peer['requests']):.3f}"
        )
        for line in compare(mine, peer, logs[peer_n][1], logs[peer_n][2]):
            print(f"  {line}")
        if peer_n != n and peer["ok"]:
            guess = peer["seconds"] * n / peer_n
            print(
                f"\nat {n:,} queries, ours / official EXTRAPOLATED (not measured; linearly from "
                f"{peer_n:,} queries, its start-up included): seconds {large['seconds']:.1f} / "
                f"~{guess:.0f} = {large['seconds'] / guess:.4f} (ours ~{guess / large['seconds']:.0f}x "
                f"faster); queries/s {n / large['seconds']:.0f} / {peer_n / peer['seconds']:.1f}; the "
                f"official client's peak RSS is not extrapolated (measured at {peer_n:,}: "
                f"{peer['rss']:.0f} MiB; it reads a log file whole into one list before parsing, so it "
                "grows with the log)"
            )
    print(f"\nours at {n:,}: " + against("usage on the server", large["held"]["usage"], logs[n][1]))
    unrouted: Counter = Counter()
    for r in rows:
        unrouted.update(r["unrouted"]["unrouted"])
        if r["unrouted"]["fixed"]:
            fixed = ", ".join(f"{k} ({v}x)" for k, v in r["unrouted"]["fixed"].items())
            print(f"answered by the bench, not tests/standin.py, for {r['who']} at {r['n']:,}: {fixed}")
    if unrouted:
        print(
            "requests the stand-in could not route: " + ", ".join(f"{k} ({v}x)" for k, v in unrouted.items())
        )
    for r in rows:
        if not r["ok"]:
            lines = [line for line in r["log"].read_text(errors="replace").splitlines() if line.strip()]
            print(f"{r['who']} at {r['n']:,} failed: {lines[-1][:300] if lines else '(empty log)'}")


if __name__ == "__main__":
    main()
