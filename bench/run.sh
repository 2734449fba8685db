#!/usr/bin/env bash
# The load path measured against its peers, side by side, on this machine (run on demand, not in the
# test suite): generates the usage-events CSV, runs `etl upload-csv` (release build), DuckDB's COPY
# and polars' sink_parquet on the same job (partition by the day of `Date`, zstd, local disk), and
# prints each case's wall time, peak RSS and its ratio to DuckDB; and the same load into a Delta
# table (`--table-format delta`) beside it, with what its commit adds to the Hive load.
#
#   bash bench/run.sh [--rows N] [--runs K] [--no-polars] [--s3] [--scale]
#
#   --rows N      rows of the CSV (default 10000000: 1.09 GB)
#   --runs K      runs per case, the cases taking turns; the median is printed (default 1)
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
. bench/lib.sh  # (the script runs from the repository root)
CSV=$(csv_of "$ROWS")
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
SIZE=$(du -mL "$CSV" | cut -f1)
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); input: $ROWS rows, $SIZE MB; runs per case: $RUNS (alternating)"
[ "$S3" = 1 ] && eval "$(scripts/s3-up.sh)"
declare -A WALL RSS
CASES=(duckdb "etl local" "etl delta")
[ "$S3" = 1 ] && CASES+=("etl s3" "etl delta s3")
[ "$POLARS" = 1 ] && CASES+=(polars)
S3_ENV=()
[ "$S3" = 1 ] && S3_ENV=(env AWS_ENDPOINT_URL="$AWS_ENDPOINT_URL" AWS_REGION="$AWS_REGION"
  AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY")
# Every run starts from an empty target (a re-run would find its files unchanged and skip them).
run_case() {
  rm -rf "$OUT/lake"
  case "$1" in "etl s3" | "etl delta s3")
    "${S3_ENV[@]}" "$ETL" clear-dataset usage -y --target "s3://$ETL_TEST_BUCKET/bench" >/dev/null 2>&1 || true ;;
  esac
  case "$1" in
    duckdb) measure_once duckdb python3 "$PEERS/peers.py" duckdb "$CSV" "$OUT/duck" Date ;;
    "etl local") measure_once local "$ETL" upload-csv "$CSV" --dataset-id usage --partition-col Date --target "$OUT/lake" ;;
    "etl s3") measure_once s3 "${S3_ENV[@]}" "$ETL" upload-csv "$CSV" --dataset-id usage --partition-col Date --target "s3://$ETL_TEST_BUCKET/bench" ;;
    "etl delta") measure_once delta "$ETL" upload-csv "$CSV" --dataset-id usage --partition-col Date --table-format delta --target "$OUT/lake" ;;
    "etl delta s3") measure_once delta_s3 "${S3_ENV[@]}" "$ETL" upload-csv "$CSV" --dataset-id usage --partition-col Date --table-format delta --target "s3://$ETL_TEST_BUCKET/bench" ;;
    polars) measure_once polars python3 "$PEERS/peers.py" polars "$CSV" "$OUT/pl" Date ;;
  esac
}
file_of() {
  case "$1" in "etl local") echo local ;; "etl s3") echo s3 ;; "etl delta") echo delta ;; "etl delta s3") echo delta_s3 ;; *) echo "$1" ;; esac
}
# The cases take turns, run after run, so that the machine's noise falls on all of them alike.
for _ in $(seq "$RUNS"); do
  for name in "${CASES[@]}"; do run_case "$name"; done
done
for name in "${CASES[@]}"; do
  read -r w r < <(summarize "$(file_of "$name")")
  WALL[$name]=$w RSS[$name]=$r
done
printf '\n| case | wall | peak RSS | wall / DuckDB |\n|---|---|---|---|\n'
for name in duckdb "etl local" "etl delta" "etl s3" "etl delta s3" polars; do
  [ -n "${WALL[$name]:-}" ] || continue
  printf '| %s | %s s | %s MB | %s |\n' "$name" "${WALL[$name]}" "${RSS[$name]}" \
    "$(awk -v a="${WALL[$name]}" -v b="${WALL[duckdb]}" 'BEGIN {printf "%.2f", a / b}')"
done
# What a Delta table's commit (stats from each file's footer, the log entry) adds to the same load.
for pair in "etl local|etl delta" "etl s3|etl delta s3"; do
  hive=${pair%|*} delta=${pair#*|}
  [ -n "${WALL[$delta]:-}" ] || continue
  printf 'Delta beside Hive (%s): %s s against %s s, %s\n' "${hive#etl }" "${WALL[$delta]}" "${WALL[$hive]}" \
    "$(awk -v d="${WALL[$delta]}" -v h="${WALL[$hive]}" 'BEGIN {printf "%+.1f %%", (d / h - 1) * 100}')"
done
if [ "$SCALE" = 1 ]; then
  printf '\n| rows | etl wall | peak RSS | seconds per M rows |\n|---|---|---|---|\n'
  for rows in 1000000 10000000 100000000; do
    f=$(csv_of "$rows")
    rm -f "$OUT/scale.runs"
    for _ in $(seq "$RUNS"); do
      rm -rf "$OUT/scale"
      measure_once scale "$ETL" upload-csv "$f" --dataset-id usage --partition-col Date --target "$OUT/scale"
    done
    read -r w r < <(summarize scale)
    printf '| %s | %s s | %s MB | %s |\n' "$rows" "$w" "$r" "$(awk -v w="$w" -v n="$rows" 'BEGIN {printf "%.2f", w / (n / 1e6)}')"
  done
fi
