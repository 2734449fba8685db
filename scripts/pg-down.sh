#!/usr/bin/env bash
# Stop the PostgreSQL started by scripts/pg-up.sh.
DIR=${ETL_PG_DIR:-/tmp/etl-pg}
BIN=$(ls -d /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -1 | xargs -r dirname)
[ -d "$DIR/data" ] || exit 0
RUN=()
[ "$(id -u)" != 0 ] || RUN=(runuser -u postgres --)
"${RUN[@]}" "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
