#!/usr/bin/env python3
"""DuckDB doing the upsert the benchmark asks of etl, in SQL:

    python3 upsert_duckdb.py DATASET CHANGES_CSV

DATASET is a Hive-partitioned folder (date=YYYY-MM-DD/*.parquet, as DuckDB's COPY ... PARTITION_BY
wrote it). The partitions that gain, lose or change rows (the changes' days, and the days holding
the changed keys) are rewritten with COPY ... PARTITION_BY into a new folder, their rows whose key
the changes bring left out and the changes added; then each rewritten folder replaces its old one
(and a day left with no row goes).
"""
import os
import shutil
import sys

import duckdb


def main() -> None:
    dataset, changes = sys.argv[1:3]
    out = dataset.rstrip("/") + ".new"
    shutil.rmtree(out, ignore_errors=True)
    con = duckdb.connect()
    # The partition key as DuckDB named it (`date_1` beside a `Date` column).
    key = sorted(os.listdir(dataset))[0].split("=")[0]
    files = f"read_parquet('{dataset}/*/*.parquet', hive_partitioning = true, hive_types = {{'{key}': VARCHAR}})"
    con.sql(
        f"""CREATE TEMP TABLE c AS SELECT *, strftime(CAST("Date" AS DATE), '%Y-%m-%d') AS {key}
            FROM read_csv('{changes}')"""
    )
    held = con.sql(f"SELECT DISTINCT {key} FROM {files} WHERE id IN (SELECT id FROM c)").fetchall()
    days = sorted({d for (d,) in held} | {d for (d,) in con.sql(f"SELECT DISTINCT {key} FROM c").fetchall()})
    listed = ", ".join(f"'{d}'" for d in days)
    con.sql(
        f"""COPY (SELECT * FROM {files} WHERE {key} IN ({listed}) AND id NOT IN (SELECT id FROM c)
                  UNION ALL BY NAME SELECT * FROM c)
            TO '{out}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY ({key}))"""
    )
    for d in days:
        shutil.rmtree(f"{dataset}/{key}={d}", ignore_errors=True)
        if os.path.isdir(f"{out}/{key}={d}"):
            os.rename(f"{out}/{key}={d}", f"{dataset}/{key}={d}")
    shutil.rmtree(out)


if __name__ == "__main__":
    main()
