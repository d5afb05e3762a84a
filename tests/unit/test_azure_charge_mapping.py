"""Every Azure ChargeType, PricingModel and Frequency maps to FOCUS-valid values by the rules in
`assets.ingest.azure_columns`: ChargeCategory, ChargeClass, ChargeFrequency, CommitmentDiscountStatus,
PricingCategory, ServiceCategory / ServiceSubcategory, and the money each row bills."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from assets.ingest.azure_export import AZURE_EXPORT
from assets.ingest.vocabulary import ALLOWED, SERVICE_SUBCATEGORIES
from tests.unit.test_ingest_readers import stage

CHARGE_FREQUENCIES = ("One-Time", "Recurring", "Usage-Based")
"""FOCUS's allowed ChargeFrequency values."""

HEADER = (
    "Date,BillingCurrency,Cost,ChargeType,PricingModel,Frequency,MeterCategory,MeterSubCategory,MeterName,"
    "ServiceFamily,Quantity,UnitOfMeasure,ReservationId\n"
)

ROWS = [
    # ChargeType, PricingModel, Frequency, cost
    ("Usage", "OnDemand", "UsageBased", "10.50"),
    ("Usage", "On Demand", "UsageBased", "1.25"),
    ("Usage", "Spot", "UsageBased", "0.75"),
    ("Usage", "Reservation", "UsageBased", "4.00"),
    ("Usage", "SavingsPlan", "UsageBased", "3.00"),
    ("Usage", "", "", "2.00"),
    ("UnusedReservation", "Reservation", "UsageBased", "6.00"),
    ("UnusedSavingsPlan", "SavingsPlan", "UsageBased", "1.50"),
    ("Purchase", "Reservation", "OneTime", "657.00"),
    ("Purchase", "SavingsPlan", "Recurring", "100.00"),
    ("Purchase", "", "", "70.00"),
    ("Refund", "Reservation", "OneTime", "-120.00"),
    ("RoundingAdjustment", "", "", "-0.01"),
]

EXPECTED = [
    # ChargeCategory, ChargeClass, ChargeFrequency, CommitmentDiscountStatus, PricingCategory, BilledCost
    ("Usage", None, "Usage-Based", None, "Standard", Decimal("10.50")),
    ("Usage", None, "Usage-Based", None, "Standard", Decimal("1.25")),
    ("Usage", None, "Usage-Based", None, "Dynamic", Decimal("0.75")),
    ("Usage", None, "Usage-Based", "Used", "Committed", Decimal(0)),
    ("Usage", None, "Usage-Based", "Used", "Committed", Decimal(0)),
    ("Usage", None, "Usage-Based", None, "Standard", Decimal("2.00")),
    ("Usage", None, "Usage-Based", "Unused", "Committed", Decimal(0)),
    ("Usage", None, "Usage-Based", "Unused", "Committed", Decimal(0)),
    ("Purchase", None, "One-Time", None, None, Decimal("657.00")),
    ("Purchase", None, "Recurring", None, None, Decimal("100.00")),
    ("Purchase", None, "One-Time", None, None, Decimal("70.00")),
    ("Purchase", "Correction", "One-Time", None, None, Decimal("-120.00")),
    ("Adjustment", None, "One-Time", None, None, Decimal("-0.01")),
]


