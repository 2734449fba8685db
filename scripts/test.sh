#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs and starts what the tests need (Garage as the
# S3-compatible server, s3s-fs as one that honours conditional writes for the lock tests, PostgreSQL
# from Debian's packages, DuckDB, polars, pyarrow and Spark to read the output back, Airflow and
# Dagster to run what `etl schedule export` writes, promtool and a Prometheus Pushgateway for the
# metrics), then runs
# every test with the S3, PostgreSQL and DuckDB tests required (they fail rather than skip).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
scripts/readers-up.sh
schedulers_env=$(scripts/schedulers-up.sh)
eval "$schedulers_env"
s3_env=$(scripts/s3-up.sh)
eval "$s3_env"
trap 'scripts/s3-down.sh; scripts/s3s-down.sh; scripts/pg-down.sh; scripts/monitoring-down.sh' EXIT
s3s_env=$(scripts/s3s-up.sh)
eval "$s3s_env"
pg_env=$(scripts/pg-up.sh)
eval "$pg_env"
# promtool and a Pushgateway (Debian's packages) for the metrics tests (tests/it/monitoring.rs).
monitoring_env=$(scripts/monitoring-up.sh)
eval "$monitoring_env"
# buildah (Debian's package) builds the container image and runs it (tests/it/image.rs), without a
# daemon: vfs storage, chroot isolation.
if ! command -v buildah >/dev/null; then
  echo "installing buildah (Debian package)..." >&2
  SUDO=()
  [ "$(id -u)" = 0 ] || SUDO=(sudo)
  (export DEBIAN_FRONTEND=noninteractive; "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" apt-get install -y -qq buildah) >&2
fi
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
# Nothing here may ask the real EC2 metadata address (tests that check it point it at a listener).
export AWS_EC2_METADATA_DISABLED=true
export ETL_REQUIRE_S3=1 ETL_REQUIRE_S3S=1 ETL_REQUIRE_DUCKDB=1 ETL_REQUIRE_PG=1 ETL_REQUIRE_READERS=1 ETL_REQUIRE_SCHEDULERS=1 ETL_REQUIRE_IMAGE=1 ETL_REQUIRE_MONITORING=1
cargo test --locked "$@"
