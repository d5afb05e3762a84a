"""FOCUS 1.0–1.4 Cost and Usage files read into `cost_lines`: exact typed values, vendor quirks, rejects."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from assets.ingest.focus import FOCUS, focus_version
from assets.sql import connect
from tests.unit.test_ingest_readers import stage

FOCUS_10 = (
    "\ufeffBilledCost,EffectiveCost,ListCost,BillingCurrency,BillingAccountId,SubAccountId,"
    "ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ChargeClass,ChargeDescription,"
    "ProviderName,PublisherName,InvoiceIssuerName,ServiceName,Tags,Id,x_CostCategory\n"
    "12.3456789012,12.3456789012,13.00,USD,011111111111,000222333444,2024-10-01 00:00:00,2024-10-02 00:00:00,"
    'Usage,NULL,Bedrock tokens,AWS,AWS,"Amazon Web Services, Inc.",Amazon Bedrock,'
    '"{""team"": ""search"", ""cost-center"": 42, ""shared"": true, ""gone"": null}",row-1,inference\n'
    "-5.00,-5.00,NULL,USD,011111111111,NULL,2024-10-01T00:00:00,2024-10-02T00:00:00,"
    "Credit,NULL,NULL,AWS,Anthropic,AWS,Claude,NULL,row-2,NULL\n"
)
"""FOCUS 1.0 as the official sample writes it: BOM, `NULL`, no `T`/`Z`, an unprefixed extra column `Id`; the
second row is a Marketplace seller (publisher ≠ provider)."""

FOCUS_14 = (
    "BilledCost,EffectiveCost,BillingCurrency,BillingAccountId,ChargePeriodStart,ChargePeriodEnd,"
    "ChargeCategory,InvoiceIssuerName,ServiceProviderName,HostProviderName,InvoiceDetailId,"
    "x_Provider,x_Model,x_ApiKeyId\n"
    "0.0000000001,0,USD,0042,2026-06-05T00:00:00Z,2026-06-06T00:00:00Z,Usage,Microsoft,OpenAI,Microsoft,"
    "ID-1,openai,gpt-4o,007\n"
)


def write(path: Path, text: str) -> Path:
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_focus_10_csv_keeps_ids_and_decimals_and_maps_provider_and_publisher(tmp_path: Path) -> None:
    staged, rejected = stage(FOCUS, [write(tmp_path / "focus10.csv", FOCUS_10)])
    assert rejected == []
    first, credit = staged
    assert first["BilledCost"] == Decimal("12.3456789012")
    assert first["ListCost"] == Decimal("13.00")
    assert (first["BillingAccountId"], first["SubAccountId"]) == ("011111111111", "000222333444")
    assert first["ChargePeriodStart"] == datetime(2024, 10, 1, tzinfo=UTC)
    assert first["ChargePeriodEnd"] == datetime(2024, 10, 2, tzinfo=UTC)
    assert first["ChargeClass"] is None
    assert first["InvoiceIssuerName"] == "Amazon Web Services, Inc."
    assert (first["ServiceProviderName"], first["HostProviderName"]) == ("AWS", "AWS")
    assert first["Tags"] == {"team": "search", "cost-center": "42", "shared": "true", "gone": None}
    assert first["x_CostCategory"] == "inference"
    assert (credit["_row"], credit["BilledCost"], credit["ListCost"]) == (2, Decimal("-5.00"), None)
    assert (credit["ServiceProviderName"], credit["HostProviderName"]) == ("Anthropic", "AWS")
    assert (credit["SubAccountId"], credit["ChargeDescription"], credit["Tags"]) == (None, None, None)


def test_mixed_focus_versions_and_formats_load_together(tmp_path: Path) -> None:
    parquet = tmp_path / "focus12.parquet"
    connect().execute(
        f"""copy (select 1.25::decimal(18, 6) as BilledCost, 1.25::decimal(18, 6) as EffectiveCost,
                  'EUR' as BillingCurrency, '0099' as BillingAccountId,
                  timestamp '2025-03-01 00:00:00' as ChargePeriodStart,
                  timestamptz '2025-03-02 00:00:00+00' as ChargePeriodEnd, 'Usage' as ChargeCategory,
                  'Google' as ProviderName, 'Google' as PublisherName, 'INV-1' as InvoiceId,
                  map {{'team': 'ml'}} as Tags)
            to '{parquet}' (format parquet)"""
    )
    files = [write(tmp_path / "focus14.csv.gz", FOCUS_14), parquet, write(tmp_path / "focus10.csv", FOCUS_10)]
    staged, rejected = stage(FOCUS, files)
    assert rejected == []
    by_file = {(Path(r["_file"]).name, r["_row"]): r for r in staged}
    assert len(by_file) == 4
    v14 = by_file["focus14.csv.gz", 1]
    assert (v14["BilledCost"], v14["EffectiveCost"]) == (Decimal("0.0000000001"), Decimal("0"))
    assert (v14["InvoiceIssuerName"], v14["ServiceProviderName"], v14["HostProviderName"]) == (
        "Microsoft",
        "OpenAI",
        "Microsoft",
    )
    assert (v14["x_Provider"], v14["x_Model"], v14["x_ApiKeyId"], v14["BillingAccountId"]) == (
        "openai",
        "gpt-4o",
        "007",
        "0042",
    )
    v12 = by_file["focus12.parquet", 1]
    assert (v12["BilledCost"], v12["BillingCurrency"], v12["BillingAccountId"]) == (Decimal("1.25"), "EUR", "0099")
    assert v12["ChargePeriodStart"] == datetime(2025, 3, 1, tzinfo=UTC)
    assert v12["ChargePeriodEnd"] == datetime(2025, 3, 2, tzinfo=UTC)
    assert (v12["ServiceProviderName"], v12["InvoiceId"], v12["Tags"]) == ("Google", "INV-1", {"team": "ml"})


def test_a_file_missing_a_mandatory_column_quarantines_its_rows_and_not_the_others(tmp_path: Path) -> None:
    no_billed = FOCUS_14.replace("BilledCost,", "", 1).replace("0.0000000001,", "", 1)
    files = [write(tmp_path / "a.csv", no_billed), write(tmp_path / "b.csv", FOCUS_14)]
    staged, rejected = stage(FOCUS, files)
    assert [(Path(r["_file"]).name, r["_row"]) for r in staged] == [("b.csv", 1)]
    assert rejected == [
        {"file": str(files[0]), "row": 1, "column": "BilledCost", "reason": "required column missing from file"}
    ]


def test_charge_period_must_end_after_it_starts(tmp_path: Path) -> None:
    text = FOCUS_14.replace("2026-06-06T00:00:00Z", "2026-06-05T00:00:00Z")
    staged, rejected = stage(FOCUS, [path := write(tmp_path / "f.csv", text)])
    assert staged == []
    assert rejected == [
        {
            "file": str(path),
            "row": 1,
            "column": "ChargePeriodEnd",
            "reason": "charge period does not end after it starts",
        }
    ]


@pytest.mark.parametrize(
    ("broken", "column", "reason"),
    [
        (("12.3456789012,12.3456789012", "12.3.4,1"), "BilledCost", "not a valid decimal(38,10)"),
        (('null}"', 'null"'), "Tags", "not a valid map(varchar, varchar)"),
        (
            ("2024-10-01 00:00:00,2024-10-02", "2024-10-01 00:00:00,yesterday"),
            "ChargePeriodEnd",
            "not a valid timestamptz",
        ),
    ],
)
def test_a_bad_value_quarantines_its_row_with_column_and_reason(
    tmp_path: Path, broken: tuple[str, str], column: str, reason: str
) -> None:
    path = write(tmp_path / "f.csv", FOCUS_10.replace(*broken))
    staged, rejected = stage(FOCUS, [path])
    assert [r["_row"] for r in staged] == [2]
    assert rejected == [{"file": str(path), "row": 1, "column": column, "reason": reason}]


@pytest.mark.parametrize(
    ("columns", "version"),
    [
        ({"BilledCost", "ProviderName", "PublisherName"}, "1.0"),
        ({"BilledCost", "ProviderName", "SkuMeter"}, "1.1"),
        ({"BilledCost", "ProviderName", "SkuMeter", "InvoiceId"}, "1.2"),
        ({"BilledCost", "ProviderName", "ServiceProviderName", "HostProviderName"}, "1.3"),
        ({"BilledCost", "ServiceProviderName"}, "1.4"),
        ({"BilledCost", "ProviderName", "ServiceProviderName", "InvoiceDetailId"}, "1.4"),
    ],
)
def test_focus_version_is_told_by_the_columns(columns: set[str], version: str) -> None:
    assert focus_version(columns) == version


def test_no_files_is_an_empty_view() -> None:
    assert stage(FOCUS, []) == ([], [])


FOCUS_13_SPLIT = (
    "BilledCost,EffectiveCost,BillingCurrency,BillingAccountId,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,"
    "InvoiceIssuerName,ServiceProviderName,HostProviderName,Tags,AllocatedMethodId,AllocatedTags\n"
    '0.75,0.75,USD,1,2026-06-05T00:00:00Z,2026-06-06T00:00:00Z,Usage,AWS,AWS,AWS,"{""env"": ""prod""}",eks-split,'
    '"{""team"": ""search"", ""canary"": true}"\n'
    '0.25,0.25,USD,1,2026-06-05T00:00:00Z,2026-06-06T00:00:00Z,Usage,AWS,AWS,AWS,"{""env"": ""prod""}",eks-split,\n'
    '1.00,1.00,USD,1,2026-06-05T00:00:00Z,2026-06-06T00:00:00Z,Usage,AWS,AWS,AWS,,eks-split,"{""team"": ""ml""}"\n'
    '1.00,1.00,USD,1,2026-06-05T00:00:00Z,2026-06-06T00:00:00Z,Usage,AWS,AWS,AWS,"{""env"": ""prod""}",eks-split,'
    "not json\n"
)
"""FOCUS 1.3 split cost allocation rows: the tags of what each piece was allocated to are in `AllocatedTags`."""


def test_an_allocated_charge_adds_its_allocated_tags_to_its_tags(tmp_path: Path) -> None:
    staged, rejected = stage(FOCUS, [write(tmp_path / "focus13.csv", FOCUS_13_SPLIT)])
    assert [r["Tags"] for r in staged] == [
        {"env": "prod", "team": "search", "canary": "true"},
        {"env": "prod"},
        {"team": "ml"},
    ]
    assert [(r["row"], r["column"]) for r in rejected] == [(4, "Tags")]
