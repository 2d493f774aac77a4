"""Benchmark: lineage quality and parse time on the hand-written corpus (tests/corpus), ours
against the official client's parser, side by side.

    .venv/bin/python bench/lineage_corpus.py                                  # official: /tmp/om-peer
    .venv/bin/python bench/lineage_corpus.py --peer /path/to/venv/bin/python --cases
    .venv/bin/python bench/lineage_corpus.py --peer ''                        # ours alone

Ours is `om_dagster.queries.parser.analyze`, scored as tests/test_corpus.py scores it. The
official one is `metadata.ingestion.lineage.parser.LineageParser` (openmetadata-ingestion with
collate-sqllineage: sqlglot, then sqlfluff, then sqlparse), run in its own venv (`--peer`, its
Python) by a small script this one hands the corpus to on stdin. Both parse each statement of
a case alone, as a query log gives them. The official answer is then treated as OpenMetadata's
lineage step treats it (`sql_lineage.get_lineage_by_query`): edges from every source table to
every target (through the intermediate tables when it names some), its column pairs on those
edges, `*` as every column of the source. Its names are resolved against the corpus catalog
as its table search does: case-insensitively, the name's own database and schema else the
case's defaults, every table that matches (no default schema of the dialect). A name that
matches none is taken for a temporary table of the session and followed, columns included, as
ours is (the official pipeline follows temporary tables without their columns: this is the
more generous reading).

Parse time is per statement, best of `--repeat` runs, in process (no start-up): ours is
`analyze` on one statement, the official one `LineageParser(...)` and reading its tables and
column lineage.
"""

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from ingest import machine  # bench/ingest.py: the same machine line

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from om_dagster.queries.analyzer import through  # noqa: E402
from om_dagster.queries.parser import Key, analyze  # noqa: E402
from tests.test_corpus import (  # noqa: E402  (the repository's root is on the path only now)
    CORPUS,
    DIALECTS,
    Case,
    Corpus,
    Found,
    Tally,
    catalog,
    differences,
    follow,
    found,
    load,
    statements,
)

PEER_DEFAULT = "/tmp/om-peer/bin/python"
MEASURES = ("table", "column", "reads", "writes")

# Run by the official client's Python: {"timeout", "repeat", "cases": [{"dialect", "statements"}]}
# on stdin, per statement its tables, column pairs and best time on stdout.
PEER = r"""
import json, logging, sys, time, warnings
from importlib.metadata import version

warnings.filterwarnings("ignore")
answer, sys.stdout = sys.stdout, sys.stderr  # whatever the library prints stays out of the answer
from metadata.ingestion.lineage.models import Dialect
from metadata.ingestion.lineage.parser import LineageParser

logging.disable(logging.CRITICAL)


def parse(sql, dialect, timeout):
    start = time.perf_counter()
    parser = LineageParser(sql, dialect=Dialect(dialect), timeout_seconds=timeout)
    sources = [str(t) for t in parser.source_tables]
    targets = [str(t) for t in parser.target_tables]
    intermediates = [str(t) for t in parser.intermediate_tables]
    columns = [
        [sorted(str(p) for p in path[0]._parent), path[0].raw_name, str(path[-1].parent), path[-1].raw_name]
        for path in parser.column_lineage
    ]
    seconds = time.perf_counter() - start
    return {
        "sources": sources,
        "targets": targets,
        "intermediates": intermediates,
        "columns": columns,
        "parser": parser.query_hash.rpartition("-")[2] if parser.parser else "none",
        "failure": parser.query_parsing_failure_reason,
        "seconds": seconds,
    }


job = json.load(sys.stdin)
parse("SELECT a FROM t", "ansi", job["timeout"])  # imports and set-up, not timed
results = []
for case in job["cases"]:
    rows = []
    for sql in case["statements"]:
        runs = [parse(sql, case["dialect"], job["timeout"]) for _ in range(job["repeat"])]
        rows.append(min(runs, key=lambda r: r["seconds"]))
    results.append(rows)
versions = {p: version(p) for p in ("openmetadata-ingestion", "collate-sqllineage", "sqlglot")}
json.dump({"versions": versions, "results": results}, answer)
"""


# --- ours -------------------------------------------------------------------------------------


def run_ours(corpus: Corpus, repeat: int) -> tuple[list[Found], list[float]]:
    """Our findings per case (as the test scores them) and our best time per statement."""
    on = catalog(corpus)
    analyze("SELECT a FROM t", corpus.dialect, on)  # set-up, not timed
    founds, seconds = [], []
    for case in corpus.cases:
        parsed = []
        for sql in statements(case.sql, case.dialect):
            best = float("inf")
            for _ in range(repeat):
                start = time.perf_counter()
                result = analyze(sql, case.dialect, on, case.database, case.schema)
                best = min(best, time.perf_counter() - start)
            parsed.append(result)
            seconds.append(best)
        founds.append(_ours_found(parsed))
    return founds, seconds


