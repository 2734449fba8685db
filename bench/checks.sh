#!/usr/bin/env bash
# What data-quality checks cost (run on demand, not in the test suite): the 10 M-row usage CSV into
# 365 partitions (release build), without checks and with five (not_null, unique on a composite
# key, range, accepted_values, row_count_change), each run over a copy of the same previous load
# (so that row_count_change has a manifest to compare with), taking turns; prints the median wall
# time, peak RSS and the ratio (the goal: at most 1.10). For scale, it also times the same five
# checks run the usual way, after the load, as DuckDB SQL over the written files
# (bench/checks_duckdb.py).
#
#   bash bench/checks.sh [--runs K]
#
# Needs python3 with polars, numpy and duckdb, and about 3 GB under bench/data (git-ignored).
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
[ -n "$PEERS" ] || { echo "../shared/bench (gen_usage_csv.py) is missing" >&2; exit 2; }
export PATH="$HOME/.cargo/bin:$PATH"
python3 -m pip install --quiet --disable-pip-version-check numpy polars 'duckdb>=1.1' >&2
cargo build --release --locked >&2
ETL=$PWD/target/release/etl
DATA=$PWD/bench/data
mkdir -p "$DATA"
USAGE=$DATA/usage_10000000.csv
[ -s "$USAGE" ] || python3 "$PEERS/gen_usage_csv.py" "$USAGE" --rows 10000000 >&2
. bench/lib.sh
OUT=$(mktemp -d "$DATA/checks.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
# The generator's timestamps are milliseconds over a year for 400 users: (Date, User) repeats a few
# times in 10 M rows, (Date, User, Total Tokens) never.
CHECKS=(
  --check 'not_null: [Date, User, Kind]'
  --check 'unique: [Date, User, Total Tokens]'
  --check 'range: {Cost ($): {min: 0, max: 2.5}}'
  --check 'accepted_values: {Kind: [Included, Usage-based, "Errored, No Charge", "Aborted, Not Charged"]}'
  --check 'row_count_change: {max_drop: 50%, max_growth: 300%}'
)
echo "machine: $(nproc) cores; 10 M rows, 365 days; runs per case: $RUNS (alternating)"
# The previous load (not timed).
"$ETL" upload-csv "$USAGE" --dataset-id usage --partition-col Date --target "$OUT/base" >/dev/null 2>&1
run_case() {
  rm -rf "$OUT/lake" && cp -r "$OUT/base" "$OUT/lake"
  case "$1" in
    plain) measure_once plain "$ETL" upload-csv "$USAGE" --dataset-id usage --partition-col Date --target "$OUT/lake" ;;
    duckdb) measure_once duckdb python3 bench/checks_duckdb.py "$OUT/base/datasets/usage" ;;
    checks) measure_once checks "$ETL" upload-csv "$USAGE" --dataset-id usage --partition-col Date \
      --target "$OUT/lake" "${CHECKS[@]}" ;;
  esac
}
for _ in $(seq "$RUNS"); do
  for name in plain checks duckdb; do run_case "$name"; done
done
read -r pw pr < <(summarize plain)
read -r cw cr < <(summarize checks)
read -r dw dr < <(summarize duckdb)
tail -1 "$OUT/checks.log"
printf '\n| case | wall | peak RSS | wall / without |\n|---|---|---|---|\n'
printf '| without checks | %s s | %s MB | 1.00 |\n' "$pw" "$pr"
printf '| five checks | %s s | %s MB | %.2f |\n' "$cw" "$cr" "$(echo "$cw / $pw" | bc -l)"
printf '\nthe checks alone, after the load, as DuckDB SQL over the files: %s s, %s MB\n' "$dw" "$dr"
cat "$OUT/duckdb.log"
