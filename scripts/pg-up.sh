#!/usr/bin/env bash
# Start a throwaway PostgreSQL (Debian's package, installed first if missing) on 127.0.0.1:5433 with
# trust authentication for user `etl`, data under $ETL_PG_DIR (/tmp/etl-pg). Prints the variable to
# export:   eval "$(scripts/pg-up.sh)"      Stop it with scripts/pg-down.sh.
set -euo pipefail
DIR=${ETL_PG_DIR:-/tmp/etl-pg}
PORT=${ETL_PG_PORT:-5433}
bin_dir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
BIN=$(bin_dir || true)
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
  echo "installing postgresql (Debian package)..." >&2
  SUDO=()
  [ "$(id -u)" = 0 ] || SUDO=(sudo)
  (export DEBIAN_FRONTEND=noninteractive; "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" apt-get install -y -qq postgresql) >&2
  BIN=$(bin_dir)
fi
"$(dirname "$0")/pg-down.sh" >/dev/null 2>&1 || true
# initdb refuses to run as root: the server runs as `postgres` then.
RUN=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --create-home postgres
  RUN=(runuser -u postgres --)
fi
rm -rf "$DIR"
mkdir -p "$DIR"
[ "$(id -u)" != 0 ] || chown postgres "$DIR"
"${RUN[@]}" "$BIN/initdb" -D "$DIR/data" -U etl -A trust --no-sync >"$DIR/initdb.log" 2>&1 ||
  { cat "$DIR/initdb.log" >&2; exit 1; }
"${RUN[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w \
  -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null ||
  { cat "$DIR/server.log" >&2; exit 1; }
echo "export ETL_TEST_DATABASE_URL=postgres://etl@127.0.0.1:$PORT/postgres"
