#!/usr/bin/env bash
# Stop the s3s-fs started by scripts/s3s-up.sh.
DIR=${ETL_S3S_DIR:-/tmp/etl-s3s}
if [ -f "$DIR/pid" ]; then
  kill "$(cat "$DIR/pid")" 2>/dev/null || true
  rm -f "$DIR/pid"
fi
