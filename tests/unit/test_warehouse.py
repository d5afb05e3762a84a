"""The warehouse people query: portable (a moved folder still answers), described (every view and column has a
comment), scriptable (`apportion sql --format/--out`), and the README's ready queries answer on a tiny warehouse."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from assets.lake import Lake
from assets.sql import connect
from assets.warehouse import SCHEMAS, WAREHOUSE_COLUMNS, catalog_markdown, open_warehouse, publish_warehouse
from pipelines.cli import app
from tests.warehouse_fixtures import TABLES, fact_row, write_insight, write_partition

REPO = Path(__file__).resolve().parents[2]
OCT_20, OCT_31, NOV_1 = date(2026, 10, 20), date(2026, 10, 31), date(2026, 11, 1)
NEVER_LOGGED = "calls never logged (vendor usage report: 12 requests, 10 logged)"
TOTAL = Decimal("124.20")


def tiny_warehouse(folder: Path) -> Path:
    """`folder/warehouse.duckdb` over `folder/lake`: three days of fact_cost, two of true_up, the retry_spend mart."""
    lake = Lake(folder / "lake")
    planner = {"team": "search", "feature": "answer", "agent": "planner"}
    writer = {"team": "growth", "feature": "onboarding", "agent": "writer"}
    unallocated = {"allocation_rule": "unallocated", "source": "cloud_bill", "unallocated_reason": "no rule matched"}
    write_partition(lake, "fact_cost", OCT_20, [fact_row("100.00", team="support", feature="triage")])
    write_partition(
        lake,
        "fact_cost",
        OCT_31,
        [fact_row("10.25", **planner), fact_row("1.75", **planner, is_retry=True), fact_row("3.00", **unallocated)],
    )
    write_partition(
        lake,
        "fact_cost",
        NOV_1,
        [
            fact_row("5.50", **writer),
            fact_row(
                "0", team="growth", feature="onboarding", agent="writer", allocation_rule="telemetry", requests=10
            ),
            fact_row("0.50", **planner, is_retry=True),
            fact_row("0", **planner, allocation_rule="telemetry", requests=40),
            fact_row("2.00", **unallocated),
            fact_row("1.20", unallocated_reason=NEVER_LOGGED),
        ],
    )
    bill = {"source": "openai_costs", "provider": "openai", "model": "gpt-4o"}
    write_partition(
        lake,
        "true_up",
        OCT_31,
        [
            {**bill, "billed_usd": 12, "list_priced_usd": 10, "residual_usd": 2, "unlogged_usd": Decimal("0.5"),
             "price_residual_usd": Decimal("1.5")},
            {"source": "anthropic_costs", "provider": "anthropic", "model": "claude", "billed_usd": 4,
             "list_priced_usd": 0, "residual_usd": 4, "unlogged_usd": 0, "price_residual_usd": 4},
        ],
    )  # fmt: skip
    write_partition(
        lake,
        "true_up",
        NOV_1,
        [{**bill, "billed_usd": 6, "list_priced_usd": 5, "residual_usd": 1, "unlogged_usd": Decimal("0.2"),
          "price_residual_usd": Decimal("0.8")}],
    )  # fmt: skip
    write_insight(
        lake,
        "retry_spend",
        [
            {"charge_date": OCT_31, **planner, **retry_money("1.50", "0.40", "1.75")},
            {"charge_date": NOV_1, **planner, **retry_money("0.45", "0.10", "0.50")},
            {"charge_date": NOV_1, **writer, **retry_money("0", "0.3", "0")},
        ],
    )
    publish_warehouse(lake, folder / "warehouse.duckdb")
    return folder / "warehouse.duckdb"


def retry_money(retry_list: str, failed_list: str, billed_retry: str) -> dict[str, Decimal]:
    return {
        "retry_list_usd": Decimal(retry_list),
        "failed_list_usd": Decimal(failed_list),
        "billed_retry_usd": Decimal(billed_retry),
    }


def write_config(folder: Path) -> Path:
    config = folder / "apportion.yaml"
    config.write_text(
        f"warehouse: data/warehouse.duckdb\nlake: data/lake\nallocation: {REPO / 'config' / 'allocation.yaml'}\n"
        f"prices: {REPO / 'config' / 'prices.yaml'}\nsources: []\n"
    )
    return config


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with apportion.yaml and the tiny warehouse under data/."""
    tiny_warehouse(tmp_path / "data")
    return write_config(tmp_path)


def sql(config: Path, *args: str):
    return CliRunner().invoke(app, ["sql", *args, "--config", str(config)], catch_exceptions=False)


