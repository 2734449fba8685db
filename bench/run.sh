#!/usr/bin/env bash
# The load path measured against its peers, side by side, on this machine (run on demand, not in the
# test suite): generates the usage-events CSV, runs `etl upload-csv` (release build), DuckDB's COPY
# and polars' sink_parquet on the same job (partition by the day of `Date`, zstd, local disk), and
# prints each case's wall time, peak RSS and its ratio to DuckDB.
#
#   bash bench/run.sh [--rows N] [--runs K] [--no-polars] [--s3] [--scale]
#
#   --rows N      rows of the CSV (default 10000000: 1.09 GB)
#   --runs K      runs per case; the median is printed (default 1)
#   --no-polars   skip polars (about 24 s a run at 10 M rows)
#   --s3          also load into the S3-compatible server of scripts/s3-up.sh (started if needed)
#   --scale       also time etl at 1 M, 10 M and 100 M rows (100 M needs 11 GB of disk)
# Needs python3 with pip (numpy, polars, duckdb are installed), /usr/bin/time and about 3 GB of disk
# under bench/data (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=10000000 RUNS=1 POLARS=1 S3=0 SCALE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) ROWS=$2; shift ;;
    --runs) RUNS=$2; shift ;;
    --no-polars) POLARS=0 ;;
    --s3) S3=1 ;;
    --scale) SCALE=1 ;;
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
csv_of() {
  local rows=$1 file="$DATA/usage_$1.csv"
  if [ ! -s "$file" ] && [ "$rows" -gt 10000000 ]; then
    # The generator holds every row in memory: past 10 M rows, copies of the 10 M file (its days
    # repeat, so every partition is visited again by each copy).
    local base
    base=$(csv_of 10000000)
    { head -1 "$base"; for _ in $(seq $((rows / 10000000))); do tail -n +2 "$base"; done; } >"$file"
  fi
  [ -s "$file" ] || python3 "$PEERS/gen_usage_csv.py" "$file" --rows "$rows" >&2
  echo "$file"
}
# Runs a command K times; prints "median_wall_seconds peak_rss_mb".
measure() {
  local walls=() rss=0 out
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -o "$OUT/time" -f "%e %M" "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
    out=$(tail -1 "$OUT/time")
    walls+=("${out% *}")
    local kb=${out#* }
    [ "$kb" -gt "$rss" ] && rss=$kb
  done
  local median
  median=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "$median $((rss / 1024))"
}
CSV=$(csv_of "$ROWS")
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
SIZE=$(du -mL "$CSV" | cut -f1)
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); input: $ROWS rows, $SIZE MB; runs per case: $RUNS"
declare -A WALL RSS
run_case() {
  local name=$1; shift
  read -r w r < <(measure "$@")
  WALL[$name]=$w RSS[$name]=$r
  echo "  $name: $w s, $r MB" >&2
}
run_case duckdb python3 "$PEERS/peers.py" duckdb "$CSV" "$OUT/duck" Date
run_case "etl local" "$ETL" upload-csv "$CSV" --dataset-id usage --partition-col Date --target "$OUT/lake"
[ "$POLARS" = 1 ] && run_case polars python3 "$PEERS/peers.py" polars "$CSV" "$OUT/pl" Date
if [ "$S3" = 1 ]; then
  eval "$(scripts/s3-up.sh)"
  run_case "etl s3" env AWS_ENDPOINT_URL="$AWS_ENDPOINT_URL" AWS_REGION="$AWS_REGION" \
    AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" \
    "$ETL" upload-csv "$CSV" --dataset-id usage --partition-col Date --target "s3://$ETL_TEST_BUCKET/bench"
fi
printf '\n| case | wall | peak RSS | wall / DuckDB |\n|---|---|---|---|\n'
for name in duckdb "etl local" "etl s3" polars; do
  [ -n "${WALL[$name]:-}" ] || continue
  printf '| %s | %s s | %s MB | %s |\n' "$name" "${WALL[$name]}" "${RSS[$name]}" \
    "$(awk -v a="${WALL[$name]}" -v b="${WALL[duckdb]}" 'BEGIN {printf "%.2f", a / b}')"
done
if [ "$SCALE" = 1 ]; then
  printf '\n| rows | etl wall | peak RSS | seconds per M rows |\n|---|---|---|---|\n'
  for rows in 1000000 10000000 100000000; do
    f=$(csv_of "$rows")
    read -r w r < <(measure "$ETL" upload-csv "$f" --dataset-id usage --partition-col Date --target "$OUT/scale")
    printf '| %s | %s s | %s MB | %s |\n' "$rows" "$w" "$r" "$(awk -v w="$w" -v n="$rows" 'BEGIN {printf "%.2f", w / (n / 1e6)}')"
  done
fi
