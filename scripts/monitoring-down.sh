#!/usr/bin/env bash
# Stops the Pushgateway started by scripts/monitoring-up.sh.
DIR=${ETL_PUSHGATEWAY_DIR:-/tmp/etl-pushgateway}
[ -f "$DIR/pid" ] || exit 0
kill "$(cat "$DIR/pid")" 2>/dev/null || true
rm -f "$DIR/pid"
