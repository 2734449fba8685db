#!/usr/bin/env bash
# Installs the readers the tests read the output back with: the Python packages of DuckDB, polars,
# pyarrow and pyspark, and a JDK for Spark (Debian's openjdk-17, if no java is installed).
set -euo pipefail
if ! command -v java >/dev/null; then
  echo "installing a JDK for Spark (Debian package)..." >&2
  SUDO=()
  [ "$(id -u)" = 0 ] || SUDO=(sudo)
  (export DEBIAN_FRONTEND=noninteractive; "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" apt-get install -y -qq openjdk-17-jre-headless) >&2
fi
python3 -m pip install --quiet --disable-pip-version-check 'duckdb>=1.1' polars pyarrow 'pyspark>=4' >&2
