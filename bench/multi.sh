#!/usr/bin/env bash
# Several `etl` processes at once, as a scheduler fanning jobs out would start them (run on demand):
#   1. P datasets loaded one after another, then the same P loads started at once;
#   2. P jobs on ONE dataset, each with its own --partition-range, started at once with --wait-lock.
# Prints the wall time and the largest peak RSS of each case, and checks the datasets afterwards.
#
#   bash bench/multi.sh [--rows N] [--procs P] [--s3]
#
# Uses the CSV of bench/run.sh (bench/data/usage_N.csv, made by it); --s3 loads into the server of
# scripts/s3-up.sh instead of a local folder.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=10000000 PROCS=4 S3=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) ROWS=$2; shift ;;
    --procs) PROCS=$2; shift ;;
    --s3) S3=1 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
export PATH="$HOME/.cargo/bin:$PATH"
CSV=$PWD/bench/data/usage_$ROWS.csv
[ -s "$CSV" ] || { echo "$CSV is missing: run bash bench/run.sh --rows $ROWS first" >&2; exit 2; }
cargo build --release --locked >&2
ETL=$PWD/target/release/etl
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
TARGET=$OUT/lake
if [ "$S3" = 1 ]; then
  eval "$(scripts/s3-up.sh)"
  TARGET="s3://$ETL_TEST_BUCKET/multi-$$"
fi
job() { # name, args...: runs etl, keeps its peak RSS (KB) in $OUT/<name>.rss
  local name=$1; shift
  /usr/bin/time -o "$OUT/$name.rss" -f "%M" "$ETL" --target "$TARGET" "$@" >/dev/null 2>"$OUT/$name.log" ||
    { echo "job $name failed:" >&2; cat "$OUT/$name.log" >&2; exit 1; }
}
peak() { cat "$OUT"/"$1"*.rss | sort -n | tail -1 | awk '{printf "%d MB", $1 / 1024}'; }
now() { date +%s.%N; }
echo "machine: $(nproc) cores; input: $ROWS rows; $PROCS processes; target: ${TARGET%%/multi*}"
printf '\n| case | wall | largest peak RSS |\n|---|---|---|\n'

t0=$(now)
for i in $(seq "$PROCS"); do job "seq$i" upload-csv "$CSV" --dataset-id "seq-$i" --partition-col Date; done
printf '| %s datasets, one after another | %.2f s | %s |\n' "$PROCS" "$(echo "$(now) - $t0" | bc)" "$(peak seq)"

t0=$(now)
for i in $(seq "$PROCS"); do job "par$i" upload-csv "$CSV" --dataset-id "par-$i" --partition-col Date & done
wait
printf '| %s datasets, at once | %.2f s | %s |\n' "$PROCS" "$(echo "$(now) - $t0" | bc)" "$(peak par)"

# One dataset, the year split into PROCS ranges of days (the file holds 2025-11-01..2026-10-31): the
# ranges one after another, then started at once (they stage side by side and take turns to publish).
start=$(date -u -d 2025-11-01 +%s)
range_of() {
  local i=$1 from to
  from=$(date -u -d "@$((start + i * 365 / PROCS * 86400))" +%F)
  to=$(date -u -d "@$((start + ((i + 1) * 365 / PROCS - 1) * 86400))" +%F)
  [ "$i" = $((PROCS - 1)) ] && to=2026-10-31
  echo "$from..$to"
}
t0=$(now)
for i in $(seq 0 $((PROCS - 1))); do
  job "inrow$i" upload-csv "$CSV" --dataset-id inrow --partition-col Date --partition-range "$(range_of "$i")"
done
inrow=$(echo "$(now) - $t0" | bc)
printf '| %s ranges of one dataset, one after another | %.2f s | %s |\n' "$PROCS" "$inrow" "$(peak inrow)"
t0=$(now)
for i in $(seq 0 $((PROCS - 1))); do
  job "range$i" upload-csv "$CSV" --dataset-id ranged --partition-col Date --partition-range "$(range_of "$i")" \
    --wait-lock 600 &
done
wait
atonce=$(echo "$(now) - $t0" | bc)
printf '| %s ranges of one dataset, at once (--wait-lock) | %.2f s | %s |\n' "$PROCS" "$atonce" "$(peak range)"
printf '\nranges at once / in a row: %s\n' "$(awk -v a="$atonce" -v b="$inrow" 'BEGIN {printf "%.2f", a / b}')"

# Every dataset complete: 365 partitions each, and the ranged one's manifest lists them all.
"$ETL" --target "$TARGET" inspect ranged --json >"$OUT/ranged.json"
python3 - "$OUT/ranged.json" "$ROWS" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
assert m["partitions"] == 365 and m["rows"] == int(sys.argv[2]), m
print(f"\nchecked: the ranged dataset has {m['partitions']} partitions and {m['rows']} rows, as one load gives")
PY
