"""Every real Azure and GCP sample through every layer: `apportion run` over the sample's period (raw, staging,
pricing, allocation, marts, FOCUS exports, insight marts), the Azure ones both as a user downloads them (`path:` the
file) and as an export run with its `manifest.json`. Each day reconciles to the file's own total, computed here
from the raw rows with Python's Decimal: cost in billing currency per `Date` for Azure (× the configured FX rate),
cost + credits per usage day for GCP (koku wrote the credits as Python literals, read here with `ast`)."""

from __future__ import annotations

import ast
import csv
import json
import os
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from assets.sql import connect
from tests.focus_validator.runner import validate_export
from tests.samples import sample

REPO = Path(__file__).resolve().parents[2]
TEN_PLACES = Decimal("1e-10")
FX = {"USD": Decimal(1), "CAD": Decimal("0.7350")}
"""Units of USD per unit of the billing currency, the test config's FX file (every day of the run). koku's `MC` is no
ISO 4217 code: no rate can be configured for it, so its rows are quarantined with the reason."""

AZURE_COST = ("costinbillingcurrency", "cost", "pretaxcost")
AZURE_CURRENCY = ("billingcurrencycode", "billingcurrency", "currency")
AZURE_DATE = ("date", "usagedatetime")


@dataclass(frozen=True)
class Sample:
    name: str
    file: str
    kind: str

    @property
    def layouts(self) -> tuple[str, ...]:
        return ("files", "export") if self.kind == "azure_export" else ("files",)


GROUPS: dict[str, list[Sample]] = {
    "azure_ea_2023_09": [
        Sample("ea_actual", "azure/finops_toolkit_EA_ActualCost_Small.csv", "azure_export"),
        Sample("ea_amortized", "azure/finops_toolkit_EA_AmortizedCost_Small.csv", "azure_export"),
        Sample("ea_cad", "azure/focus_converters_ea_export_anonymized.csv", "azure_export"),
    ],
    "azure_koku_v2_2020_09": [Sample("koku_v2", "azure/koku_azure_version_2.csv", "azure_export")],
    "azure_legacy_camel_case_2019_07": [Sample("koku_camel", "azure/koku_azure_camelCased.csv", "azure_export")],
    "gcp_detailed_2022_08": [Sample("gcp_2022", "gcp/koku_gcp_billing_export_2022-08-01_5.csv", "gcp_billing_file")],
    "gcp_credits_2020_11": [
        Sample("gcp_credits", "gcp/koku_gcp_billing_export_202011_with_credits.csv", "gcp_billing_file")
    ],
}
"""One `apportion run` per group: samples whose periods overlap share it (each layout of each sample is a source)."""

FOCUS_VALIDATED = ("gcp_detailed_2022_08",)
"""The groups whose FOCUS 1.2 export the FinOps Foundation's validator checks too. Not yet the others: the Azure
files' ServiceName (the meter category) has several subcategories, the EA actual-cost file's reservation purchases
keep their cost as EffectiveCost, the GCP credits file's units are not in FOCUS's unit format."""


@dataclass
class Expected:
    """The sample's own numbers per day, from its raw rows."""

    totals: dict[date, Decimal]
    gross: dict[date, Decimal]
    rows: Counter[date]
    unrated: Counter[date]
    magnitude: dict[date, Decimal]
    """Σ|cost| of the rows staged (converted) and of those quarantined for want of a rate (as written)."""
    unrated_cost: dict[date, Decimal]
    """Σ|cost| as written of the rows with no FX rate."""

    def complete(self, day: date) -> bool:
        """Reconciliation's rule: at most max_quarantined_share (default 1 %) of the day's cost quarantined."""
        return self.unrated_cost.get(day, Decimal(0)) <= Decimal("0.01") * self.magnitude.get(day, Decimal(0))


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [{k.lower(): v for k, v in row.items()} for row in csv.DictReader(handle)]


def _first(row: dict[str, str], names: tuple[str, ...]) -> str:
    return next(row[n] for n in names if n in row)


