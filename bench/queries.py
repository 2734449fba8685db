#!/usr/bin/env python3
"""Dashboard queries over the same rows written by etl and by DuckDB (bench/queries.sh runs it).

    python3 queries.py RUNS NAME=DIR [NAME=DIR ...]

Each DIR holds Parquet files (any depth). Six typical queries run with DuckDB and with polars over
each, the datasets taking turns, RUNS times each; the fastest time is kept. Prints one row per query
and engine: the fastest time over the first dataset (the peer) and each other's ratio to it, and
checks that every dataset gives the same answer.
"""
import sys
import time

import duckdb
import polars as pl

USER = "user0239@example.com"
WEEK = ("2026-03-02", "2026-03-09")
MONTH = ("2026-06-01", "2026-07-01")
QUARTER = ("2026-04-01", "2026-07-01")

SQL = {
    "a week's tokens": f"""SELECT sum("Total Tokens") FROM t
        WHERE "Date" >= TIMESTAMPTZ '{WEEK[0]}' AND "Date" < TIMESTAMPTZ '{WEEK[1]}'""",
    "one user, all time": f"""SELECT count(*), sum("Total Tokens"), sum("Cost ($)") FROM t WHERE "User" = '{USER}'""",
    "tokens by model": """SELECT "Model", sum("Total Tokens") FROM t GROUP BY "Model" ORDER BY "Model\"""",
    "a quarter by day": f"""SELECT CAST("Date" AS DATE) AS d, sum("Total Tokens") FROM t
        WHERE "Date" >= TIMESTAMPTZ '{QUARTER[0]}' AND "Date" < TIMESTAMPTZ '{QUARTER[1]}' GROUP BY d ORDER BY d""",
    "a month's top users": f"""SELECT "User", sum("Total Tokens") AS s FROM t
        WHERE "Date" >= TIMESTAMPTZ '{MONTH[0]}' AND "Date" < TIMESTAMPTZ '{MONTH[1]}'
        GROUP BY "User" ORDER BY s DESC, "User" LIMIT 10""",
    "errored kinds": """SELECT "Kind", count(*) FROM t WHERE "Kind" LIKE 'Errored%' GROUP BY "Kind" ORDER BY "Kind\"""",
}


def ts(text):
    return pl.lit(text).str.to_datetime("%Y-%m-%d", time_zone="UTC")


def polars_query(name, lf):
    date = pl.col("Date")
    if name == "a week's tokens":
        return lf.filter((date >= ts(WEEK[0])) & (date < ts(WEEK[1]))).select(pl.col("Total Tokens").sum())
    if name == "one user, all time":
        return lf.filter(pl.col("User") == USER).select(
            pl.len(), pl.col("Total Tokens").sum(), pl.col("Cost ($)").sum()
        )
    if name == "tokens by model":
        return lf.group_by("Model").agg(pl.col("Total Tokens").sum()).sort("Model")
    if name == "a quarter by day":
        return (
            lf.filter((date >= ts(QUARTER[0])) & (date < ts(QUARTER[1])))
            .group_by(date.dt.date().alias("d"))
            .agg(pl.col("Total Tokens").sum())
            .sort("d")
        )
    if name == "a month's top users":
        return (
            lf.filter((date >= ts(MONTH[0])) & (date < ts(MONTH[1])))
            .group_by("User")
            .agg(pl.col("Total Tokens").sum().alias("s"))
            .sort(["s", "User"], descending=[True, False])
            .head(10)
        )
    if name == "errored kinds":
        return lf.filter(pl.col("Kind").str.starts_with("Errored")).group_by("Kind").agg(pl.len()).sort("Kind")
    raise KeyError(name)


def main():
    runs = int(sys.argv[1])
    datasets = [a.split("=", 1) for a in sys.argv[2:]]
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    best = {}
    answers = {}
    for query in SQL:
        for _ in range(runs):
            for name, folder in datasets:
                files = f"{folder}/**/*.parquet"
                # DuckDB: a view over the files (their own columns; no folder names).
                con.execute(f"CREATE OR REPLACE VIEW t AS SELECT * FROM read_parquet('{files}', hive_partitioning = false)")
                start = time.perf_counter()
                rows = con.execute(SQL[query]).fetchall()
                took = time.perf_counter() - start
                key = ("duckdb", query, name)
                best[key] = min(best.get(key, took), took)
                answers.setdefault(("duckdb", query), {})[name] = [tuple(str(v) for v in r) for r in rows]
                # polars: a lazy scan of the same files.
                lf = pl.scan_parquet(files, hive_partitioning=False)
                start = time.perf_counter()
                df = polars_query(query, lf).collect()
                took = time.perf_counter() - start
                key = ("polars", query, name)
                best[key] = min(best.get(key, took), took)
                answers.setdefault(("polars", query), {})[name] = df.rows()
    for (engine, query), by in answers.items():
        first = by[datasets[0][0]]
        for name, rows in by.items():
            if len(rows) != len(first):
                sys.exit(f"{engine} {query}: {name} gave {len(rows)} rows, {datasets[0][0]} {len(first)}")
    peer = datasets[0][0]
    header = ["engine", "query", f"{peer} (fastest of {runs})"] + [f"{n} / {peer}" for n, _ in datasets[1:]]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    worst = {n: 0.0 for n, _ in datasets[1:]}
    for engine in ("duckdb", "polars"):
        for query in SQL:
            base = best[(engine, query, peer)]
            cells = [engine, query, f"{base * 1000:.1f} ms"]
            for name, _ in datasets[1:]:
                ratio = best[(engine, query, name)] / base
                worst[name] = max(worst[name], ratio)
                cells.append(f"{ratio:.2f}")
            print("| " + " | ".join(cells) + " |")
    for name, ratio in worst.items():
        print(f"{name}: slowest query at {ratio:.2f} x {peer}")


if __name__ == "__main__":
    main()
