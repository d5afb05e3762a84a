"""Exporters' own FOCUS values and honest completeness through `apportion run` (every layer, both FOCUS exports):
OCI's `Usage-based` and Azure meter sub-categories are FOCUS values from staging on, the originals in
x_OriginalValues; a value with no mapping is quarantined at staging with file, row, column and value, and the FOCUS
export takes the day; a bill mostly quarantined (no FX rate for six of its seven currencies) reads incomplete with
the reason and the run lists it, one quarantined under max_quarantined_share stays complete. Every amount is
exact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

from assets.sql import connect

REPO = Path(__file__).resolve().parents[2]
DAY = date(2026, 11, 3)
PERIOD = "2026-11-03T00:00:00Z,2026-11-04T00:00:00Z"

OCI = f"""BilledCost,EffectiveCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ChargeFrequency,\
PricingCategory,ServiceCategory,ServiceName,ProviderName,PublisherName,InvoiceIssuerName,BillingAccountId
40.10,40.10,USD,{PERIOD},Usage,Usage-based,Standard,Compute,COMPUTE,Oracle,Oracle,Oracle,ocid1.tenancy
59.50,59.50,USD,{PERIOD},Usage,Usage-based,On-Demand,Storage,BLOCK_STORAGE,Oracle,Oracle,Oracle,ocid1.tenancy
0.40,0.40,USD,{PERIOD},Usage,Weekly,Standard,Storage,BLOCK_STORAGE,Oracle,Oracle,Oracle,ocid1.tenancy
"""
"""A FOCUS 1.0 file as OCI writes it; the last line's frequency has no mapping (0.40 of 100.00: under 1 %)."""

AZURE = f"""\ufeffBilledCost,EffectiveCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,\
ChargeClass,ChargeFrequency,PricingCategory,ServiceCategory,ServiceSubcategory,ServiceName,ProviderName,PublisherName,\
InvoiceIssuerName,BillingAccountId,SubAccountId,x_SkuMeterCategory,x_SkuMeterSubcategory
12.34,12.34,USD,{PERIOD},Usage,,Usage-Based,Standard,Storage,Standard Page Blob,Storage Accounts,Microsoft,\
Microsoft,Microsoft,ba,sub,Storage,Standard Page Blob
3.66,3.66,USD,{PERIOD},Usage,,Usage-Based,Standard,Networking,IP Addresses,Virtual Network,Microsoft,Microsoft,\
Microsoft,ba,sub,Virtual Network,IP Addresses
84.00,84.00,USD,{PERIOD},Usage,,Usage-Based,Standard,Storage,Blob Storage,Storage Accounts,Microsoft,Microsoft,\
Microsoft,ba,sub,Storage,Blob Storage
0.50,0.50,GBP,{PERIOD},Usage,,Usage-Based,Standard,Storage,Blob Storage,Storage Accounts,Microsoft,Microsoft,\
Microsoft,ba,sub,Storage,Blob Storage
"""
"""An Azure FocusCost-shaped export (BOM, FOCUS columns, ProviderName/PublisherName Microsoft, Azure's service names,
meter sub-categories in ServiceSubcategory); its GBP line has no FX rate (0.50 as written of 100.50: under 1 %). It
stages with its provider and, by the FOCUS ServiceCategory rule of config/allocation.yaml, not all as `other`."""

CURRENCIES = {"USD": "10.00", "EUR": "100.00", "GBP": "100.00", "JPY": "15000", "CHF": "100.00", "SEK": "1000.00"}
FX_BILL = (
    "BilledCost,EffectiveCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ChargeFrequency,\
ServiceName,ProviderName,InvoiceIssuerName\n"
    + "".join(
        f"{amount},{amount},{currency},{PERIOD},Usage,Usage-Based,API,Vendor,Vendor\n"
        for currency, amount in [*CURRENCIES.items(), ("NOK", "1000.00")]
    )
)
"""Seven currencies; the FX file has a rate for EUR only (USD is the reporting currency): five are quarantined."""


