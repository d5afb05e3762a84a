"""Invoice lines of AI vendors (CSV, Parquet) into `cost_lines`: exact money, inclusive periods, tags, rejects, and
the staging model spreading a monthly line over its days to the cent."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets.config import load_settings
from assets.ingest import SOURCE_KINDS
from assets.ingest.invoices import INVOICE_LINES
from assets.raw import land_day
from assets.sql import connect
from assets.staging import stage_day
from tests.unit.test_ingest_readers import stage
from tests.unit.test_staging import staged

HEADER = "vendor,invoice_id,period_start,period_end,description,amount,currency,sku,quantity,unit,tags,category"


def invoice_csv(path: Path, *lines: str, header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def test_invoice_lines_become_cost_lines_with_exact_amounts_and_an_exclusive_period_end(tmp_path: Path) -> None:
    path = invoice_csv(
        tmp_path / "invoices.csv",
        "Pinecone Systems,INV-2026-03,2026-03-01,2026-03-31,Serverless read units,1234.5678901234,usd,RU-STD,"
        "25000000,read units,team=search;env = prod,vector_db",
        'Langfuse,LF-88,2026-03-01,2026-03-31 23:59:59,Pro plan,199,USD,,,,"{""team"": ""platform"", ""seats"": 5}",'
        "observability",
        "Scale AI,S-1,2026-03-10,2026-03-10,Human review batch,-20.00,USD,,,,,",
    )
    (pinecone, langfuse, credit), rejected = stage(INVOICE_LINES, [path])
    assert rejected == []
    assert (pinecone["BilledCost"], pinecone["EffectiveCost"]) == (Decimal("1234.5678901234"),) * 2
    assert (pinecone["InvoiceId"], pinecone["InvoiceIssuerName"], pinecone["ServiceProviderName"]) == (
        "INV-2026-03",
        "Pinecone Systems",
        "Pinecone Systems",
    )
    assert (pinecone["ChargePeriodStart"], pinecone["ChargePeriodEnd"]) == (
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 4, 1, tzinfo=UTC),
    )
    assert (pinecone["BillingCurrency"], pinecone["ChargeCategory"], pinecone["x_CostCategory"]) == (
        "USD",
        "Usage",
        "vector_db",
    )
    assert (pinecone["SkuId"], pinecone["PricingQuantity"], pinecone["PricingUnit"]) == (
        "RU-STD",
        Decimal("25000000"),
        "read units",
    )
    assert pinecone["ChargeDescription"] == "Serverless read units"
    assert pinecone["Tags"] == {"team": "search", "env": "prod"}
    assert langfuse["ChargePeriodEnd"] == datetime(2026, 4, 1, tzinfo=UTC)
    assert langfuse["Tags"] == {"team": "platform", "seats": "5"}
    assert (langfuse["BilledCost"], langfuse["SkuId"], langfuse["PricingQuantity"]) == (Decimal("199"), None, None)
    assert (credit["ChargePeriodStart"], credit["ChargePeriodEnd"]) == (
        datetime(2026, 3, 10, tzinfo=UTC),
        datetime(2026, 3, 11, tzinfo=UTC),
    )
    assert (credit["BilledCost"], credit["Tags"], credit["x_CostCategory"]) == (Decimal("-20.00"), None, None)


def test_staging_spreads_an_invoice_line_over_the_days_of_its_inclusive_period_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(SOURCE_KINDS, INVOICE_LINES.name, INVOICE_LINES)
    invoice_csv(
        tmp_path / "invoices.csv",
        "Pinecone,INV-1,2026-03-01,2026-03-03,Standard plan,100.00,USD,,,,,vector_db",
        "Pinecone,INV-1,2026-03-01,2026-03-03,Broken line,a lot,USD,,,,,vector_db",
    )
    (tmp_path / "allocation.yaml").write_text("rules: []\n")
    (tmp_path / "apportion.yaml").write_text(
        "allocation: allocation.yaml\nprices: null\n"
        "sources:\n  - {name: vendors, kind: invoice_lines, path: invoices.csv}\n"
    )
    settings = load_settings(tmp_path / "apportion.yaml")
    shares = []
    for day in (date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)):
        land_day(settings, day)
        stage_day(settings, day)
        shares += [(line["InvoiceId"], line["EffectiveCost"]) for line in staged(settings, "cost_lines", day)]
    assert shares == [
        ("INV-1", Decimal("33.3333333333")),
        ("INV-1", Decimal("33.3333333333")),
        ("INV-1", Decimal("33.3333333334")),
    ]
    (log,) = staged(settings, "ingest_log", date(2026, 3, 1))
    assert (log["rows_read"], log["rows_valid"], log["rows_quarantined"], log["balanced"]) == (2, 1, 1, True)


def test_parquet_invoices_with_decimal_amounts_date_columns_renamed_fields_and_exclusive_ends(tmp_path: Path) -> None:
    path = tmp_path / "invoices.parquet"
    pq.write_table(
        pa.table(
            {
                "Vendor": ["CoreWeave"],
                "Invoice No": ["CW-7"],
                "From": [date(2026, 3, 1)],
                "To": [date(2026, 4, 1)],
                "Total": pa.array([Decimal("98765.4321000001")], pa.decimal128(20, 10)),
                "Currency": ["USD"],
                "tags": pa.array([[("team", "research")]], pa.map_(pa.string(), pa.string())),
                "category": ["GPU"],
                "charge_category": ["purchase"],
                "provider": ["CoreWeave"],
            }
        ),
        path,
    )
    options = {
        "period_end": "exclusive",
        "fields": {
            "vendor": "Vendor",
            "invoice_id": "Invoice No",
            "period_start": "From",
            "period_end": "To",
            "amount": "Total",
            "currency": "Currency",
        },
    }
    ((line,), rejected) = stage(INVOICE_LINES, [path], options)
    assert rejected == []
    assert (line["BilledCost"], line["InvoiceId"], line["InvoiceIssuerName"]) == (
        Decimal("98765.4321000001"),
        "CW-7",
        "CoreWeave",
    )
    assert (line["ChargePeriodStart"], line["ChargePeriodEnd"]) == (
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 4, 1, tzinfo=UTC),
    )
    assert (line["Tags"], line["x_CostCategory"], line["ChargeCategory"], line["x_Provider"]) == (
        {"team": "research"},
        "gpu",
        "Purchase",
        "coreweave",
    )


def test_lines_that_do_not_fit_are_quarantined_naming_file_row_and_column(tmp_path: Path) -> None:
    path = invoice_csv(
        tmp_path / "invoices.csv",
        "Pinecone,INV-1,2026-03-01,2026-03-31,ok,10.00,USD,,,,team=search,vector_db",
        "Pinecone,INV-1,2026-03-01,2026-03-31,amount,ten,USD,,,,,",
        "Pinecone,INV-1,2026-03-31,2026-03-01,reversed period,10.00,USD,,,,,",
        "Pinecone,,2026-03-01,2026-03-31,no invoice id,10.00,USD,,,,,",
        "Pinecone,INV-1,2026-03-01,2026-03-31,bad tags,10.00,USD,,,,team=a;team=b,",
        "Pinecone,INV-1,2026-03-01,2026-03-31,bad tags,10.00,USD,,,,team,",
        "Pinecone,INV-1,2026-03-01,2026-03-31,category,10.00,USD,,,,,vector database",
        "Pinecone,INV-1,2026-03-01,someday,period end,10.00,USD,,,,,",
        ",INV-1,2026-03-01,2026-03-31,no vendor,10.00,USD,,,,,",
    )
    staged, rejected = stage(INVOICE_LINES, [path])
    assert [r["_row"] for r in staged] == [1]
    assert [(r["row"], r["column"], r["reason"]) for r in rejected] == [
        (2, "BilledCost", "not a valid decimal(38,10)"),
        (3, "ChargePeriodEnd", "charge period does not end after it starts"),
        (4, "InvoiceId", "invoice id missing"),
        (5, "Tags", "not a valid map(varchar, varchar)"),
        (6, "Tags", "not a valid map(varchar, varchar)"),
        (7, "x_CostCategory", "unknown cost category"),
        (8, "ChargePeriodEnd", "not a valid timestamptz"),
        (9, "InvoiceIssuerName", "vendor missing"),
    ]


def test_a_file_without_a_required_column_has_every_row_rejected_naming_the_file_column(tmp_path: Path) -> None:
    path = invoice_csv(
        tmp_path / "invoices.csv", "Pinecone,INV-1,2026-03-01,2026-03-31,10.00", header="vendor,id,start,end,amount"
    )
    options = {"fields": {"invoice_id": "id", "period_start": "start", "period_end": "end"}}
    assert stage(INVOICE_LINES, [path], options) == (
        [],
        [{"file": str(path), "row": 1, "column": "currency", "reason": "required column missing from file"}],
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fields": {"total": "Total"}}, "options.fields: invoice columns"),
        ({"fields": {"amount": ""}}, "options.fields: invoice columns"),
        ({"period_end": "inclusive-ish"}, "options.period_end: Input should be 'inclusive' or 'exclusive'"),
    ],
)
def test_options_are_checked_before_anything_is_read(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        INVOICE_LINES.read(connect(), [tmp_path / "never-opened.csv"], "raw", options)


@pytest.mark.parametrize("start", ["-Infinity", "infinity"])
def test_an_infinite_period_start_is_quarantined_not_spread_from_the_beginning_of_time(
    tmp_path: Path, start: str
) -> None:
    """Found by tests/property/test_parsers_fuzz.py: the year of an infinite timestamp is null, so the range check
    passed it and the line was staged and spread."""
    path = invoice_csv(tmp_path / "invoices.csv", f"Pinecone,INV-1,{start},2026-03-31,Reads,10.00,USD,,,,,vector_db")
    staged, rejected = stage(INVOICE_LINES, [path])
    assert staged == []
    assert [(r["column"], r["reason"]) for r in rejected] == [
        ("ChargePeriodStart", "timestamp out of range 1990..2200")
    ]
