"""The warehouse of a real run: every view and column described, the described columns exactly the real ones, and
no view naming an absolute path."""

from __future__ import annotations

from assets.schemas import WAREHOUSE_COLUMNS
from assets.warehouse import open_warehouse
from tests.e2e.conftest import Run


def test_every_view_and_column_of_a_real_run_is_described_as_in_the_schemas(pipeline_run: Run):
    with open_warehouse(pipeline_run.root / "out" / "warehouse.duckdb") as con:
        views = con.execute("select view_name, comment, sql from duckdb_views() where not internal").fetchall()
        columns = con.execute("select table_name, column_name, comment from duckdb_columns() where not internal")
        columns = columns.fetchall()
    assert {"fact_cost", "reconciliation", "true_up", "cost_lines", "priced_usage", "retry_spend"} <= {
        v for v, *_ in views
    }
    assert [v for v, comment, _ in views if not comment] == []
    assert [(t, c) for t, c, comment in columns if not comment] == []
    actual: dict[str, set[str]] = {}
    for table, column, _ in columns:
        actual.setdefault(table, set()).add(column)
    assert {t: cs for t, cs in actual.items() if cs != set(WAREHOUSE_COLUMNS[t])} == {}, (
        "assets/schemas.py WAREHOUSE_COLUMNS differs from the warehouse"
    )
    assert [v for v, _, sql in views if str(pipeline_run.root) in sql] == []
