#!/usr/bin/env bash
# The upsert path measured against DuckDB's (run on demand, not in the test suite): 1 M changed rows
# (800 k updates over 30 days, 100 k rows moved into them from the 5 days before, 100 k new) upserted
# by `id` into the 10 M-row, 365-partition usage dataset: `etl upload-csv --primary-key id` (release
# build) against DuckDB doing the same upsert in SQL and rewriting the same partitions with COPY ...
# PARTITION_BY (bench/upsert_duckdb.py), each from a copy of its own base dataset, taking turns;
# prints the median wall time, peak RSS and etl's ratio, and checks both end with the same rows.
#
#   bash bench/upsert.sh [--runs K]
#
# Needs python3 with polars, numpy and duckdb, and about 5 GB under bench/data (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
PEERS=$(cd ../shared/bench 2>/dev/null && pwd || true)
[ -n "$PEERS" ] || { echo "../shared/bench (gen_usage_csv.py, peers.py) is missing" >&2; exit 2; }
export PATH="$HOME/.cargo/bin:$PATH"
python3 -m pip install --quiet --disable-pip-version-check numpy polars 'duckdb>=1.1' >&2
cargo build --release --locked >&2
ETL=$PWD/target/release/etl
DATA=$PWD/bench/data
mkdir -p "$DATA"
USAGE=$DATA/usage_10000000.csv
[ -s "$USAGE" ] || python3 "$PEERS/gen_usage_csv.py" "$USAGE" --rows 10000000 >&2
BASE=$DATA/upsert_base.csv CHANGES=$DATA/upsert_changes.csv
[ -s "$CHANGES" ] || python3 bench/upsert_gen.py "$USAGE" "$BASE" "$CHANGES" >&2
. bench/lib.sh
OUT=$(mktemp -d "$DATA/upsert.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
echo "machine: $(nproc) cores; dataset: 10 M rows, 365 days; changes: $(($(wc -l <"$CHANGES") - 1)) rows; runs per case: $RUNS (alternating)"
# The base datasets (not timed): etl's with its key, DuckDB's from its own COPY.
"$ETL" upload-csv "$BASE" --dataset-id usage --partition-col Date --primary-key id --mode replace \
  --target "$OUT/etl-base" >/dev/null 2>&1
python3 "$PEERS/peers.py" duckdb "$BASE" "$OUT/duck-base" Date
run_case() {
  case "$1" in
    etl)
      rm -rf "$OUT/lake" && cp -r "$OUT/etl-base" "$OUT/lake"
      measure_once etl "$ETL" upload-csv "$CHANGES" --dataset-id usage --partition-col Date --primary-key id \
        --target "$OUT/lake" ;;
    duckdb)
      rm -rf "$OUT/duck" && cp -r "$OUT/duck-base" "$OUT/duck"
      measure_once duckdb python3 bench/upsert_duckdb.py "$OUT/duck" "$CHANGES" ;;
  esac
}
for _ in $(seq "$RUNS"); do
  for name in duckdb etl; do run_case "$name"; done
done
read -r dw dr < <(summarize duckdb)
read -r ew er < <(summarize etl)
tail -1 "$OUT/etl.log"
printf '\n| case | wall | peak RSS | wall / DuckDB |\n|---|---|---|---|\n'
printf '| duckdb | %s s | %s MB | 1.00 |\n' "$dw" "$dr"
printf '| etl | %s s | %s MB | %s |\n' "$ew" "$er" "$(awk -v a="$ew" -v b="$dw" 'BEGIN {printf "%.2f", a / b}')"
python3 - "$OUT" <<'PY'
import sys, duckdb
out = sys.argv[1]
q = """SELECT count(*), count(DISTINCT id), sum("Output Tokens"), round(sum("Cost ($)"), 2)
       FROM read_parquet('{}/*/*.parquet')"""
ours = duckdb.sql(q.format(f"{out}/lake/datasets/usage/partitions")).fetchall()[0]
theirs = duckdb.sql(q.format(f"{out}/duck")).fetchall()[0]
print(f"rows, keys, sum of Output Tokens, sum of Cost: etl {ours}, DuckDB {theirs}:",
      "the same" if ours == theirs else "DIFFERENT")
PY
