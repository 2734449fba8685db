#!/usr/bin/env bash
# Installs the readers the tests read the output back with: the Python packages of DuckDB, polars,
# pyarrow, pyspark, Daft, ClickHouse (chdb), DataFusion and pandas, a JDK for Spark (Debian's
# openjdk-17, if no java is installed), and pyarrow 14 (with numpy<2) in a virtualenv of its own
# under ~/.cache/etl-readers/pyarrow14: an Arrow reader that knows no string views, as many managed
# runtimes still have. The Delta readers: deltalake (delta-rs, also polars' scan_delta), and DuckDB
# 1.4.4 with its delta extension in ~/.cache/etl-readers/duckdb144.
set -euo pipefail
if ! command -v java >/dev/null; then
  echo "installing a JDK for Spark (Debian package)..." >&2
  SUDO=()
  [ "$(id -u)" = 0 ] || SUDO=(sudo)
  (export DEBIAN_FRONTEND=noninteractive; "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" apt-get install -y -qq openjdk-17-jre-headless) >&2
fi
python3 -m pip install --quiet --disable-pip-version-check 'duckdb>=1.1' polars pyarrow 'pyspark>=4' \
  daft chdb datafusion pandas deltalake >&2
# DuckDB's Delta reader (delta_scan) for DuckDB 1.4.4, with httpfs for S3, from PyPI's extension
# packages, in a virtualenv of its own (the readers above have DuckDB 2.0).
DUCK="$HOME/.cache/etl-readers/duckdb144"
if ! "$DUCK/bin/python" -c 'import duckdb, duckdb_ext, pytz' >/dev/null 2>&1; then
  rm -rf "$DUCK"
  python3 -m venv "$DUCK"
  "$DUCK/bin/pip" install --quiet --disable-pip-version-check 'duckdb==1.4.4' 'duckdb-ext-delta==1.4.4.*' \
    'duckdb-ext-httpfs==1.4.4.*' pytz >&2
fi
OLD="$HOME/.cache/etl-readers/pyarrow14"
if ! "$OLD/bin/python" -c 'import pyarrow' >/dev/null 2>&1; then
  rm -rf "$OLD"
  python3 -m venv "$OLD"
  "$OLD/bin/pip" install --quiet --disable-pip-version-check 'pyarrow==14.0.2' 'numpy<2' >&2
fi