def _day(text: str) -> date:
    for fmt in ("%m/%d/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text[:10] if "-" in text else text, fmt).date()
        except ValueError:
            continue
    raise ValueError(text)


def _exact(value: Decimal) -> Decimal:
    return value.quantize(TEN_PLACES, rounding=ROUND_HALF_UP)


def expected_of(s: Sample) -> Expected:
    totals: dict[date, Decimal] = defaultdict(Decimal)
    gross: dict[date, Decimal] = defaultdict(Decimal)
    rows: Counter[date] = Counter()
    unrated: Counter[date] = Counter()
    magnitude: dict[date, Decimal] = defaultdict(Decimal)
    unrated_cost: dict[date, Decimal] = defaultdict(Decimal)
    for row in _rows(sample(s.file)):
        if s.kind == "azure_export":
            day, cost = _day(_first(row, AZURE_DATE)), _exact(Decimal(_first(row, AZURE_COST)))
            rate = FX.get(_first(row, AZURE_CURRENCY).upper())
            if rate is None:
                unrated[day] += 1
                unrated_cost[day] += abs(cost)
                magnitude[day] += abs(cost)
                continue
            amount = _exact(cost * rate)
        else:
            day = date.fromisoformat(row["usage_start_time"][:10])
            credits = ast.literal_eval(row["credits"] or "[]")
            cost = _exact(Decimal(row["cost"]))
            amount = cost + sum((_exact(Decimal(str(c["amount"]))) for c in credits), Decimal(0))
        totals[day] += amount
        gross[day] += cost
        rows[day] += 1
        magnitude[day] += abs(amount)
    return Expected(dict(totals), dict(gross), rows, unrated, dict(magnitude), dict(unrated_cost))


def export_layout(root: Path, s: Sample, rows: int) -> Path:
    """The sample as one run of a partitioned export: `<export>/<YYYYMMDD-YYYYMMDD>/<run time>/<run id>/000001.csv`
    with a `manifest.json` shaped like the one Azure writes (koku's sample manifest, counts of this file)."""
    days = sorted(expected_of(s).rows | expected_of(s).unrated)
    first = days[0].replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    period = f"{first:%Y%m%d}-{last:%Y%m%d}"
    run = root / s.name / period / "202601020304" / "4f7c2a"
    run.mkdir(parents=True)
    blob = run / "000001.csv"
    shutil.copyfile(sample(s.file), blob)
    manifest = json.loads(sample("azure/koku_azure_export_manifest.json").read_text())
    size = blob.stat().st_size
    name = f"exports/{s.name}/{period}/202601020304/4f7c2a/000001.csv"
    manifest.update(
        byteCount=size,
        dataRowCount=rows,
        blobs=[{"blobName": name, "byteCount": size, "dataRowCount": rows, "headerRowCount": 1}],
    )
    (run / "manifest.json").write_text(json.dumps(manifest, indent=4))
    return root / s.name


def run_group(root: Path, samples: list[Sample]) -> tuple[list[date], subprocess.CompletedProcess]:
    expected = {s.name: expected_of(s) for s in samples}
    days_with_rows = sorted({d for e in expected.values() for d in (e.rows | e.unrated)})
    days = [days_with_rows[0] + timedelta(days=i) for i in range((days_with_rows[-1] - days_with_rows[0]).days + 1)]
    sources = []
    for s in samples:
        rows = sum((expected[s.name].rows | expected[s.name].unrated).values())
        paths = (
            {"files": sample(s.file), "export": export_layout(root / "exports", s, rows)}
            if "export" in s.layouts
            else {"files": sample(s.file)}
        )
        sources += [{"name": f"{s.name}_{layout}", "kind": s.kind, "path": str(path)} for layout, path in paths.items()]
    (root / "fx.csv").write_text(
        "date,currency,rate\n" + "".join(f"{d},{c},{r}\n" for d in days for c, r in FX.items() if c != "USD")
    )
    (root / "apportion.yaml").write_text(
        json.dumps(
            {
                "warehouse": "out/warehouse.duckdb",
                "lake": "out/lake",
                "start_date": "2019-01-01",
                "allocation": str(REPO / "config" / "allocation.yaml"),
                "prices": str(REPO / "config" / "prices.yaml"),
                "insights": str(REPO / "config" / "insights.yaml"),
                "fx_rates": "fx.csv",
                "memory_limit": "1GB",
                "sources": sources,
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    command = [str(Path(sys.executable).with_name("apportion")), "run", "--start", str(days[0]), "--end", str(days[-1])]
    result = subprocess.run(
        [*command, "--config", str(root / "apportion.yaml")], capture_output=True, text=True, env=env, cwd=root
    )
    return days, result


def by_source_day(con, query: str) -> dict[tuple[str, date], tuple]:
    return {(r[0], r[1]): r[2:] for r in con.execute(query).fetchall()}


@pytest.mark.slow
@pytest.mark.parametrize("group", GROUPS)
def test_every_sample_runs_through_every_layer_and_each_day_reconciles_to_the_files_own_total(
    group: str, tmp_path: Path
) -> None:
    samples = GROUPS[group]
    days, result = run_group(tmp_path, samples)
    assert result.returncode == 0, result.stdout + result.stderr
    lake = tmp_path / "out" / "lake"
    with connect() as con:
        con.execute("set timezone = 'UTC'")
        reconciliation = by_source_day(
            con,
            "select source, charge_date, source_total, difference, complete, incomplete_reason, cost_lines, "
            f"rows_quarantined from read_parquet('{lake}/marts/reconciliation/*/*.parquet', hive_partitioning = true)",
        )
        facts = by_source_day(
            con,
            "select source, charge_date, sum(amount_usd) from "
            f"read_parquet('{lake}/marts/fact_cost/*/*.parquet', hive_partitioning = true) group by all",
        )
        gross = by_source_day(
            con,
            "select x_Source, charge_date, sum(ContractedCost), sum(BilledCost) from "
            f"read_parquet('{lake}/staging/cost_lines/*/*.parquet', hive_partitioning = true) group by all",
        )
        quarantined = by_source_day(
            con,
            "select source, charge_date, list(distinct reason) from "
            f"read_parquet('{lake}/staging/quarantine/*/*.parquet', hive_partitioning = true) group by all",
        )
        exports = {
            version: by_source_day(
                con,
                "select x_Source, charge_date, sum(EffectiveCost) from "
                f"read_parquet('{lake}/export/focus_{version}/*/*.parquet', hive_partitioning = true) group by all",
            )
            for version in ("1.2", "1.3")
        }
    for s in samples:
        expected = expected_of(s)
        for layout in s.layouts:
            source = f"{s.name}_{layout}"
            for day in days:
                total = expected.totals.get(day, Decimal(0))
                key = (source, day)
                where = f"{source} {day}"
                complete = expected.complete(day)
                assert reconciliation[key][:3] == (total, 0, complete), where
                assert reconciliation[key][4:] == (expected.rows[day], expected.unrated[day]), where
                # mostly unrated (koku's `MC`): incomplete, with how much was quarantined
                reason = reconciliation[key][3]
                assert reason is None if complete else reason.startswith("quarantined "), (where, reason)
                assert facts.get(key, (Decimal(0),)) == (total,), where
                for version, sums in exports.items():
                    assert sums.get(key, (Decimal(0),)) == (total,), f"{where} FOCUS {version}"
                if s.kind == "gcp_billing_file":  # ContractedCost keeps the gross cost, before credits
                    assert gross.get(key, (Decimal(0), Decimal(0))) == (expected.gross.get(day, Decimal(0)), total)
                if expected.unrated[day]:
                    (reasons,) = quarantined[key]
                    assert [r.split(" dated")[0] for r in reasons] == ["no FX rate for MC to USD"], where
    if group in FOCUS_VALIDATED:
        report = validate_export([lake / "export" / "focus_1.2"])
        print(f"{group}: focus-validator: {report.summary}")
        assert report.findings() == {}, report.failures