def _ours_found(parsed: list[dict[str, Any]]) -> Found:
    return found(
        follow(parsed),
        reads=[tuple(k) for p in parsed for k in p["reads"]],
        writes=[tuple(k) for p in parsed for k in p["writes"]],
    )


# --- the official parser ---------------------------------------------------------------------


def run_peer(peer: str, corpora: list[Corpus], timeout: int, repeat: int) -> dict[str, Any]:
    job = {
        "timeout": timeout,
        "repeat": repeat,
        "cases": [
            {"dialect": c.dialect, "statements": statements(case.sql, c.dialect)}
            for c in corpora
            for case in c.cases
        ],
    }
    done = subprocess.run([peer, "-c", PEER], input=json.dumps(job), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the official parser's script failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def resolve(name: str, case: Case, tables: dict[Key, list[str]]) -> list[Key]:
    """The catalog tables a name the official parser gives (`[db.]schema.table`, schema
    `<default>` when unwritten) stands for, as its table search finds them."""
    parts = name.split(".")
    table = parts[-1].lower()
    schema = parts[-2] if len(parts) > 1 and parts[-2] != "<default>" else case.schema
    database = parts[-3] if len(parts) > 2 else case.database
    return [
        k
        for k in tables
        if k[2].lower() == table
        and (database is None or k[0].lower() == database.lower())
        and (schema is None or k[1].lower() == schema.lower())
    ]


def _column(tables: dict[Key, list[str]], key: Key, name: str) -> str | None:
    if not key[0]:  # a temporary table: its columns as the session names them
        return name.lower()
    return next((c for c in tables[key] if c.lower() == name.lower()), None)


def peer_statement(row: dict[str, Any], case: Case, tables: dict[Key, list[str]]) -> dict[str, Any]:
    """One statement's official answer as edges in our form (`get_lineage_by_query`'s pairs)."""
    sources, targets, middle = row["sources"], row["targets"], row["intermediates"]
    if middle:
        pairs = [(s, m) for m in middle for s in sources] + [(m, t) for m in middle for t in targets]
    else:
        pairs = [(s, t) for t in targets for s in sources]
    mapped: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for parents, source_column, target, target_column in row["columns"]:
        for parent in parents:
            mapped.setdefault((parent, target), []).append((target_column, source_column))

    def keys(name: str) -> list[Key]:
        return resolve(name, case, tables) or [("", "", name.split(".")[-1].lower())]

    edges = []
    for source_name, target_name in pairs:
        columns = mapped.get((source_name, target_name), [])
        for source in keys(source_name):
            listed = columns
            if columns and "*" in columns[0] and source[0]:  # `get_column_lineage`: every column
                listed = [(c, c) for c in tables[source]]
            for target in keys(target_name):
                out: dict[str, list[list[str]]] = {}
                for to, frm in listed:
                    real_to, real_from = _column(tables, target, to), _column(tables, source, frm)
                    if real_to and real_from:
                        out.setdefault(real_to, []).append([*source, real_from])
                edges.append({"source": list(source), "target": list(target), "columns": out})
    reads = [k for n in sources + middle for k in resolve(n, case, tables)]
    writes = [k for n in targets + middle for k in resolve(n, case, tables)]
    return {"edges": edges, "reads": reads, "writes": writes}


def peer_found(rows: list[dict[str, Any]], case: Case, tables: dict[Key, list[str]]) -> Found:
    """A case's official findings, a table it names that the catalog lacks followed through the
    session as a temporary table (edges into it kept, edges from it replaced by those)."""
    temps: dict[str, list[dict[str, Any]]] = {}
    edges: list[dict[str, Any]] = []
    reads: list[Key] = []
    writes: list[Key] = []
    for row in rows:
        statement = peer_statement(row, case, tables)
        reads += statement["reads"]
        writes += statement["writes"]
        for edge in statement["edges"]:
            followed = through(edge, temps)
            if edge["target"][0]:
                edges += followed
            else:
                temps.setdefault(edge["target"][2], []).extend(followed)
    return found(edges, reads=reads, writes=writes)


# --- the report -------------------------------------------------------------------------------


def revision() -> str:
    """The commit benchmarked, and whether the parser's files differ from it."""
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "log", "-1", "--format=%h %s"], capture_output=True, text=True).stdout
    changed = subprocess.run(
        [*git, "status", "--porcelain", "om_dagster/queries", "tests/corpus"], capture_output=True, text=True
    ).stdout.splitlines()
    dirty = f", with uncommitted changes to {len(changed)} files (om_dagster/queries, tests/corpus)"
    return f"{head.strip()[:90]}{dirty if changed else ''}"


