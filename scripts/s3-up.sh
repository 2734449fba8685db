#!/usr/bin/env bash
# Start a single-node Garage (a real S3-compatible object store, from crates.io) on 127.0.0.1:3900
# with one bucket and one fixed test key. Installs Garage first if it is missing (about 9 minutes on
# 2 cores). Prints the variables to export:   eval "$(scripts/s3-up.sh)"
# Stop it with scripts/s3-down.sh. Server log: $ETL_S3_DIR/server.log
set -euo pipefail
DIR=${ETL_S3_DIR:-/tmp/etl-garage}
BUCKET=${ETL_TEST_BUCKET:-etl-test}
PORT=${ETL_S3_PORT:-3900}
KEY_ID=GK31c2f218a2e44f485b94239e
SECRET=b892c0665f0ada8a4755dae98baa3b133590e11dae3bcc1f9d769d67f16c3835
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v garage >/dev/null; then
  echo "installing garage 2.5.0 (cargo install, ~9 minutes on 2 cores)..." >&2
  cargo install --locked garage@2.5.0 >&2
fi
"$(dirname "$0")/s3-down.sh" >/dev/null 2>&1 || true
rm -rf "$DIR"
mkdir -p "$DIR"
cat > "$DIR/garage.toml" <<TOML
metadata_dir = "$DIR/meta"
data_dir = "$DIR/data"
db_engine = "sqlite"
replication_factor = 1
# Like MinIO by default, blocks are stored as sent (Parquet is compressed already).
compression_level = "none"
rpc_bind_addr = "127.0.0.1:$((PORT + 1))"
rpc_public_addr = "127.0.0.1:$((PORT + 1))"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
[s3_api]
s3_region = "us-east-1"
api_bind_addr = "127.0.0.1:$PORT"
root_domain = ".s3.garage.localhost"
TOML
G="garage -c $DIR/garage.toml"
setsid $G server >"$DIR/server.log" 2>&1 < /dev/null &
echo $! > "$DIR/pid"
for _ in $(seq 100); do $G status >/dev/null 2>&1 && break; sleep 0.2; done
NODE=$($G node id -q | cut -d@ -f1)
$G layout assign -z dc1 -c 1G "$NODE" >/dev/null
$G layout apply --version 1 >/dev/null
$G key import --yes -n etl-test "$KEY_ID" "$SECRET" >/dev/null
$G bucket create "$BUCKET" >/dev/null
$G bucket allow --read --write --owner "$BUCKET" --key "$KEY_ID" >/dev/null
cat <<ENV
export AWS_ENDPOINT_URL=http://127.0.0.1:$PORT
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=$KEY_ID
export AWS_SECRET_ACCESS_KEY=$SECRET
export ETL_TEST_BUCKET=$BUCKET
ENV
