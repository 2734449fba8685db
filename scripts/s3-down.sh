#!/usr/bin/env bash
# Stop the Garage started by scripts/s3-up.sh.
DIR=${ETL_S3_DIR:-/tmp/etl-garage}
if [ -f "$DIR/pid" ]; then
  kill "$(cat "$DIR/pid")" 2>/dev/null || true
  rm -f "$DIR/pid"
fi