def test_every_charge_type_pricing_model_and_frequency_maps_to_focus_values(tmp_path: Path) -> None:
    lines = [
        f"2023-09-21,USD,{cost},{charge},{model},{frequency},Virtual Machines,Dv3 Series,D4 v3,Compute,1,1 Hour,R-1"
        for charge, model, frequency, cost in ROWS
    ]
    path = tmp_path / "charges.csv"
    path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    staged, rejected = stage(AZURE_EXPORT, [path])
    assert rejected == []
    got = [
        (
            r["ChargeCategory"],
            r["ChargeClass"],
            r["ChargeFrequency"],
            r["CommitmentDiscountStatus"],
            r["PricingCategory"],
            r["BilledCost"],
        )
        for r in staged
    ]
    assert got == EXPECTED
    # EffectiveCost is every row's cost, so the staged total is the file's total
    assert sum(r["EffectiveCost"] for r in staged) == sum(Decimal(c) for *_, c in ROWS) == Decimal("735.99")
    for category, _, frequency, status, *_ in got:
        assert category in ALLOWED["ChargeCategory"] and frequency in CHARGE_FREQUENCIES
        assert status is None or status in ALLOWED["CommitmentDiscountStatus"]
    unused = [r for r in staged if r["CommitmentDiscountStatus"] == "Unused"]
    assert [(r["ConsumedQuantity"], r["CommitmentDiscountId"]) for r in unused] == [(None, "r-1")] * 2
    # the commitment that covered (or went unused on) a row: a reservation commits to usage, a savings plan to spend
    commitments = [
        (r["CommitmentDiscountCategory"], r["CommitmentDiscountType"]) for r in staged if r["CommitmentDiscountId"]
    ]
    assert commitments == [
        ("Usage", "Reservation"),  # usage, covered
        ("Spend", "Savings Plan"),
        ("Usage", "Reservation"),  # unused
        ("Spend", "Savings Plan"),
        ("Usage", "Reservation"),  # purchases and the refund
        ("Spend", "Savings Plan"),
        ("Usage", "Reservation"),
    ]
    assert all(r["CommitmentDiscountCategory"] is None for r in staged if not r["CommitmentDiscountId"])


def test_a_charge_type_azure_does_not_write_is_quarantined_naming_the_expected_ones(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text(HEADER + "2023-09-21,USD,1.00,Marketplace,,,Storage,,Blob,Storage,1,1 GB,\n", encoding="utf-8")
    staged, rejected = stage(AZURE_EXPORT, [path])
    assert staged == []
    assert [(r["row"], r["column"]) for r in rejected] == [(1, "ChargeCategory")]
    assert rejected[0]["reason"].startswith("unknown ChargeType (expected usage, unusedreservation")


def test_service_category_comes_from_the_meter_then_the_service_family(tmp_path: Path) -> None:
    meters = [
        ("Azure OpenAI", "", "gpt 4o 0513 Input global Tokens", "AI + Machine Learning"),
        ("Cognitive Services", "Azure OpenAI", "gpt-4o-mini Outp glbl Tokens", ""),
        ("Virtual Machines Licenses", "Red Hat OpenShift", "4 vCPU", "Compute"),
        ("Storage", "Tiered Block Blob", "Hot LRS Data Stored", "Storage"),
        ("Storage", "Premium SSD Managed Disks", "P4 LRS Disk", "Storage"),
        ("Bandwidth", "Inter-Region", "Intra Continent Data Transfer Out", "Networking"),
        ("SQL Managed Instance", "Managed Instance General Purpose - SQL License", "vCore", "Compute"),
        ("Log Analytics", "", "Pay-as-you-go Data Ingestion", "Management and Governance"),
        ("Azure Maps", "", "Transactions", "Web"),
        ("Something New", "", "Units", ""),
    ]
    lines = [
        f"2023-09-21,USD,1,Usage,OnDemand,UsageBased,{category},{sub},{meter},{family},1,1,\n"
        for category, sub, meter, family in meters
    ]
    path = tmp_path / "services.csv"
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    staged, rejected = stage(AZURE_EXPORT, [path])
    assert rejected == []
    assert [(r["ServiceCategory"], r["ServiceSubcategory"]) for r in staged] == [
        ("AI and Machine Learning", "Generative AI"),
        ("AI and Machine Learning", "Generative AI"),
        ("Compute", "Virtual Machines"),
        ("Storage", "Object Storage"),
        ("Storage", "Block Storage"),
        ("Networking", "Network Connectivity"),
        ("Databases", "Relational Databases"),
        ("Management and Governance", "Observability"),
        ("Web", None),
        ("Other", None),
    ]
    assert [r["ServiceName"] for r in staged] == [m[0] for m in meters]
    for row in staged:
        assert row["ServiceCategory"] in SERVICE_SUBCATEGORIES
        assert (
            row["ServiceSubcategory"] is None
            or row["ServiceSubcategory"] in SERVICE_SUBCATEGORIES[row["ServiceCategory"]]
        )
