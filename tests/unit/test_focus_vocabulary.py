"""FOCUS's allowed values at staging (assets/ingest/vocabulary.py): what exporters write is mapped by the table
focus_values.csv, the original kept in x_OriginalValues, and a value with no mapping rejected with file, row, column
and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from assets.ingest import SOURCE_KINDS, vocabulary
from assets.ingest.vocabulary import ALLOWED, SERVICE_SUBCATEGORIES, VocabularyError, register_vocabulary
from assets.sql import connect
from assets.staging import read_files

HEADER = (
    "BilledCost,EffectiveCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ChargeClass,"
    "ChargeFrequency,PricingCategory,CommitmentDiscountStatus,ServiceCategory,ServiceSubcategory,ProviderName"
)
DAY = "2026-11-01T00:00:00Z,2026-11-02T00:00:00Z"


def typed(tmp_path: Path, *rows: str) -> list[dict]:
    path = tmp_path / "bill.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    with connect() as con:
        read_files(con, SOURCE_KINDS["focus"], [path], {})
        cursor = con.execute(
            "select _row, ChargeCategory, ChargeClass, ChargeFrequency, PricingCategory, CommitmentDiscountStatus, "
            "ServiceCategory, ServiceSubcategory, x_OriginalValues, _failure from src_typed order by _row"
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def test_what_exporters_write_becomes_focus_and_the_original_is_kept(tmp_path: Path) -> None:
    rows = typed(
        tmp_path,
        f"1,1,USD,{DAY},Usage,,Usage-based,On-Demand,,Storage,Standard Page Blob,Oracle",
        f"1,1,USD,{DAY},usage,Standard,USAGE BASED,Commitment-Based,used,Networking,IP Addresses,Microsoft",
        f"1,1,USD,{DAY},Usage,Correction,Usage-Based,Standard,Used,Storage,Blob Storage,Microsoft",
        f"1,1,USD,{DAY},Usage,,OneTime,Spot,,,Generative AI,Microsoft",
        f"1,1,USD,{DAY},Usage,,,,,Compute,Object Storage,Microsoft",
        f"1,1,USD,{DAY},Usage,,,,,Compute,Standard Page Blob,Microsoft",
    )
    columns = ("ChargeCategory", "ChargeClass", "ChargeFrequency", "PricingCategory", "CommitmentDiscountStatus")
    got = [
        (*(r[c] for c in columns), r["ServiceCategory"], r["ServiceSubcategory"], r["x_OriginalValues"]) for r in rows
    ]
    assert got == [
        (
            "Usage", None, "Usage-Based", "Standard", None, "Storage", "Block Storage",
            {
                "ChargeFrequency": "Usage-based",
                "PricingCategory": "On-Demand",
                "ServiceSubcategory": "Standard Page Blob",
            },
        ),
        (
            "Usage", None, "Usage-Based", "Committed", "Used", "Networking", "Network Infrastructure",
            {
                "ChargeCategory": "usage",
                "ChargeClass": "Standard",
                "ChargeFrequency": "USAGE BASED",
                "PricingCategory": "Commitment-Based",
                "CommitmentDiscountStatus": "used",
                "ServiceSubcategory": "IP Addresses",
            },
        ),
        (
            "Usage", "Correction", "Usage-Based", "Standard", "Used", "Storage", "Object Storage",
            {"ServiceSubcategory": "Blob Storage"},
        ),
        # no category: the subcategory's; a subcategory of another category: its own category's Other
        (
            "Usage", None, "One-Time", "Dynamic", None, "AI and Machine Learning", "Generative AI",
            {"ChargeFrequency": "OneTime", "PricingCategory": "Spot"},
        ),
        ("Usage", None, None, None, None, "Compute", "Other (Compute)", {"ServiceSubcategory": "Object Storage"}),
        # mapped (Block Storage), then of another category: the original is what the file wrote
        ("Usage", None, None, None, None, "Compute", "Other (Compute)", {"ServiceSubcategory": "Standard Page Blob"}),
    ]  # fmt: skip
    assert all(r["_failure"] is None for r in rows)


def test_a_value_with_no_mapping_rejects_its_line_naming_column_and_value(tmp_path: Path) -> None:
    rows = typed(
        tmp_path,
        f"1,1,USD,{DAY},Usage,,Weekly,,,Compute,Virtual Machines,Microsoft",
        f"1,1,USD,{DAY},Refund,,,,,Compute,,Microsoft",
        f"1,1,USD,{DAY},Usage,,,,Partial,Compute,,Microsoft",
        f"1,1,USD,{DAY},Usage,,,,,Storage,Premium Hot LRS,Microsoft",
        f"abc,1,USD,{DAY},Usage,,Weekly,,,Compute,,Microsoft",
    )
    reason = "no FOCUS mapping for this value: add it to assets/ingest/focus_values.csv"
    assert [r["_failure"] for r in rows] == [
        {"col": "ChargeFrequency", "why": reason, "val": "Weekly"},
        {"col": "ChargeCategory", "why": reason, "val": "Refund"},
        {"col": "CommitmentDiscountStatus", "why": reason, "val": "Partial"},
        {"col": "ServiceSubcategory", "why": reason, "val": "Premium Hot LRS"},
        # a fault found by the cast comes first
        {"col": "BilledCost", "why": "not a valid decimal(38,10)", "val": "abc"},
    ]


def test_the_mapping_table_holds_only_focus_values_and_one_value_per_key() -> None:
    assert len(SERVICE_SUBCATEGORIES) == 19 and sum(map(len, SERVICE_SUBCATEGORIES.values())) == 82
    with connect() as con:
        register_vocabulary(con)
        by_column = dict(
            con.execute("select column_name, count(distinct value) from vocabulary group by all").fetchall()
        )
        variants = con.execute("select count(*) from vocabulary where value_key not in "
                               "(select regexp_replace(lower(value), '[^a-z0-9]', '', 'g') from vocabulary "
                               "where value is not null)").fetchall()[0][0]  # fmt: skip
    assert by_column == {column: len(values) for column, values in ALLOWED.items()}
    assert variants > 20


def test_a_mapping_to_a_value_focus_does_not_allow_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = tmp_path / "focus_values.csv"
    table.write_text("column,written,value,exporter,why\nChargeFrequency,Weekly,Weekly,nobody,\n")
    monkeypatch.setattr(vocabulary, "VARIANTS_CSV", table)
    with connect() as con, pytest.raises(VocabularyError, match=r"not a FOCUS value of its column.*Weekly"):
        register_vocabulary(con)
    table.write_text("column,written,value,exporter,why\nChargeFrequency,one time,Recurring,nobody,\n")
    with connect() as con, pytest.raises(VocabularyError, match=r"one written value maps to two FOCUS values"):
        register_vocabulary(con)