def ready_queries() -> list[str]:
    """The SQL blocks of README's "Ready queries"."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Ready queries", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, flags=re.S)


def test_the_readme_ready_queries_answer_on_a_tiny_warehouse(tmp_path: Path):
    queries = ready_queries()
    assert len(queries) == 5
    with open_warehouse(tiny_warehouse(tmp_path)) as con:
        by_team_month, top_features, unallocated, true_up, retries = (con.execute(q).fetchall() for q in queries)
    oct_, nov = date(2026, 10, 1), date(2026, 11, 1)
    assert by_team_month == [
        (oct_, "support", Decimal("100")),
        (oct_, "search", Decimal("12")),
        (oct_, "unallocated", Decimal("3")),
        (nov, "growth", Decimal("5.5")),
        (nov, "unallocated", Decimal("3.2")),
        (nov, "search", Decimal("0.5")),
    ]
    assert sum(amount for *_, amount in by_team_month) == TOTAL
    assert top_features == [  # 20 October is not in the week up to 1 November
        ("answer", Decimal("12.5"), 40),
        ("unallocated", Decimal("6.2"), 0),
        ("onboarding", Decimal("5.5"), 10),
    ]
    assert unallocated == [
        ("no rule matched", "cloud_bill", Decimal("5")),
        (NEVER_LOGGED, "openai_costs", Decimal("1.2")),
    ]
    assert true_up == [
        ("openai", Decimal(18), Decimal(15), Decimal("0.7"), Decimal("2.3")),
        ("anthropic", Decimal(4), Decimal(0), Decimal(0), Decimal(4)),
    ]
    assert retries == [("planner", Decimal("2.25"), Decimal("1.95"), Decimal("0.5")), ("writer", 0, 0, Decimal("0.3"))]


def test_the_tiny_tables_have_only_columns_the_real_ones_have():
    """So the ready queries tested above name columns the pipeline writes (the e2e test checks WAREHOUSE_COLUMNS
    against a real run)."""
    for table, columns in TABLES.items():
        assert {name for name, _ in columns} <= set(WAREHOUSE_COLUMNS[table]), table


def test_a_moved_warehouse_answers_through_apportion_sql_and_plain_duckdb(tmp_path: Path, monkeypatch):
    tiny_warehouse(tmp_path / "here" / "data")
    config = write_config(tmp_path / "here")
    moved = tmp_path / "mounted" / "elsewhere"
    shutil.move(tmp_path / "here", moved)
    config = moved / config.name
    query = "select sum(amount_usd) as usd, (select sum(billed_retry_usd) from retry_spend) as retry from fact_cost"

    result = sql(config, "--format", "json", query)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output, parse_float=Decimal) == [{"usd": TOTAL, "retry": Decimal("2.25")}]

    warehouse = moved / "data" / "warehouse.duckdb"
    with connect(warehouse, read_only=True) as con:
        views = con.execute("select sql from duckdb_views() where not internal").fetchall()
        assert views and not [v for (v,) in views if str(tmp_path) in v], "a view names an absolute path"
    monkeypatch.chdir(tmp_path)
    with duckdb.connect(str(warehouse), read_only=True, config={"file_search_path": str(warehouse.parent)}) as con:
        assert con.execute(query.replace("from ", "from marts.")).fetchall() == [(TOTAL, Decimal("2.25"))]
    monkeypatch.chdir(warehouse.parent)  # opened from its folder, a plain client needs no setting
    with duckdb.connect("warehouse.duckdb", read_only=True) as con:
        assert con.execute("select sum(amount_usd) from marts.fact_cost").fetchall() == [(TOTAL,)]


def test_every_schema_view_and_column_of_the_warehouse_is_described(tmp_path: Path):
    with open_warehouse(tiny_warehouse(tmp_path)) as con:
        views = con.execute("select schema_name, view_name, comment from duckdb_views() where not internal").fetchall()
        columns = con.execute(
            "select table_name, column_name, comment from duckdb_columns() where not internal"
        ).fetchall()
        schemas = dict(con.execute("select schema_name, description from main.schemas").fetchall())
    assert {f"{s}.{v}" for s, v, _ in views} == {
        "main.schemas", "marts.fact_cost", "marts.true_up", "marts.retry_spend",
    }  # fmt: skip
    assert [v for v in views if not v[2]] == []
    assert len(columns) > 20 and [c for c in columns if not c[2]] == []
    assert dict((c, d) for t, c, d in columns if t == "fact_cost")["amount_usd"].startswith("Cost in the reporting")
    assert set(SCHEMAS) | {"main"} == set(schemas) and all(schemas.values())


def test_docs_warehouse_md_is_generated_from_the_schemas():
    assert (REPO / "docs" / "warehouse.md").read_text() == catalog_markdown(), (
        "docs/warehouse.md is stale: .venv/bin/python -m assets.warehouse docs/warehouse.md"
    )


def test_sql_writes_csv_json_and_parquet_with_exact_money(project: Path, tmp_path: Path):
    query = "select team, sum(amount_usd) as usd from fact_cost where team <> 'unallocated' group by 1 order by 1"
    expected = [("growth", Decimal("5.5")), ("search", Decimal("12.5")), ("support", Decimal("100"))]
    as_csv = sql(project, "--format", "csv", query)
    assert as_csv.exit_code == 0, as_csv.output
    assert [(r["team"], Decimal(r["usd"])) for r in csv.DictReader(io.StringIO(as_csv.output))] == expected
    assert "5.5000000000" in as_csv.output
    as_json = sql(project, "--format", "json", query)
    assert [(r["team"], r["usd"]) for r in json.loads(as_json.output, parse_float=Decimal)] == expected
    out = tmp_path / "result.parquet"
    assert sql(project, "--format", "parquet", "--out", str(out), query).exit_code == 0
    with connect() as con:
        assert con.execute("select * from read_parquet($f)", {"f": str(out)}).fetchall() == expected
    table = tmp_path / "result.txt"
    assert sql(project, "--out", str(table), query).exit_code == 0
    assert "support" in table.read_text() and "100.0000000000" in table.read_text()


def test_sql_exits_non_zero_with_duckdbs_message_on_a_bad_query(project: Path):
    result = sql(project, "select nope from fact_cost")
    assert result.exit_code == 1
    assert 'Binder Error: Referenced column "nope" not found' in result.output
    missing = sql(project, "--format", "csv", "select * from no_such_table")
    assert missing.exit_code == 1 and "Catalog Error" in missing.output and "no_such_table" in missing.output
    assert sql(project, "--format", "parquet", "select 1").exit_code == 2  # parquet needs --out
    assert sql(project, "--format", "xml", "select 1").exit_code == 2