def run(root: Path) -> subprocess.CompletedProcess:
    (root / "oci.csv").write_text(OCI)
    (root / "azure.csv").write_text(AZURE, encoding="utf-8")
    (root / "fx_bill.csv").write_text(FX_BILL)
    (root / "fx.csv").write_text(f"date,currency,rate\n{DAY},EUR,1.10\n")
    sources = [
        {"name": name, "kind": "focus", "path": str(root / f"{name}.csv")} for name in ("oci", "azure", "fx_bill")
    ]
    (root / "apportion.yaml").write_text(
        json.dumps(
            {
                "warehouse": "out/warehouse.duckdb",
                "lake": "out/lake",
                "start_date": "2026-01-01",
                "allocation": str(REPO / "config" / "allocation.yaml"),
                "prices": None,
                "fx_rates": "fx.csv",
                "memory_limit": "1GB",
                "sources": sources,
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    command = [str(Path(sys.executable).with_name("apportion")), "run", "--start", str(DAY), "--end", str(DAY)]
    return subprocess.run(
        [*command, "--config", str(root / "apportion.yaml")], capture_output=True, text=True, env=env, cwd=root
    )


def rows(query: str) -> list[tuple]:
    with connect() as con:
        con.execute("set timezone = 'UTC'")
        return con.execute(query).fetchall()


def test_exporters_values_are_focus_from_staging_and_a_mostly_quarantined_bill_is_incomplete(tmp_path: Path) -> None:
    result = run(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lake = tmp_path / "out" / "lake"
    staged = rows(
        "select x_Source, x_SourceRow, ChargeFrequency, PricingCategory, ServiceCategory, ServiceSubcategory, "
        "ServiceProviderName, HostProviderName, x_OriginalValues, EffectiveCost, x_CostCategory "
        f"from read_parquet('{lake}/staging/cost_lines/*/*.parquet') where x_Source <> 'fx_bill' order by 1, 2"
    )
    assert staged == [
        ("azure", 1, "Usage-Based", "Standard", "Storage", "Block Storage", "Microsoft", "Microsoft",
         {"ServiceSubcategory": "Standard Page Blob"}, Decimal("12.34"), "storage"),
        ("azure", 2, "Usage-Based", "Standard", "Networking", "Network Infrastructure", "Microsoft", "Microsoft",
         {"ServiceSubcategory": "IP Addresses"}, Decimal("3.66"), "other"),
        ("azure", 3, "Usage-Based", "Standard", "Storage", "Object Storage", "Microsoft", "Microsoft",
         {"ServiceSubcategory": "Blob Storage"}, Decimal("84.00"), "storage"),
        ("oci", 1, "Usage-Based", "Standard", "Compute", None, "Oracle", "Oracle",
         {"ChargeFrequency": "Usage-based"}, Decimal("40.10"), "other"),
        ("oci", 2, "Usage-Based", "Standard", "Storage", None, "Oracle", "Oracle",
         {"ChargeFrequency": "Usage-based", "PricingCategory": "On-Demand"}, Decimal("59.50"), "storage"),
    ]  # fmt: skip
    quarantine = rows(
        "select source, regexp_replace(source_file, '^[0-9a-f]+-', ''), source_row, column_name, raw_value, reason, "
        "cost, cost_currency, cost_reporting "
        f"from read_parquet('{lake}/staging/quarantine/*/*.parquet') order by source, cost_currency, source_row"
    )
    no_rate = "no FX rate for {} to USD dated at most 7 days before 2026-11-03"
    assert quarantine == [
        ("azure", "azure.csv", 4, "BillingCurrency", "GBP", no_rate.format("GBP"), Decimal("0.50"), "GBP", None),
        *[
            ("fx_bill", "fx_bill.csv", row, "BillingCurrency", currency, no_rate.format(currency), Decimal(amount),
             currency, None)
            for row, currency, amount in sorted(
                [(3, "GBP", "100.00"), (4, "JPY", "15000"), (5, "CHF", "100.00"), (6, "SEK", "1000.00"),
                 (7, "NOK", "1000.00")],
                key=lambda r: r[1],
            )
        ],
        ("oci", "oci.csv", 3, "ChargeFrequency", "Weekly",
         "no FOCUS mapping for this value: add it to assets/ingest/focus_values.csv", Decimal("0.40"), "USD",
         Decimal("0.40")),
    ]  # fmt: skip
    reconciliation = rows(
        "select source, source_total, allocated + unallocated, difference, rows_quarantined, quarantined_cost, "
        f"complete, incomplete_reason from read_parquet('{lake}/marts/reconciliation/*/*.parquet') order by source"
    )
    assert reconciliation == [
        ("azure", Decimal("100.00"), Decimal("100.00"), 0, 1, Decimal("0.50"), True, None),
        ("fx_bill", Decimal("120.00"), Decimal("120.00"), 0, 5, Decimal("17200.00"), False,
         "quarantined 17200.00 of the day's 17320.00 USD (99.31 %), more than max_quarantined_share 0.01 "
         "(apportion.yaml); 5 row(s) in CHF, GBP, JPY, NOK, SEK with no FX rate counted as written"),
        ("oci", Decimal("99.60"), Decimal("99.60"), 0, 1, Decimal("0.40"), True, None),
    ]  # fmt: skip
    # the FOCUS exports took the day: every staged line, to the cent, with FOCUS's values
    for version in ("1.2", "1.3"):
        exported = rows(
            "select x_Source, sum(EffectiveCost), list(distinct ChargeFrequency order by ChargeFrequency), "
            "list(distinct ServiceSubcategory order by ServiceSubcategory) "
            f"from read_parquet('{lake}/export/focus_{version}/*/*.parquet') group by 1 order by 1"
        )
        assert exported == [
            ("azure", Decimal("100.00"), ["Usage-Based"],
             ["Block Storage", "Network Infrastructure", "Object Storage"]),
            ("fx_bill", Decimal("120.00"), ["Usage-Based"], ["Other (Other)"]),
            ("oci", Decimal("99.60"), ["Usage-Based"], ["Other (Compute)", "Other (Storage)"]),
        ], version  # fmt: skip
    # the end of the run lists the incomplete day with its reason
    assert "1 source day(s) incomplete" in result.stderr
    assert "2026-11-03 fx_bill: quarantined 17200.00 of the day's 17320.00 USD (99.31 %)" in result.stderr
