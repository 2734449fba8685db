#!/usr/bin/env bash
# Start a throwaway PostgreSQL (Debian's package, installed first if missing) on 127.0.0.1:5433 for
# user `etl` with a random password, data under $ETL_PG_DIR (/tmp/etl-pg). Prints the variable to
# export:   eval "$(scripts/pg-up.sh)"      Stop it with scripts/pg-down.sh.
set -euo pipefail
DIR=${ETL_PG_DIR:-/tmp/etl-pg}
PORT=${ETL_PG_PORT:-5433}
# The newest installed server (a version with only its client installed has no initdb).
bin_dir() { ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1 | xargs -r dirname; }
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
chmod 700 "$DIR"
[ "$(id -u)" != 0 ] || chown postgres "$DIR"
# A password of this run's own (no other local user gets in), scram over loopback only.
PASSWORD=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$PASSWORD" >"$DIR/pw"
[ "$(id -u)" != 0 ] || chown postgres "$DIR/pw"
"${RUN[@]}" "$BIN/initdb" -D "$DIR/data" -U etl -A scram-sha-256 --pwfile="$DIR/pw" --no-sync \
  >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; exit 1; }
rm -f "$DIR/pw"
# TLS with a self-signed certificate, so that sslmode=require is tested for real.
if ! command -v openssl >/dev/null; then
  SUDO=()
  [ "$(id -u)" = 0 ] || SUDO=(sudo)
  (export DEBIAN_FRONTEND=noninteractive; "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" apt-get install -y -qq openssl) >&2
fi
openssl req -new -x509 -days 2 -nodes -subj /CN=localhost -keyout "$DIR/data/server.key" \
  -out "$DIR/data/server.crt" >/dev/null 2>&1
chmod 600 "$DIR/data/server.key"
[ "$(id -u)" != 0 ] || chown postgres "$DIR/data/server.key" "$DIR/data/server.crt"
"${RUN[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w \
  -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c ssl=on" start >/dev/null ||
  { cat "$DIR/server.log" >&2; exit 1; }
echo "export ETL_TEST_DATABASE_URL=postgres://etl:$PASSWORD@127.0.0.1:$PORT/postgres"
