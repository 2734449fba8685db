#!/usr/bin/env bash
# What a scheduler costs on top of etl: the same P datasets loaded by etl alone and by the units
# `etl schedule export` writes, run by Dagster (`dagster job execute`: its ops side by side) and
# Airflow (`airflow dags test`: its tasks one after another), on this machine (run on demand):
#   1. etl run jobs.yaml --all --jobs P        (one process, P datasets at once)
#   2. the Dagster job of the export             (P ops at once, each an etl process)
#   3. etl run jobs.yaml --all --jobs 1        (one dataset after another)
#   4. the Airflow DAG of the export             (P tasks, one after another)
# Prints the wall time of each, and each scheduler's time over etl's alone.
#
#   bash bench/schedulers.sh [--rows N] [--procs P]
#
# Uses the CSV of bench/run.sh (bench/data/usage_N.csv, made by it), the schedulers of
# scripts/schedulers-up.sh, and a local folder as the target.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=10000000 PROCS=4
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) ROWS=$2; shift ;;
    --procs) PROCS=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
export PATH="$HOME/.cargo/bin:$PATH"
CSV=$PWD/bench/data/usage_$ROWS.csv
[ -s "$CSV" ] || { echo "$CSV is missing: run bash bench/run.sh --rows $ROWS first" >&2; exit 2; }
cargo build --release --locked >&2
eval "$(scripts/schedulers-up.sh)"
ETL=$PWD/target/release/etl
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
{
  echo 'schedule: "0 6 * * *"'
  echo 'jobs:'
  for i in $(seq "$PROCS"); do
    printf '  - name: usage-%s\n    dataset_id: usage-%s\n    partition_column: Date\n    source: {kind: csv, path: %s}\n' "$i" "$i" "$CSV"
  done
} >"$OUT/jobs.yaml"
"$ETL" schedule export "$OUT/jobs.yaml" --to dagster --out "$OUT" --executable "$ETL" 2>/dev/null
"$ETL" schedule export "$OUT/jobs.yaml" --to airflow --out "$OUT/dags" --executable "$ETL" 2>/dev/null
export AIRFLOW_HOME=$OUT/airflow AIRFLOW__CORE__DAGS_FOLDER=$OUT/dags AIRFLOW__CORE__LOAD_EXAMPLES=False
"$ETL_AIRFLOW_VENV/bin/airflow" db migrate >"$OUT/migrate.log" 2>&1
export DAGSTER_HOME=$OUT
printf 'telemetry:\n  enabled: false\n' >"$OUT/dagster.yaml"
now() { date +%s.%N; }
case_run() { # name, target, command...: runs it on a fresh target, prints its wall time
  local name=$1 target=$2; shift 2
  rm -rf "$target"
  local t0
  t0=$(now)
  ETL_TARGET=$target AIRFLOW_VAR_ETL="{\"ETL_TARGET\": \"$target\"}" "$@" >"$OUT/$name.log" 2>&1 ||
    { cat "$OUT/$name.log" >&2; echo "failed: $name" >&2; exit 1; }
  echo "$(now) - $t0" | bc
}
# The days of the input: every dataset must end with one partition file per day.
DAYS=$(tail -n +2 "$CSV" | cut -d, -f1 | cut -c1-10 | sort -u | wc -l)
check() { # target: every dataset is whole
  for i in $(seq "$PROCS"); do
    [ "$(find "$1/datasets/usage-$i/partitions" -name '*.parquet' | wc -l)" = "$DAYS" ] ||
      { echo "usage-$i is not whole in $1 ($DAYS days expected)" >&2; exit 1; }
  done
}
echo "machine: $(nproc) cores; $PROCS datasets of $ROWS rows each; local folder"
alone=$(case_run etl-at-once "$OUT/lake1" "$ETL" run "$OUT/jobs.yaml" --all --jobs "$PROCS"); check "$OUT/lake1"
dagster=$(case_run dagster "$OUT/lake2" "$ETL_DAGSTER_VENV/bin/dagster" job execute -f "$OUT/etl_jobs_dagster.py" -j etl_jobs); check "$OUT/lake2"
serial=$(case_run etl-in-turn "$OUT/lake3" "$ETL" run "$OUT/jobs.yaml" --all --jobs 1); check "$OUT/lake3"
airflow=$(case_run airflow "$OUT/lake4" "$ETL_AIRFLOW_VENV/bin/airflow" dags test etl_jobs 2026-11-30); check "$OUT/lake4"
grep -q 'state=success' "$OUT/airflow.log" || { cat "$OUT/airflow.log" >&2; echo "the DAG run failed" >&2; exit 1; }
printf '\n| case | wall | over etl alone |\n|---|---|---|\n'
printf '| etl run --all --jobs %s | %.2f s | |\n' "$PROCS" "$alone"
printf '| Dagster job, %s ops at once | %.2f s | +%.2f s (%.2fx) |\n' "$PROCS" "$dagster" "$(echo "$dagster - $alone" | bc)" "$(echo "$dagster / $alone" | bc -l)"
printf '| etl run --all --jobs 1 | %.2f s | |\n' "$serial"
printf '| Airflow DAG (dags test), %s tasks in turn | %.2f s | +%.2f s (%.2fx) |\n' "$PROCS" "$airflow" "$(echo "$airflow - $serial" | bc)" "$(echo "$airflow / $serial" | bc -l)"
