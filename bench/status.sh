#!/usr/bin/env bash
# `etl status` on a target of many datasets (run on demand): one dataset loaded, copied until there
# are N (status reads run records, never data), then `etl status --stale-after 26h --json` timed,
# fastest of 5. The goal (issue 31): 300 datasets in under 2 s on a local folder.
#
#   bash bench/status.sh [--datasets N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=300
while [ $# -gt 0 ]; do
  case "$1" in
    --datasets) N=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked >&2
ETL=$PWD/target/release/etl
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
printf 'day,user,cost\n2026-11-01,u1,1.5\n2026-11-02,u2,2\n' >"$OUT/a.csv"
"$ETL" upload-csv "$OUT/a.csv" --dataset-id d0000 --partition-col day --target "$OUT/lake" 2>/dev/null
for i in $(seq 1 $((N - 1))); do
  cp -r "$OUT/lake/datasets/d0000" "$OUT/lake/datasets/$(printf 'd%04d' "$i")"
done
best=
for _ in 1 2 3 4 5; do
  start=$(date +%s%N)
  "$ETL" status --stale-after 26h --json --target "$OUT/lake" >"$OUT/status.json" 2>/dev/null
  t=$(( $(date +%s%N) - start ))
  if [ -z "$best" ] || [ "$t" -lt "$best" ]; then best=$t; fi
done
count=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['datasets']))" "$OUT/status.json")
[ "$count" = "$N" ] || { echo "etl status listed $count datasets, not $N" >&2; exit 1; }
printf 'etl status of %d datasets on a local folder: %d ms (fastest of 5; goal: under 2000 ms for 300)\n' \
  "$N" "$((best / 1000000))"
