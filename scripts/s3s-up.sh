#!/usr/bin/env bash
# Start s3s-fs (the S3 protocol over a folder, from crates.io) on 127.0.0.1:9100 with one bucket. It
# honours conditional writes (`If-None-Match: *` answers 412), which Garage ignores: the dataset-lock
# tests run against it. Installs it first if it is missing (about 1.5 minutes on 2 cores).
# Prints the variables to export:   eval "$(scripts/s3s-up.sh)"     Stop it with scripts/s3s-down.sh.
set -euo pipefail
DIR=${ETL_S3S_DIR:-/tmp/etl-s3s}
PORT=${ETL_S3S_PORT:-9100}
BUCKET=etl-locks
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v s3s-fs >/dev/null; then
  echo "installing s3s-fs 0.14.1 (cargo install, ~1.5 minutes on 2 cores)..." >&2
  cargo install --locked s3s-fs@0.14.1 --features binary >&2
fi
"$(dirname "$0")/s3s-down.sh" >/dev/null 2>&1 || true
rm -rf "$DIR"
mkdir -p "$DIR/root/$BUCKET"
setsid s3s-fs --host 127.0.0.1 --port "$PORT" --access-key etl-s3s-key --secret-key etl-s3s-secret \
  "$DIR/root" >"$DIR/server.log" 2>&1 < /dev/null &
echo $! > "$DIR/pid"
for _ in $(seq 100); do
  (echo > "/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done
if ! (echo > "/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "s3s-fs did not start; its log:" >&2
  cat "$DIR/server.log" >&2
  exit 1
fi
echo "export ETL_S3S_ENDPOINT=http://127.0.0.1:$PORT ETL_S3S_BUCKET=$BUCKET ETL_S3S_KEY=etl-s3s-key ETL_S3S_SECRET=etl-s3s-secret"
