#!/usr/bin/env python3
"""The upsert benchmark's inputs, from the usage-events CSV:

    python3 upsert_gen.py USAGE_CSV BASE_CSV CHANGES_CSV

BASE_CSV is USAGE_CSV with an `id` column first (1..N), every other value as written. CHANGES_CSV
holds 1 M rows over the last 30 days: 800 k updates of rows of those days (same day, new `Output
Tokens` and `Cost`), 100 k rows of the 5 days before moved into the window (their `Date` changed),
100 k new ids; shuffled, so a day's rows come in any order.
"""
import sys

import numpy as np
import polars as pl


def main() -> None:
    usage, base_csv, changes_csv = sys.argv[1:4]
    rng = np.random.default_rng(17)
    df = pl.read_csv(usage, infer_schema_length=0).with_row_index("id", offset=1)
    df = df.with_columns(pl.col("id").cast(pl.Int64))
    df.write_csv(base_csv)
    day = df["Date"].str.slice(0, 10)
    days = sorted(day.unique().to_list())
    window, before = days[-30:], days[-35:-30]
    in_window = np.nonzero(day.is_in(window).to_numpy())[0]
    in_before = np.nonzero(day.is_in(before).to_numpy())[0]
    updated = df[rng.choice(in_window, 800_000, replace=False)]
    updated = updated.with_columns(
        (pl.col("Output Tokens").cast(pl.Int64) + 1).cast(pl.Utf8),
        (pl.col("Cost ($)").cast(pl.Float64) * 1.1).round(2).cast(pl.Utf8),
    )
    moved = df[rng.choice(in_before, 100_000, replace=False)]
    targets = pl.Series(rng.choice(window, len(moved)))
    moved = moved.with_columns((targets + pl.col("Date").str.slice(10)).alias("Date"))
    new = df[rng.choice(in_window, 100_000, replace=False)]
    new = new.with_columns(pl.Series("id", np.arange(len(df) + 1, len(df) + 1 + len(new), dtype=np.int64)))
    changes = pl.concat([updated, moved, new]).sample(fraction=1.0, shuffle=True, seed=17)
    changes.write_csv(changes_csv)


if __name__ == "__main__":
    main()
