#!/usr/bin/env bash
# The PostgreSQL path measured against DuckDB's (run on demand, not in the test suite): the
# usage-events rows in a PostgreSQL table, loaded into Parquet partitioned by the UTC day of `Date`
# by `etl load-postgres` (release build) and by DuckDB 1.4.4 with its postgres extension (ATTACH ...
# (TYPE postgres), then COPY ... PARTITION_BY), zstd, local disk, taking turns; prints each case's
# median wall time, peak RSS and etl's ratio to DuckDB.
#
#   bash bench/pg.sh [--rows N] [--runs K] [--scale]
#
#   --rows N   rows of the table (default 1000000), from bench/data/usage_N.csv (made by run.sh's
#              generator if missing)
#   --runs K   runs per case (default 3)
#   --scale    also time etl at 1 M and 10 M rows (peak RSS must stay flat)
# Starts a PostgreSQL of its own with scripts/pg-up.sh (under /tmp/etl-pg-bench, port 5434: the
# test suite's, on 5433, is left running) and stops it at the end; DuckDB 1.4.4 and
# duckdb-ext-postgres go into a venv under bench/data (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=1000000 RUNS=3 SCALE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) ROWS=$2; shift ;;
    --runs) RUNS=$2; shift ;;
    --scale) SCALE=1 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
PEERS=$(cd ../shared/bench 2>/dev/null && pwd || true)
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked >&2
ETL=$PWD/target/release/etl
DATA=$PWD/bench/data
mkdir -p "$DATA"
VENV=$DATA/venv-duckdb-1.4.4
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'duckdb==1.4.4' 'duckdb-ext-postgres==1.4.4.*' >&2
fi
EXT=$(find "$VENV" -name 'postgres_scanner.duckdb_extension' | head -1)
[ -n "$EXT" ] || { echo "no postgres_scanner.duckdb_extension in $VENV" >&2; exit 2; }
export ETL_PG_DIR=/tmp/etl-pg-bench ETL_PG_PORT=5434
eval "$(scripts/pg-up.sh)"
trap 'scripts/pg-down.sh >/dev/null 2>&1; rm -rf "${OUT:-}"' EXIT
BASE=${ETL_TEST_DATABASE_URL%/*}
psql_do() { psql -q -v ON_ERROR_STOP=1 "$1" -c "$2" >&2; }
csv_of() {
  local rows=$1 file="$DATA/usage_$1.csv"
  if [ ! -s "$file" ]; then
    local big="$DATA/usage_10000000.csv"
    if [ -s "$big" ] && [ "$rows" -le 10000000 ]; then
      head -n $((rows + 1)) "$big" >"$file"
    else
      python3 "$PEERS/gen_usage_csv.py" "$file" --rows "$rows" >&2
    fi
  fi
  echo "$file"
}
# A database `usage_N` holding the table `usage` of N rows.
table_of() {
  local rows=$1 db="usage_$1"
  psql_do "$BASE/postgres" "DROP DATABASE IF EXISTS $db"
  psql_do "$BASE/postgres" "CREATE DATABASE $db"
  psql_do "$BASE/$db" 'CREATE TABLE usage ("Date" timestamptz, "User" text, "Kind" text, "Model" text,
    "Max Mode" boolean, "Input (w/ Cache Write)" bigint, "Input (w/o Cache Write)" bigint,
    "Cache Read" bigint, "Output Tokens" bigint, "Total Tokens" bigint, "Cost ($)" double precision)'
  psql_do "$BASE/$db" "\\copy usage FROM '$(csv_of "$rows")' WITH (FORMAT csv, HEADER true)"
  psql_do "$BASE/$db" "VACUUM ANALYZE usage"
  echo "$BASE/$db"
}
OUT=$(mktemp -d)
. bench/lib.sh  # (the script runs from the repository root)
cat >"$OUT/duck.py" <<'PY'
import shutil, sys
import duckdb
ext, url, out = sys.argv[1:4]
shutil.rmtree(out, ignore_errors=True)
con = duckdb.connect()
con.execute(f"LOAD '{ext}'")
con.execute(f"ATTACH '{url}' AS pg (TYPE postgres, READ_ONLY)")
con.execute(f"""COPY (SELECT *, strftime(CAST(timezone('UTC', "Date") AS DATE), '%Y-%m-%d') AS date
                      FROM pg.public.usage)
                TO '{out}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (date))""")
PY
URL=$(table_of "$ROWS")
echo "machine: $(nproc) cores; table: $ROWS rows; runs per case: $RUNS (alternating); PostgreSQL $(psql -tA "$URL" -c 'SHOW server_version')"
for _ in $(seq "$RUNS"); do
  measure_once duckdb "$VENV/bin/python" "$OUT/duck.py" "$EXT" "$URL" "$OUT/duck"
  rm -rf "$OUT/lake"
  measure_once etl "$ETL" load-postgres --url "$URL" --table usage --dataset-id usage --partition-col Date --target "$OUT/lake"
done
read -r dw dr < <(summarize duckdb)
read -r ew er < <(summarize etl)
grep -h "etl load-postgres: " "$OUT/etl.log" | tail -1 >&2  # (after the line's date)
printf '\n| case | wall | peak RSS | wall / DuckDB |\n|---|---|---|---|\n'
printf '| DuckDB 1.4.4 + postgres | %s s | %s MB | 1.00 |\n' "$dw" "$dr"
printf '| etl load-postgres | %s s | %s MB | %s |\n' "$ew" "$er" "$(awk -v a="$ew" -v b="$dw" 'BEGIN {printf "%.2f", a / b}')"
if [ "$SCALE" = 1 ]; then
  printf '\n| rows | etl wall | peak RSS | seconds per M rows |\n|---|---|---|---|\n'
  for rows in 1000000 10000000; do
    url=$(table_of "$rows")
    rm -f "$OUT/scale.runs"
    rm -rf "$OUT/scale"
    measure_once scale "$ETL" load-postgres --url "$url" --table usage --dataset-id usage --partition-col Date --target "$OUT/scale"
    read -r w r < <(summarize scale)
    printf '| %s | %s s | %s MB | %s |\n' "$rows" "$w" "$r" "$(awk -v w="$w" -v n="$rows" 'BEGIN {printf "%.2f", w / (n / 1e6)}')"
  done
fi
