#!/usr/bin/env bash
# The REST path measured against dlt's (run on demand, not in the test suite): N JSON records in
# pages by cursor from a local HTTP server (bench/api_server.py), loaded by `etl load-api` (release
# build; partitioned by the day of `created_at`) and by dlt 1.31's rest_api source into its
# filesystem destination as Parquet, taking turns; prints each case's median wall time, peak RSS and
# etl's ratio to dlt.
#
#   bash bench/api.sh [--records N] [--page P] [--runs K] [--no-dlt]
#
#   --records N  records in all (default 1000000)
#   --page P     records a page (default 10000)
#   --runs K     runs per case (default 3)
#   --no-dlt     etl alone (dlt takes about 40 s a run at 1 M records)
# dlt goes into a venv under bench/data (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=1000000 PAGE=10000 RUNS=3 DLT=1
while [ $# -gt 0 ]; do
  case "$1" in
    --records) RECORDS=$2; shift ;;
    --page) PAGE=$2; shift ;;
    --runs) RUNS=$2; shift ;;
    --no-dlt) DLT=0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked >&2
ETL=$PWD/target/release/etl
DATA=$PWD/bench/data
mkdir -p "$DATA"
VENV=$DATA/venv-dlt
if [ "$DLT" = 1 ] && [ ! -x "$VENV/bin/dlt" ]; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'dlt[parquet,filesystem]==1.31.*' >&2
fi
PORT=$((20000 + RANDOM % 20000))
OUT=$(mktemp -d)
python3 bench/api_server.py --records "$RECORDS" --page "$PAGE" --port "$PORT" >"$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -rf "$OUT"' EXIT
for _ in $(seq 600); do grep -q ready "$OUT/server.log" 2>/dev/null && break; sleep 0.2; done
grep -q ready "$OUT/server.log" || { cat "$OUT/server.log" >&2; exit 1; }
URL=http://127.0.0.1:$PORT/events
. bench/lib.sh  # (the script runs from the repository root)
cat >"$OUT/dlt_run.py" <<'PY'
import shutil, sys
import dlt
from dlt.sources.rest_api import rest_api_source
url, out = sys.argv[1:3]
shutil.rmtree(out, ignore_errors=True)
source = rest_api_source({
    "client": {"base_url": url.rsplit("/", 1)[0] + "/",
               "paginator": {"type": "cursor", "cursor_path": "meta.next", "cursor_param": "cursor"}},
    "resources": [{"name": "events", "endpoint": {"path": "events", "data_selector": "data"}}],
})
pipeline = dlt.pipeline(pipeline_name="bench_api", destination=dlt.destinations.filesystem(bucket_url=out),
                        dataset_name="api", pipelines_dir=out + "/.pipelines")
pipeline.run(source, loader_file_format="parquet")
PY
echo "machine: $(nproc) cores; $RECORDS records, $PAGE a page; runs per case: $RUNS (alternating)"
for _ in $(seq "$RUNS"); do
  rm -rf "$OUT/lake"
  measure_once etl "$ETL" load-api --url "$URL" --records data --paginate cursor --cursor-path meta.next \
    --cursor-param cursor --max-pages 100000 --dataset-id events --partition-col created_at --target "$OUT/lake"
  [ "$DLT" = 1 ] && measure_once dlt "$VENV/bin/python" "$OUT/dlt_run.py" "$URL" "$OUT/dlt"
done
grep -h "etl load-api: " "$OUT/etl.log" | tail -1 >&2  # (after the line's date)
read -r ew er < <(summarize etl)
printf '\n| case | wall | peak RSS | wall / dlt |\n|---|---|---|---|\n'
if [ "$DLT" = 1 ]; then
  read -r dw dr < <(summarize dlt)
  printf '| dlt 1.31 rest_api → filesystem Parquet | %s s | %s MB | 1.00 |\n' "$dw" "$dr"
  printf '| etl load-api | %s s | %s MB | %s |\n' "$ew" "$er" "$(awk -v a="$ew" -v b="$dw" 'BEGIN {printf "%.2f", a / b}')"
else
  printf '| etl load-api | %s s | %s MB | - |\n' "$ew" "$er"
fi
