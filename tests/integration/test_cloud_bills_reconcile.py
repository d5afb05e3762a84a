"""Bills shaped like the real Azure and GCP exports run through the whole pipeline with the repository's rules:
every layer, and the fact table reconciles to each export's own total to the cent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from assets.allocation.engine import allocate
from assets.config import load_settings
from assets.marts.facts import build_marts
from assets.pricing import price_day
from assets.raw import land_day
from assets.sql import connect
from assets.staging import stage_day
from tests.unit.test_azure_export import EA_AMORTIZED, two_runs
from tests.unit.test_gcp_mapping import ROWS, source_total, write_jsonl

REPO = Path(__file__).resolve().parents[2]
AZURE_DAY, GCP_DAY = date(2023, 9, 22), date(2026, 11, 3)


def test_azure_and_gcp_exports_reconcile_through_every_layer(tmp_path: Path) -> None:
    two_runs(tmp_path / "azure" / "ai-export")
    (tmp_path / "gcp").mkdir()
    write_jsonl(tmp_path / "gcp" / "billing-2026-11-03.jsonl", ROWS)
    (tmp_path / "apportion.yaml").write_text(
        f"allocation: {REPO / 'config' / 'allocation.yaml'}\nprices: {REPO / 'config' / 'prices.yaml'}\n"
        "sources:\n"
        f"  - {{name: azure_bill, kind: azure_export, path: '{tmp_path / 'azure' / 'ai-export'}'}}\n"
        "  - {name: gcp_bill, kind: gcp_billing_file, path: 'gcp/*.jsonl'}\n"
    )
    settings = load_settings(tmp_path / "apportion.yaml")
    for day in (AZURE_DAY, GCP_DAY):
        land_day(settings, day)
        stage_day(settings, day)
        price_day(settings, day)
        allocate(settings, day)
        build_marts(settings, day)
    with connect() as con:
        rows = con.execute(
            "select charge_date, source, cost_lines, rows_quarantined, source_total, allocated + unallocated, "
            "difference, complete from read_parquet($f, hive_partitioning = true) where cost_lines > 0 order by 1",
            {"f": str(settings.app.lake / "marts" / "reconciliation" / "*" / "*.parquet")},
        ).fetchall()
        teams = dict(
            con.execute(
                "select team, sum(amount_usd) from read_parquet($f) where source = 'azure_bill' group by 1",
                {"f": str(settings.app.lake / "marts" / "fact_cost" / "*" / "*.parquet")},
            ).fetchall()
        )
    azure_total = Decimal("40.50") + Decimal("13.50") + Decimal("0.25")  # the amortized export's own Cost column
    assert EA_AMORTIZED.count("\n") == 4
    assert rows == [
        (AZURE_DAY, "azure_bill", 3, 0, azure_total, azure_total, 0, True),
        (GCP_DAY, "gcp_bill", len(ROWS), 0, source_total(ROWS), source_total(ROWS), 0, True),
    ]
    # the tagged GPU hours land on their team, and the day's whole bill is somewhere in fact_cost
    assert teams["search"] == Decimal("40.50") and sum(teams.values()) == azure_total
