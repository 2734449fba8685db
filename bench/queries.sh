#!/usr/bin/env bash
# What readers pay every day (run on demand): the 10 M-row usage CSV written by DuckDB (its COPY ...
# PARTITION_BY, as bench/run.sh), by etl, and by etl with --sort-by User; then six dashboard queries
# (bench/queries.py) run by DuckDB and by polars over each, the datasets taking turns, fastest of
# RUNS; prints each query's time over DuckDB's files and etl's ratios to it, and what sorting cost
# the load (etl with and without --sort-by, alternating, medians).
#
#   bash bench/queries.sh [--rows N] [--runs K]
#
# Uses the CSV of bench/run.sh (bench/data/usage_N.csv, made by it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=10000000 RUNS=7
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) ROWS=$2; shift ;;
    --runs) RUNS=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
PEERS=$(cd ../shared/bench 2>/dev/null && pwd || true)
[ -n "$PEERS" ] || { echo "../shared/bench (peers.py) is missing" >&2; exit 2; }
export PATH="$HOME/.cargo/bin:$PATH"
CSV=$PWD/bench/data/usage_$ROWS.csv
[ -s "$CSV" ] || { echo "$CSV is missing: run bash bench/run.sh --rows $ROWS first" >&2; exit 2; }
python3 -m pip install --quiet --disable-pip-version-check numpy polars 'duckdb>=1.1' >&2
cargo build --release --locked >&2
ETL=$PWD/target/release/etl
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

secs() { python3 -c "import sys; print(f'{(int(sys.argv[2]) - int(sys.argv[1])) / 1e9:.2f}')" "$1" "$2"; }
plain=() sorted=()
for _ in 1 2 3; do
  for case in plain sorted; do
    rm -rf "$OUT/$case"
    extra=()
    [ "$case" = sorted ] && extra=(--sort-by User)
    start=$(date +%s%N)
    "$ETL" upload-csv "$CSV" --dataset-id usage --partition-col Date "${extra[@]}" --target "$OUT/$case" 2>/dev/null
    end=$(date +%s%N)
    if [ "$case" = plain ]; then plain+=("$(secs "$start" "$end")"); else sorted+=("$(secs "$start" "$end")"); fi
  done
done
median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
echo "etl's load: $(median "${plain[@]}") s, with --sort-by User $(median "${sorted[@]}") s (medians of 3, alternating)"
python3 "$PEERS/peers.py" duckdb "$CSV" "$OUT/duckdb" Date
# Sorted files cut into row groups of about 1 MiB of data (three a day): what statistics gain and
# what each row group costs.
"$ETL" upload-csv "$CSV" --dataset-id usage --partition-col Date --sort-by User --row-group-size 1MiB --target "$OUT/groups" 2>/dev/null
python3 bench/queries.py "$RUNS" "duckdb=$OUT/duckdb" "etl=$OUT/plain/datasets/usage" "etl-sorted=$OUT/sorted/datasets/usage" \
  "etl-sorted-1MiB-groups=$OUT/groups/datasets/usage"
