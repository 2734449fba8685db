#!/usr/bin/env bash
# Installs the schedulers the `etl schedule export` tests run the exported files on, each in a
# virtualenv of its own under $ETL_SCHEDULERS_DIR (~/.cache/etl-schedulers), once:
#   airflow/  Apache Airflow 3 (standalone, SQLite): `airflow dags test` runs a generated DAG; with
#             its OpenLineage provider, whose task events etl's name as their parent run
#   dagster/  Dagster, and the offline validators: kubernetes-validate (CronJobs and ConfigMaps
#             against Kubernetes' schemas) and hera (Argo Workflows' models, for CronWorkflows)
#   ci/       check-jsonschema, whose built-in GitHub-workflow and GitLab-CI schemas validate the
#             CI recipes in docs/ci/; its jsonschema (with the date-time and uri format checkers)
#             validates etl's OpenLineage events (tests/openlineage/validate.py)
# Prints the variables to export:   eval "$(scripts/schedulers-up.sh)"
set -euo pipefail
DIR=${ETL_SCHEDULERS_DIR:-$HOME/.cache/etl-schedulers}
AIRFLOW=(apache-airflow==3.3.2 apache-airflow-providers-openlineage==2.20.3)
DAGSTER=(dagster==1.13.28 kubernetes-validate==1.37.0 hera==7.1.0 jsonschema==4.26.0 pyyaml)
CI=(check-jsonschema==0.39.0 rfc3339-validator==0.1.4 rfc3987==1.3.8)
install() { # install NAME PACKAGES...: a venv with exactly these packages (kept while they are)
  local name=$1; shift
  local venv="$DIR/$name" want="$*"
  if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$want" ]; then
    echo "installing $want (PyPI, into $venv)..." >&2
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
    printf '%s' "$want" >"$venv/.installed"
  fi
}
mkdir -p "$DIR"
install airflow "${AIRFLOW[@]}"
install dagster "${DAGSTER[@]}"
install ci "${CI[@]}"
echo "export ETL_AIRFLOW_VENV='$DIR/airflow' ETL_DAGSTER_VENV='$DIR/dagster' ETL_CI_VENV='$DIR/ci'"
