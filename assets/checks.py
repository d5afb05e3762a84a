"""The invariants as blocking asset checks, over the days of the run that materialized the asset.

- rows in = rows staged + rows quarantined, for every file read;
- every cost line's pieces sum to the line exactly, and no piece has the opposite sign of its line;
- per day and source, fact_cost sums to the source's cost lines: `reconciliation.difference` is 0.
"""

from dataclasses import dataclass
from datetime import date

from assets.lake import Lake
from assets.sql import connect


@dataclass(frozen=True)
class Invariant:
    asset: str
    table: str
    query: str
    """SQL over the view `t` (the table's partitions of the days checked) returning one row per violation."""
    what: str
    description: str


INVARIANTS = {
    "rows_in_equal_rows_out": Invariant(
        asset="quarantine",
        table="ingest_log",
        query="select source, source_file, rows_read, rows_valid, rows_quarantined from t where not balanced",
        what="files whose rows do not balance",
        description="Every file read: rows in = rows staged + rows quarantined.",
    ),
    "pieces_conserve_each_line": Invariant(
        asset="allocated_lines",
        table="allocated_lines",
        query="select charge_date, line_id, any_value(line_amount), sum(amount) from t group by charge_date, line_id "
        "having sum(amount) <> any_value(line_amount) or bool_or(amount * line_amount < 0)",
        what="lines not conserved or with a piece of the opposite sign",
        description="The pieces of every cost line sum to it exactly and none has the opposite sign.",
    ),
    "reconciliation_difference_is_zero": Invariant(
        asset="reconciliation",
        table="reconciliation",
        query="select charge_date, source, source_total, allocated, unallocated, difference from t "
        "where difference <> 0",
        what="day × source rows with a non-zero difference",
        description="Per day and source, fact_cost sums to the source's cost lines: difference is 0.",
    ),
}


def find_violations(lake: Lake, invariant: Invariant, days: list[date]) -> list[tuple]:
    """Rows that break `invariant` on `days` (empty when it holds or the days have no data)."""
    files = [str(p) for d in days for p in sorted(lake.partition_dir(invariant.table, d).glob("*.parquet"))]
    if not files:
        return []
    with connect() as con:
        con.execute("create temp table t as select * from read_parquet($files, union_by_name = true)", {"files": files})
        return con.execute(invariant.query).fetchall()
