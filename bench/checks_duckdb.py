"""The five checks of bench/checks.sh as SQL over a loaded dataset, the way a team bolts them on after
the load (dbt tests, Great Expectations on DuckDB): prints each check's count of offending rows.

    python3 bench/checks_duckdb.py LAKE_DATASET_FOLDER
"""
import sys

import duckdb

files = f"{sys.argv[1]}/partitions/*/*.parquet"
con = duckdb.connect()
con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{files}', hive_partitioning = false)")
checks = {
    "not_null": "SELECT count(*) FROM t WHERE \"Date\" IS NULL OR \"User\" IS NULL OR \"Kind\" IS NULL",
    "unique": "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM t "
    "GROUP BY \"Date\", \"User\", \"Total Tokens\" HAVING count(*) > 1)",
    "range": "SELECT count(*) FROM t WHERE \"Cost ($)\" < 0 OR \"Cost ($)\" > 2.5",
    "accepted_values": "SELECT count(*) FROM t WHERE \"Kind\" NOT IN "
    "('Included', 'Usage-based', 'Errored, No Charge', 'Aborted, Not Charged')",
    "row_count": "SELECT count(*) FROM t",
}
for name, sql in checks.items():
    print(name, con.execute(sql).fetchone()[0])
