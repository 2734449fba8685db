#!/usr/bin/env bash
# Installs Debian's `prometheus` (for promtool) and `prometheus-pushgateway` if missing, and starts a
# throwaway Pushgateway on 127.0.0.1:$ETL_PUSHGATEWAY_PORT (9191), its state under
# $ETL_PUSHGATEWAY_DIR (/tmp/etl-pushgateway), for the metrics tests (tests/it/monitoring.rs).
# Prints the variables to export:   eval "$(scripts/monitoring-up.sh)"
# Stop it with scripts/monitoring-down.sh.
set -euo pipefail
DIR=${ETL_PUSHGATEWAY_DIR:-/tmp/etl-pushgateway}
PORT=${ETL_PUSHGATEWAY_PORT:-9191}
if ! command -v promtool >/dev/null || ! command -v prometheus-pushgateway >/dev/null; then
  echo "installing prometheus and prometheus-pushgateway (Debian packages)..." >&2
  SUDO=()
  [ "$(id -u)" = 0 ] || SUDO=(sudo)
  # The packages' services are not started here (no init system needed): the gateway is ours.
  (export DEBIAN_FRONTEND=noninteractive
   OURS=
   if [ ! -e /usr/sbin/policy-rc.d ]; then
     printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
     "${SUDO[@]}" chmod +x /usr/sbin/policy-rc.d
     OURS=1
   fi
   "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" apt-get install -y -qq --no-install-recommends prometheus prometheus-pushgateway
   [ -z "$OURS" ] || "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d) >&2
fi
"$(dirname "$0")/monitoring-down.sh" >/dev/null 2>&1 || true
rm -rf "$DIR"
mkdir -p "$DIR"
nohup prometheus-pushgateway --web.listen-address="127.0.0.1:$PORT" >"$DIR/pushgateway.log" 2>&1 &
echo $! >"$DIR/pid"
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    echo "export ETL_TEST_PUSHGATEWAY=http://127.0.0.1:$PORT ETL_TEST_PROMTOOL=$(command -v promtool)"
    exit 0
  fi
  sleep 0.1
done
cat "$DIR/pushgateway.log" >&2
echo "the Pushgateway did not start on 127.0.0.1:$PORT" >&2
exit 1