def figures_row(label: str, tally: Tally) -> str:
    figures = tally.figures()
    cells = [f"{figures[f'{m} recall']:6.3f} {figures[f'{m} precision']:6.3f}" for m in MEASURES]
    return f"  {label:<22}" + "    ".join(cells)


def times_row(label: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return (
        f"  {label:<22}mean {statistics.fmean(ms):7.2f}  median {statistics.median(ms):7.2f}  "
        f"p95 {p95:7.2f}  max {ms[-1]:8.2f}  total {sum(ms) / 1000:6.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--peer",
        default=PEER_DEFAULT if Path(PEER_DEFAULT).exists() else "",
        help="the Python of a venv with openmetadata-ingestion ('' to run ours alone)",
    )
    parser.add_argument("--dialects", default=",".join(DIALECTS))
    parser.add_argument(
        "--corpus",
        type=Path,
        default=CORPUS,
        help="the folder of <dialect>.yaml files (tests/corpus_heldout: held out)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per statement; the best is kept")
    parser.add_argument("--timeout", type=int, default=300, help="the official parser's, seconds a query")
    parser.add_argument("--cases", action="store_true", help="print where each parser differs, case by case")
    args = parser.parse_args()
    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # its notes on statements it takes as commands
    corpora = [load(d, args.corpus.resolve()) for d in args.dialects.split(",") if d]

    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.2f}")
    print(f"om-dagster: {revision()}")
    peer = run_peer(args.peer, corpora, args.timeout, args.repeat) if args.peer else None
    print(
        f"ours: om_dagster.queries.parser.analyze (sqlglot {version('sqlglot')}); official: "
        + (
            "LineageParser of openmetadata-ingestion {openmetadata-ingestion} (collate-sqllineage "
            "{collate-sqllineage}, sqlglot {sqlglot}), ".format_map(peer["versions"])
            + args.peer
            if peer
            else "not run (no --peer)"
        )
    )
    counts = {
        c.dialect: (len(c.cases), sum(len(statements(k.sql, c.dialect)) for k in c.cases)) for c in corpora
    }
    print(
        f"corpus: {args.corpus.resolve().relative_to(ROOT)}, "
        + ", ".join(f"{d} {n} cases ({s} statements)" for d, (n, s) in counts.items())
        + "; each statement parsed alone, temporary tables followed through the session"
    )
    print(f"time: best of {args.repeat} runs per statement, in process")

    total = {"ours": Tally(), "official": Tally()}
    seconds: dict[str, list[float]] = {"ours": [], "official": []}
    lines, notes, chosen = [], [], {}
    results = iter(peer["results"]) if peer else iter(())
    for corpus in corpora:
        tables = corpus.tables
        ours_found, ours_seconds = run_ours(corpus, args.repeat)
        seconds["ours"] += ours_seconds
        tally = {"ours": Tally(), "official": Tally()}
        for case, got in zip(corpus.cases, ours_found, strict=True):
            tally["ours"].add_case(case, got)
            total["ours"].add_case(case, got)
            if args.cases:
                notes += [f"  {corpus.dialect} {case.name}, ours: {d}" for d in differences(case, got)]
            if not peer:
                continue
            rows = next(results)
            seconds["official"] += [r["seconds"] for r in rows]
            for r in rows:
                chosen[r["parser"]] = chosen.get(r["parser"], 0) + 1
            theirs = peer_found(rows, case, tables)
            tally["official"].add_case(case, theirs)
            total["official"].add_case(case, theirs)
            if args.cases:
                notes += [f"  {corpus.dialect} {case.name}, official: {d}" for d in differences(case, theirs)]
        lines.append((corpus.dialect, tally))
    lines.append(("all", total))

    head = "    ".join(
        f"{m + (' edges' if m == 'table' else ' pairs' if m == 'column' else ''):<13}" for m in MEASURES
    )
    print(f"\nrecall and precision     {head}")
    print(f"  {'':<22}" + "    ".join(f"{'R':>6} {'P':>6}" for _ in MEASURES))
    for label, tally in lines:
        print(figures_row(f"{label}, ours", tally["ours"]))
        if peer:
            print(figures_row(f"{label}, official", tally["official"]))
    print("\nparse time per statement, ms")
    print(times_row("ours", seconds["ours"]))
    if peer:
        print(times_row("official", seconds["official"]))
        ratio = statistics.fmean(seconds["official"]) / statistics.fmean(seconds["ours"])
        print(f"  official / ours: {ratio:.1f}x (mean)")
        print("  official parser chosen: " + ", ".join(f"{k} {v}" for k, v in sorted(chosen.items())))
    if notes:
        print("\nwhere each differs from the corpus")
        print("\n".join(notes))


if __name__ == "__main__":
    main()
