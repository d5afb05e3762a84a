"""Azure Cost Management exports read into `cost_lines`: EA, MCA and legacy column sets, actual vs amortized,
vendor quirks, rejects, and `fetch` taking the latest run of the month from a folder or a storage container."""

from __future__ import annotations

import csv
import gzip
import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

import pytest

import assets.ingest
from assets.config import Source, load_settings
from assets.ingest.azure_columns import CHARGE_TYPES
from assets.ingest.azure_export import AZURE_EXPORT, fetch_azure_export
from assets.lake import Lake
from assets.raw import found_nothing_reason, land_day
from assets.sql import connect
from assets.staging import stage_day
from tests.unit.test_ingest_readers import stage

EA_HEADER = (
    "\ufeffBillingAccountId,BillingPeriodStartDate,BillingPeriodEndDate,SubscriptionId,SubscriptionName,Date,"
    "Product,MeterId,ServiceFamily,MeterCategory,MeterSubCategory,MeterName,Quantity,CostInBillingCurrency,"
    "BillingCurrencyCode,ResourceLocation,ResourceId,Tags,UnitOfMeasure,ReservationId,ChargeType,Frequency,"
    "PayGPrice,PricingModel,benefitId\n"
)
"""EA 2024-08-01 column names in export order (a subset), with the UTF-8 BOM Azure writes."""

EA_ACTUAL = EA_HEADER + (
    '8611537,09/01/2023,09/30/2023,SUB-1,Research,09/21/2023,"Virtual Machines NCSv3 Series - NC6s v3 - US East",'
    "m-1,Compute,Virtual Machines,NCSv3 Series,NC6s v3,24,73.44,USD,EastUS,"
    "/subscriptions/SUB-1/resourceGroups/ML/providers/Microsoft.Compute/virtualMachines/GPU-1,"
    '"""team"": ""search"",""env"": ""prod""",1 Hour,,Usage,UsageBased,3.06,OnDemand,\n'
    "8611537,09/01/2023,09/30/2023,SUB-1,Research,9/2/2023,Tiered Block Blob - GRS,m-2,Storage,Storage,"
    "Tiered Block Blob,GRS List Operations,0.0004,0.00004,USD,EastUS2,"
    '/subscriptions/SUB-1/resourceGroups/data/providers/Microsoft.Storage/storageAccounts/lake,"""team"": ""data""",'
    "10K,,Usage,UsageBased,0.1,OnDemand,\n"
    "8611537,09/01/2023,09/30/2023,SUB-1,Research,9/5/2023,Premium SSD Managed Disks - P4,m-3,Storage,Storage,"
    "Premium SSD Managed Disks,P4 LRS Disk,0.033336,0.21268368,USD,EastUS,"
    '/subscriptions/SUB-1/resourceGroups/data/providers/Microsoft.Compute/disks/d1,"",1 /Month,,Usage,UsageBased,'
    "6.38,OnDemand,\n"
    "8611537,09/01/2023,09/30/2023,SUB-1,Research,09/21/2023,,m-4,Compute,Virtual Machines,NCSv3 Series,NC6s v3,"
    "1,657.00,USD,eastus,,,1 Hour,RES-1,Purchase,Recurring,0,Reservation,"
    "/providers/Microsoft.Capacity/reservationOrders/ORDER-1/reservations/RES-1\n"
    "8611537,09/01/2023,09/30/2023,SUB-1,Research,09/21/2023,Azure OpenAI - gpt 4o 0513 Input global Tokens,m-5,"
    "AI + Machine Learning,Azure OpenAI,,gpt 4o 0513 Input global Tokens,1250.5,3.12625,USD,EastUS,"
    "/subscriptions/SUB-1/resourceGroups/ai/providers/Microsoft.CognitiveServices/accounts/oai,"
    '"""team"": ""search""",1K,,Usage,UsageBased,0.0025,OnDemand,\n'
    "8611537,09/01/2023,09/30/2023,SUB-1,Research,09/21/2023,Azure App Service Basic Plan,m-6,Compute,"
    "Azure App Service,Basic Plan,B1,2.4,1.8,USD,EastUS,"
    "/subscriptions/SUB-1/resourceGroups/web/providers/Microsoft.Web/serverFarms/plan,,10 Hours,,Usage,UsageBased,"
    "0.75,OnDemand,\n"
)
"""An ActualCost export: on-demand usage of a GPU VM, storage in blocks of 10K operations, a disk per month, the
one-off purchase of a reservation, Azure OpenAI tokens in blocks of 1K, an App Service plan in blocks of 10 hours."""

EA_AMORTIZED = EA_HEADER + (
    "8611537,09/01/2023,09/30/2023,SUB-1,Research,09/22/2023,Virtual Machines NCSv3 Series - NC6s v3,m-1,Compute,"
    "Virtual Machines,NCSv3 Series,NC6s v3,18,40.50,USD,EastUS,"
    "/subscriptions/SUB-1/resourceGroups/ML/providers/Microsoft.Compute/virtualMachines/GPU-1,"
    '"""team"": ""search""",1 Hour,RES-1,Usage,UsageBased,3.06,Reservation,'
    "/providers/Microsoft.Capacity/reservationOrders/ORDER-1/reservations/RES-1\n"
    "8611537,09/01/2023,09/30/2023,SUB-1,Research,09/22/2023,Virtual Machines NCSv3 Series - NC6s v3,m-1,Compute,"
    "Virtual Machines,NCSv3 Series,NC6s v3,6,13.50,USD,EastUS,,,1 Hour,RES-1,UnusedReservation,UsageBased,0,"
    "Reservation,/providers/Microsoft.Capacity/reservationOrders/ORDER-1/reservations/RES-1\n"
    "8611537,09/01/2023,09/30/2023,SUB-1,Research,09/22/2023,Bandwidth - Data Transfer Out,m-7,Networking,"
    "Bandwidth,Inter-Region,Intra Continent Data Transfer Out,12.5,0.25,USD,EastUS,"
    "/subscriptions/SUB-1/resourceGroups/ML/providers/Microsoft.Compute/virtualMachines/GPU-1,,1 GB,,Usage,"
    "UsageBased,0.02,OnDemand,\n"
)
"""An AmortizedCost export of a day: 18 of 24 reserved GPU hours used (covered usage at the amortized rate), the
other 6 unused, and on-demand bandwidth."""

MCA = (
    "invoiceId,billingAccountId,SubscriptionId,subscriptionName,date,productName,meterCategory,meterSubCategory,"
    "meterName,quantity,unitOfMeasure,chargeType,billingCurrency,costInBillingCurrency,costInUsd,pricingModel,"
    "frequency,ResourceId,resourceLocation,tags,publisherType,publisherName\n"
    "INV-7,BA-1,SUB-2,Platform,2023-09-05,Azure OpenAI - gpt-4o-mini-0718 Outp glbl Tokens,Cognitive Services,"
    "Azure OpenAI,gpt-4o-mini-0718 Outp glbl Tokens,312.4,1K,Usage,EUR,0.1752564,0.18743,On Demand,UsageBased,"
    "/subscriptions/SUB-2/resourceGroups/AI/providers/Microsoft.CognitiveServices/accounts/OAI-2,westeurope,"
    '"{""team"":""support"",""cost-center"":42}",Microsoft,Microsoft\n'
    "INV-7,BA-1,SUB-2,Platform,2023-09-05,Pinecone Standard,Pinecone,,Standard,1,1 Month,Purchase,EUR,70.00,74.86,"
    'On Demand,OneTime,,,,Marketplace,"Pinecone Systems, Inc."\n'
)
"""An MCA export (camelCase with `SubscriptionId`/`ResourceId` PascalCase, braced JSON tags with a number), gzipped:
Azure OpenAI in the older Cognitive Services category, and a Marketplace purchase."""

LEGACY = (
    "subscriptionGuid,usageDateTime,meterCategory,meterSubcategory,meterName,quantity,preTaxCost,resourceId,tags,"
    "currency\n"
    "SUB-3,2019-07-29T00:00:00.0000000Z,Bandwidth,,Data Transfer Out,4.5,0.3915,"
    '/subscriptions/SUB-3/resourceGroups/X/providers/Microsoft.Compute/virtualMachines/vm,"{""project"":""p1""}",USD\n'
)
"""A legacy usage file (2019): `subscriptionGuid`, zoned `usageDateTime`, `preTaxCost`, no ChargeType."""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def file_total(path: Path, column: str) -> Decimal:
    """The export's own total of a cost column, summed in Python from the file's text."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig") as handle:
        return sum((Decimal(r[column]) for r in csv.DictReader(handle)), Decimal(0))


def by_row(staged: list[dict]) -> dict[int, dict]:
    return {r["_row"]: r for r in staged}


def test_ea_actual_cost_export_with_bom_braceless_tags_and_us_dates(tmp_path: Path) -> None:
    path = write(tmp_path / "part_0_0001.csv", EA_ACTUAL)
    staged, rejected = stage(AZURE_EXPORT, [path])
    assert rejected == []
    gpu, blob, disk, purchase, openai, plan = (by_row(staged)[i] for i in range(1, 7))
    assert (gpu["BilledCost"], gpu["EffectiveCost"], gpu["ListCost"]) == (Decimal("73.44"),) * 3
    assert (gpu["BillingCurrency"], gpu["BillingAccountId"], gpu["SubAccountId"]) == ("USD", "8611537", "SUB-1")
    assert gpu["ChargePeriodStart"] == datetime(2023, 9, 21, tzinfo=UTC)
    assert gpu["ChargePeriodEnd"] == datetime(2023, 9, 22, tzinfo=UTC)
    assert gpu["BillingPeriodStart"] == datetime(2023, 9, 1, tzinfo=UTC)
    assert gpu["BillingPeriodEnd"] == datetime(2023, 10, 1, tzinfo=UTC)
    assert (
        gpu["ResourceId"] == "/subscriptions/sub-1/resourcegroups/ml/providers/microsoft.compute/virtualmachines/gpu-1"
    )
    assert gpu["Tags"] == {"team": "search", "env": "prod"}
    assert (gpu["ServiceName"], gpu["ServiceSubcategory"], gpu["SkuMeter"]) == (
        "Virtual Machines",
        "Virtual Machines",
        "NC6s v3",
    )
    assert (gpu["ServiceCategory"], gpu["PricingCategory"]) == ("Compute", "Standard")
    assert (gpu["ChargeCategory"], gpu["ChargeFrequency"], gpu["CommitmentDiscountStatus"]) == (
        "Usage",
        "Usage-Based",
        None,
    )
    assert (gpu["PricingQuantity"], gpu["PricingUnit"], gpu["RegionId"]) == (Decimal("24"), "Hour", "eastus")
    assert (gpu["InvoiceIssuerName"], gpu["ServiceProviderName"], gpu["x_Provider"]) == ("Microsoft", "Microsoft", None)
    assert blob["ChargePeriodStart"] == datetime(2023, 9, 2, tzinfo=UTC)
    assert (blob["BilledCost"], blob["PricingQuantity"], blob["PricingUnit"]) == (Decimal("0.00004"), 4, "Units")
    assert (disk["PricingQuantity"], disk["PricingUnit"], disk["Tags"]) == (Decimal("0.033336"), "Units/Month", None)
    assert (purchase["ChargeCategory"], purchase["ChargeFrequency"]) == ("Purchase", "Recurring")
    assert (purchase["BilledCost"], purchase["EffectiveCost"], purchase["ListCost"]) == (Decimal("657"),) * 2 + (None,)
    assert (
        purchase["CommitmentDiscountId"] == "/providers/microsoft.capacity/reservationorders/order-1/reservations/res-1"
    )
    assert (openai["x_Provider"], openai["x_Model"], openai["PricingQuantity"]) == ("azure", "gpt-4o", 1250500)
    assert openai["ListCost"] == Decimal("3.12625")
    assert (plan["PricingQuantity"], plan["PricingUnit"], plan["ConsumedQuantity"]) == (24, "Hours", 24)
    assert (
        sum(r["EffectiveCost"] for r in staged) == file_total(path, "CostInBillingCurrency") == Decimal("735.57897368")
    )
    assert sum(r["BilledCost"] for r in staged) == Decimal("735.57897368")


def test_amortized_export_bills_commitment_usage_at_zero_and_marks_the_unused_reservation(tmp_path: Path) -> None:
    path = write(tmp_path / "amortized.csv", EA_AMORTIZED)
    staged, rejected = stage(AZURE_EXPORT, [path])
    assert rejected == []
    used, unused, bandwidth = (by_row(staged)[i] for i in range(1, 4))
    reservation = "/providers/microsoft.capacity/reservationorders/order-1/reservations/res-1"
    assert (used["BilledCost"], used["EffectiveCost"], used["CommitmentDiscountStatus"]) == (
        0,
        Decimal("40.50"),
        "Used",
    )
    assert (unused["BilledCost"], unused["EffectiveCost"]) == (0, Decimal("13.50"))
    assert (unused["ChargeCategory"], unused["CommitmentDiscountStatus"], unused["ConsumedQuantity"]) == (
        "Usage",
        "Unused",
        None,
    )
    assert used["CommitmentDiscountId"] == unused["CommitmentDiscountId"] == reservation
    assert (unused["ListCost"], unused["ResourceId"], unused["PricingQuantity"]) == (None, None, 6)
    assert (bandwidth["BilledCost"], bandwidth["CommitmentDiscountId"], bandwidth["PricingUnit"]) == (
        Decimal("0.25"),
        None,
        "GB",
    )
    assert sum(r["EffectiveCost"] for r in staged) == file_total(path, "CostInBillingCurrency") == Decimal("54.25")
    assert sum(r["BilledCost"] for r in staged) == Decimal("0.25")


def test_mca_camel_case_gzip_and_legacy_column_sets_map_to_the_same_fields(tmp_path: Path) -> None:
    mca = write(tmp_path / "mca.csv.gz", MCA)
    legacy = write(tmp_path / "legacy.csv", LEGACY)
    staged, rejected = stage(AZURE_EXPORT, [mca, legacy])
    assert rejected == []
    rows = {(Path(r["_file"]).name, r["_row"]): r for r in staged}
    openai, marketplace, usage = rows["mca.csv.gz", 1], rows["mca.csv.gz", 2], rows["legacy.csv", 1]
    assert (openai["BilledCost"], openai["BillingCurrency"], openai["InvoiceId"]) == (
        Decimal("0.1752564"),
        "EUR",
        "INV-7",
    )
    assert (openai["x_Provider"], openai["x_Model"], openai["PricingQuantity"]) == ("azure", "gpt-4o-mini", 312400)
    assert openai["SubAccountId"] == "SUB-2"
    assert (
        openai["ResourceId"]
        == "/subscriptions/sub-2/resourcegroups/ai/providers/microsoft.cognitiveservices/accounts/oai-2"
    )
    assert openai["Tags"] == {"team": "support", "cost-center": "42"}
    assert openai["ChargePeriodStart"] == datetime(2023, 9, 5, tzinfo=UTC)
    assert (marketplace["ChargeCategory"], marketplace["ChargeFrequency"], marketplace["BilledCost"]) == (
        "Purchase",
        "One-Time",
        Decimal("70.00"),
    )
    assert (marketplace["ServiceProviderName"], marketplace["PricingUnit"]) == ("Pinecone Systems, Inc.", "Month")
    assert (usage["SubAccountId"], usage["ChargeCategory"], usage["BilledCost"]) == (
        "SUB-3",
        "Usage",
        Decimal("0.3915"),
    )
    assert (usage["ChargePeriodStart"], usage["Tags"]) == (datetime(2019, 7, 29, tzinfo=UTC), {"project": "p1"})
    assert (usage["PricingQuantity"], usage["PricingUnit"]) == (Decimal("4.5"), None)


def test_parquet_export_with_typed_columns(tmp_path: Path) -> None:
    path = tmp_path / "part_0_0001.parquet"
    connect().execute(
        f"""copy (select date '2024-05-03' as Date, 'SUB-4' as SubscriptionId, 12.3456789012::decimal(20, 10) as Cost,
                  'USD' as BillingCurrency, 'Usage' as ChargeType, 'Virtual Machines' as MeterCategory,
                  'ND96asr v4' as MeterName, 2.5::double as Quantity, '1 Hour' as UnitOfMeasure,
                  map {{'team': 'ml'}} as Tags)
            to '{path}' (format parquet)"""
    )
    ((row,), rejected) = stage(AZURE_EXPORT, [path])
    assert rejected == []
    assert (row["BilledCost"], row["SubAccountId"], row["Tags"]) == (Decimal("12.3456789012"), "SUB-4", {"team": "ml"})
    assert (row["ChargePeriodStart"], row["PricingQuantity"]) == (datetime(2024, 5, 3, tzinfo=UTC), Decimal("2.5"))


UNITS_OF_MEASURE = [
    # UnitOfMeasure, Quantity, PricingQuantity, PricingUnit
    ("1K", "2.5", "2500", "Units"),
    ("10 Hours", "2.4", "24", "Hours"),
    ("1 /Month", "0.033336", "0.033336", "Units/Month"),
    ("10K/Month", "3", "30000", "Units/Month"),
    ("100 GB/Month", "0.5", "50", "GB/Month"),
    ("1M", "0.000123", "123", "Units"),
    ("1/10 Days", "2", "2", "Units/10 Days"),
    ("10000s", "7", "7", "10000s"),
    ("Hours", "5", "5", "Hours"),
    ("0 Unassigned", "1", "1", "Unassigned"),
]


def test_unit_of_measure_blocks_scale_the_quantity_and_name_the_unit(tmp_path: Path) -> None:
    lines = [f"2024-05-03,1,USD,Usage,{quantity},{unit}" for unit, quantity, _, _ in UNITS_OF_MEASURE]
    path = write(
        tmp_path / "uom.csv", "\n".join(["Date,Cost,BillingCurrency,ChargeType,Quantity,UnitOfMeasure", *lines])
    )
    staged, rejected = stage(AZURE_EXPORT, [path])
    assert rejected == []
    assert [(r["PricingQuantity"], r["PricingUnit"]) for r in staged] == [
        (Decimal(pricing_quantity), pricing_unit) for _, _, pricing_quantity, pricing_unit in UNITS_OF_MEASURE
    ]


AZURE_OPENAI_METERS = [
    ("gpt 4o 0513 Input global Tokens", "gpt-4o"),
    ("gpt-4o-mini-0718 Outp glbl Tokens", "gpt-4o-mini"),
    ("GPT 4.1 mini Input global Tokens", "gpt-4.1-mini"),
    ("o3 0416 cchd Inp Glbl 1M Tokens", "o3"),
    ("gpt-4o-2024-08-06 Batch Input Tokens", "gpt-4o"),
    ("text-embedding-3-small Tokens", "text-embedding-3-small"),
    ("GPT-5 Inp Data Zone Tokens", "gpt-5"),
    ("Provisioned Managed Global", None),
]


def test_azure_openai_meter_names_give_the_model_case_insensitively(tmp_path: Path) -> None:
    lines = [f"2024-05-03,1,USD,Usage,Azure OpenAI,{meter}" for meter, _ in AZURE_OPENAI_METERS]
    path = write(
        tmp_path / "oai.csv", "\n".join(["Date,Cost,BillingCurrency,ChargeType,MeterCategory,MeterName", *lines])
    )
    staged, _ = stage(AZURE_EXPORT, [path])
    assert [(r["x_Provider"], r["x_Model"]) for r in staged] == [("azure", model) for _, model in AZURE_OPENAI_METERS]


def test_bad_rows_are_quarantined_with_row_column_and_reason_and_nothing_is_lost(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad.csv",
        "Date,Cost,BillingCurrency,ChargeType,Quantity,UnitOfMeasure,Tags\n"
        "2024-05-03,1.25,USD,Usage,2,1K,\n"
        "13/45/2024,1.00,USD,Usage,1,1 Hour,\n"
        "2024-05-03,abc,USD,Usage,1,1 Hour,\n"
        "2024-05-03,2.00,USD,Bonus,1,1 Hour,\n"
        "2024-05-03,3.00,,Usage,1,1 Hour,\n"
        "2024-05-03,4.00,USD,Usage,lots,1K,\n"
        '2024-05-03,5.00,USD,Usage,1,1 Hour,"""team"": [1"\n',
    )
    staged, rejected = stage(AZURE_EXPORT, [path])
    assert [r["_row"] for r in staged] == [1]
    assert [(r["row"], r["column"], r["reason"]) for r in rejected] == [
        (2, "ChargePeriodStart", "not a valid timestamptz"),
        (3, "BilledCost", "not a valid decimal(38,10)"),
        (4, "ChargeCategory", "unknown ChargeType (expected " + ", ".join(CHARGE_TYPES) + ")"),
        (5, "BillingCurrency", "required value missing"),
        (6, "PricingQuantity", "not a valid decimal(38,10)"),
        (7, "Tags", "not a valid map(varchar, varchar)"),
    ]


def test_a_file_without_a_cost_column_is_rejected_whole(tmp_path: Path) -> None:
    path = write(tmp_path / "nocost.csv", "Date,BillingCurrency,ChargeType\n2024-05-03,USD,Usage\n")
    staged, rejected = stage(AZURE_EXPORT, [path])
    assert staged == []
    assert [(r["column"], r["reason"]) for r in rejected] == [("BilledCost", "required column missing from file")]


# --- fetch: the latest run of the month, from a folder or a container ----------------------------------------------


def export_run(root: Path, month: str, run: str, csv_text: str, modified: datetime, *, lie: int = 0) -> None:
    """One run of an export under `root` (`<dir>/<export>`), as Azure lays it out, with its manifest.json; `lie`
    adds that many rows to what the manifest claims."""
    prefix = "cost/ai-export"
    data = write(root / month / run / "part_0_0001.csv", csv_text)
    rows = csv_text.count("\n") - 1
    manifest = {
        "manifestVersion": "2024-04-01",
        "dataFormat": "csv",
        "blobCount": 1,
        "byteCount": data.stat().st_size,
        "dataRowCount": rows + lie,
        "blobs": [
            {
                "blobName": f"{prefix}/{month}/{run}/part_0_0001.csv",
                "byteCount": data.stat().st_size,
                "dataRowCount": rows + lie,
                "headerRowCount": 1,
            }
        ],
    }
    write(root / month / run / "manifest.json", json.dumps(manifest))
    for path in (data, root / month / run / "manifest.json"):
        os.utime(path, (modified.timestamp(), modified.timestamp()))


def two_runs(root: Path) -> None:
    """September has an early run (with a since-restated GPU line) and a later complete one; August one run."""
    export_run(root, "20230801-20230831", "202308311200/run-a", EA_AMORTIZED, datetime(2023, 8, 31, 12, tzinfo=UTC))
    export_run(
        root,
        "20230901-20230930",
        "202309221200/run-b",
        EA_AMORTIZED.replace("40.50", "39.00"),
        datetime(2023, 9, 22, 12, tzinfo=UTC),
    )
    export_run(root, "20230901-20230930", "202309230600/run-c", EA_AMORTIZED, datetime(2023, 9, 23, 6, tzinfo=UTC))


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kind in the registry, as `assets/ingest/__init__.py` will have it, so configs can name it."""
    monkeypatch.setitem(assets.ingest.SOURCE_KINDS, "azure_export", AZURE_EXPORT)


def source(path: str) -> Source:
    return Source(name="azure_bill", kind="azure_export", path=path)


def test_fetch_takes_the_latest_run_of_the_month_from_a_local_folder(tmp_path: Path) -> None:
    root = tmp_path / "ai-export"
    two_runs(root)
    fetched = fetch_azure_export(source(str(root)), date(2023, 9, 22), tmp_path / "work")
    assert [f.origin for f in fetched] == [
        str(root / "20230901-20230930/202309230600/run-c/manifest.json"),
        str(root / "20230901-20230930/202309230600/run-c/part_0_0001.csv"),
    ]
    assert fetched[1].modified_at == datetime(2023, 9, 23, 6, tzinfo=UTC)
    assert fetch_azure_export(source(str(root)), date(2023, 10, 1), tmp_path / "work") == []


def test_fetch_refuses_a_run_whose_rows_do_not_match_its_manifest(tmp_path: Path) -> None:
    root = tmp_path / "ai-export"
    export_run(root, "20230901-20230930", "run-x", EA_AMORTIZED, datetime(2023, 9, 23, tzinfo=UTC), lie=1)
    with pytest.raises(ValueError, match=r"run-x/part_0_0001.csv: 3 data rows, the manifest says 4"):
        fetch_azure_export(source(str(root)), date(2023, 9, 22), tmp_path / "work")


def test_fetch_refuses_a_month_without_manifest(tmp_path: Path) -> None:
    write(tmp_path / "ai-export" / "20230901-20230930" / "run" / "export.csv", EA_AMORTIZED)
    with pytest.raises(FileNotFoundError, match="turn on file partitioning"):
        fetch_azure_export(source(str(tmp_path / "ai-export")), date(2023, 9, 22), tmp_path / "work")


def test_a_sas_token_in_the_path_is_refused_without_being_repeated(tmp_path: Path) -> None:
    url = "https://acct.blob.core.windows.net/billing/cost/ai-export?sv=2024-01-01&sig=SECRET"
    with pytest.raises(ValueError, match="remove the query") as refused:
        fetch_azure_export(source(url), date(2023, 9, 22), tmp_path)
    assert "SECRET" not in str(refused.value)


class BlobContainer(BaseHTTPRequestHandler):
    """The two Blob service calls `fetch` makes, served from files on disk as Azure Storage answers them: List
    Blobs (`?restype=container&comp=list`, with `prefix` and `delimiter`) and Get Blob with `x-ms-range`."""

    root: Path  # holds <account>/<container>/<blob path>
    requests: list[str]

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        self.requests.append(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        account, container, *blob = unquote(url.path).lstrip("/").split("/")
        base = self.root / account / container
        if query.get("comp") == "list":
            self._list(base, query.get("prefix", ""), query.get("delimiter"))
        else:
            self._get(base / "/".join(blob))

    def _list(self, base: Path, prefix: str, delimiter: str | None) -> None:
        names = sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())
        items, folders = [], set()
        for name in (n for n in names if n.startswith(prefix)):
            rest = name[len(prefix) :]
            if delimiter and delimiter in rest:
                folder = prefix + rest.split(delimiter, 1)[0] + delimiter
                if folder not in folders:
                    folders.add(folder)
                    items.append(f"<BlobPrefix><Name>{escape(folder)}</Name></BlobPrefix>")
                continue
            stat = (base / name).stat()
            modified = format_datetime(datetime.fromtimestamp(stat.st_mtime, UTC), usegmt=True)
            items.append(
                f"<Blob><Name>{escape(name)}</Name><Properties><Last-Modified>{modified}</Last-Modified>"
                f"<Etag>0x{int(stat.st_mtime)}</Etag><Content-Length>{stat.st_size}</Content-Length>"
                "<BlobType>BlockBlob</BlobType></Properties></Blob>"
            )
        body = (
            '<?xml version="1.0" encoding="utf-8"?><EnumerationResults>'
            f"<Prefix>{escape(prefix)}</Prefix><Blobs>{''.join(items)}</Blobs><NextMarker /></EnumerationResults>"
        ).encode()
        self._reply(200, body, {"Content-Type": "application/xml"})

    def _get(self, path: Path) -> None:
        if not path.is_file():
            self._reply(404, b"", {"x-ms-error-code": "BlobNotFound"})
            return
        data = path.read_bytes()
        modified = format_datetime(datetime.fromtimestamp(path.stat().st_mtime, UTC), usegmt=True)
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}",
            "Last-Modified": modified,
            "ETag": '"0x1"',
            "x-ms-blob-type": "BlockBlob",
        }
        self._reply(206, data, headers)

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body)), "x-ms-version": "2025-01-05"}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def blob_server(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """A storage account `acct` on 127.0.0.1 serving tmp_path/blobs; yields (account URL, root, requests)."""
    root = tmp_path / "blobs"
    handler = type("Handler", (BlobContainer,), {"root": root, "requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/acct", root, handler.requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_fetch_downloads_exactly_the_latest_manifests_blobs_from_a_container(tmp_path: Path, blob_server) -> None:
    account_url, blobs, requests = blob_server
    two_runs(blobs / "acct" / "billing" / "cost" / "ai-export")
    work = tmp_path / "work"
    fetched = fetch_azure_export(source(f"{account_url}/billing/cost/ai-export"), date(2023, 9, 22), work)
    export = f"{account_url}/billing/cost/ai-export/20230901-20230930/202309230600/run-c"
    assert [(f.origin, f.modified_at) for f in fetched] == [
        (f"{export}/manifest.json", datetime(2023, 9, 23, 6, tzinfo=UTC)),
        (f"{export}/part_0_0001.csv", datetime(2023, 9, 23, 6, tzinfo=UTC)),
    ]
    assert fetched[1].path.read_text(encoding="utf-8") == EA_AMORTIZED
    downloads = [r for r in requests if "comp=list" not in r]
    assert downloads == [
        "/acct/billing/cost/ai-export/20230901-20230930/202309230600/run-c/manifest.json",
        "/acct/billing/cost/ai-export/20230901-20230930/202309230600/run-c/part_0_0001.csv",
    ]


PROPOSED_CATEGORIES = """
cost_categories:
  - category: gpu_idle
    match:
      CommitmentDiscountStatus: Unused
      ServiceName: Virtual Machines
      SkuMeter: {regex: "^N[CDV]"}
  - category: gpu
    match: {ServiceName: Virtual Machines, SkuMeter: {regex: "^N[CDV]"}}
  - category: embeddings
    match: {x_Provider: azure, x_Model: {like: "%embedding%"}}
  - category: inference
    match: {x_Provider: azure}
  - category: data_transfer
    match: {ServiceName: Bandwidth}
  - category: storage
    match: {ServiceName: Storage}
rules: []
"""


def test_a_day_lands_the_latest_run_with_its_manifest_and_stages_categories_from_config(
    tmp_path: Path,
) -> None:
    two_runs(tmp_path / "ai-export")
    (tmp_path / "allocation.yaml").write_text(PROPOSED_CATEGORIES)
    (tmp_path / "apportion.yaml").write_text(
        "allocation: allocation.yaml\nprices: null\n"
        f"sources:\n  - {{name: azure_bill, kind: azure_export, path: '{tmp_path / 'ai-export'}'}}\n"
    )
    settings = load_settings(tmp_path / "apportion.yaml")
    day = date(2023, 9, 22)
    assert land_day(settings, day) == {"azure_bill": 2}
    stage_day(settings, day)
    lake = Lake(settings.app.lake)
    with connect() as con:
        raw = con.execute(
            "select source_path from read_parquet($f) order by source_path",
            {"f": str(lake.manifest_file("azure_bill", day))},
        ).fetchall()
        lines = con.execute(
            "select x_SourceRow, x_CostCategory, EffectiveCost, BilledCost from read_parquet($f) order by x_SourceRow",
            {"f": str(lake.partition_file("cost_lines", day, "azure_bill"))},
        ).fetchall()
    assert [Path(r[0]).parent.name for r in raw] == ["run-c", "run-c"]
    assert lines == [
        (1, "gpu", Decimal("40.50"), Decimal("0")),
        (2, "gpu_idle", Decimal("13.50"), Decimal("0")),
        (3, "data_transfer", Decimal("0.25"), Decimal("0.25")),
    ]


def test_a_blob_that_cannot_be_read_is_landed_and_quarantined_whole_instead_of_stopping_the_day(tmp_path: Path) -> None:
    """A blob of the manifest's size that is not UTF-8 used to raise out of the fetch, stopping every source's day."""
    root = tmp_path / "ai-export"
    export_run(root, "20230901-20230930", "run-x", EA_AMORTIZED, datetime(2023, 9, 23, tzinfo=UTC))
    blob = root / "20230901-20230930" / "run-x" / "part_0_0001.csv"
    blob.write_bytes(b"\xff" * blob.stat().st_size)
    (tmp_path / "allocation.yaml").write_text("rules: []\n")
    (tmp_path / "apportion.yaml").write_text(
        "allocation: allocation.yaml\nprices: null\n"
        f"sources:\n  - {{name: azure, kind: azure_export, path: '{root}'}}\n"
    )
    settings = load_settings(tmp_path / "apportion.yaml")
    day = date(2023, 9, 22)
    assert land_day(settings, day) == {"azure": 2}
    stage_day(settings, day)
    with connect() as con:
        quarantined = con.execute(
            "select source_file, source_row, reason from read_parquet($f)",
            {"f": str(Lake(settings.app.lake).partition_file("quarantine", day, "azure"))},
        ).fetchall()
    ((name, row, reason),) = quarantined
    assert name.endswith("-part_0_0001.csv") and row is None and reason.startswith("unreadable file: ")


MCA_FOUR_ROWS = (
    "\ufeffinvoiceId,billingAccountId,SubscriptionId,date,meterCategory,meterName,quantity,unitOfMeasure,"
    "chargeType,billingCurrency,costInBillingCurrency,pricingModel,frequency,tags,additionalInfo\r\n"
    'INV-1,BA-1,SUB-1,2023-09-05,Bandwidth,Data Transfer Out,1,1 GB,Usage,USD,0.5,On Demand,UsageBased,"",\r\n'
    "INV-1,BA-1,SUB-1,2023-09-05,Storage,LRS Data Stored,2,1 GB/Month,Usage,USD,1.25,OnDemand,UsageBased,"
    '"""team"": ""a""","{""UsageType"": ""Storage"",\r\n ""VCPUs"": 0}"\r\n'
    "INV-1,BA-1,SUB-1,2023-09-06,Virtual Machines,D4 v3,3,10 Hours,Usage,USD,2.10,Spot,UsageBased,"
    '"{""team"":""b""}",\r\n'
    "INV-1,BA-1,SUB-1,2023-09-06,Storage,LRS Data Stored,1,1 GB/Month,RoundingAdjustment,USD,-0.01,,,,\r\n"
)
"""Four rows of a camelCase MCA file as a user downloads it: a BOM, CRLF line ends, a line break inside a quoted
field, braceless and braced tags."""


def test_a_four_row_camel_case_mca_file_reads_by_its_declared_dialect(tmp_path: Path) -> None:
    path = tmp_path / "mca.csv"
    path.write_bytes(MCA_FOUR_ROWS.encode("utf-8"))
    staged, rejected = stage(AZURE_EXPORT, [path])
    assert rejected == []
    assert [
        (r["_row"], r["ChargeCategory"], r["PricingCategory"], r["EffectiveCost"], r["Tags"], r["InvoiceId"])
        for r in staged
    ] == [
        (1, "Usage", "Standard", Decimal("0.5"), None, "INV-1"),
        (2, "Usage", "Standard", Decimal("1.25"), {"team": "a"}, "INV-1"),
        (3, "Usage", "Dynamic", Decimal("2.10"), {"team": "b"}, "INV-1"),
        (4, "Adjustment", None, Decimal("-0.01"), None, "INV-1"),
    ]
    assert sum(r["EffectiveCost"] for r in staged) == Decimal("3.84")
    assert staged[2]["PricingQuantity"] == 30


def settings_for(tmp_path: Path, path: Path, options: str = "{}"):
    (tmp_path / "allocation.yaml").write_text("rules: []\n")
    (tmp_path / "apportion.yaml").write_text(
        "allocation: allocation.yaml\nprices: null\n"
        f"sources:\n  - {{name: azure, kind: azure_export, path: '{path}', options: {options}}}\n"
    )
    return load_settings(tmp_path / "apportion.yaml")


def test_a_file_downloaded_by_hand_is_read_as_it_is_from_a_file_a_glob_or_a_folder(tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    write(downloads / "cost-2023-09.csv", EA_ACTUAL)
    write(downloads / "notes.txt", "not a bill")
    day = date(2023, 9, 21)
    for path in (downloads / "cost-2023-09.csv", downloads / "*.csv", downloads):
        settings = settings_for(tmp_path, path)
        assert land_day(settings, day) == {"azure": 1 if path != downloads else 2}
        stage_day(settings, day)
        lake = Lake(settings.app.lake)
        with connect() as con:
            total = con.execute(
                "select sum(EffectiveCost) from read_parquet($f)",
                {"f": str(lake.partition_file("cost_lines", day, "azure"))},
            ).fetchall()[0][0]
            unreadable = con.execute(
                "select source_file, unreadable_reason from read_parquet($f) where unreadable_reason is not null",
                {"f": str(lake.partition_file("ingest_log", day, "azure"))},
            ).fetchall()
        # the GPU hours, the reservation purchase, the Azure OpenAI tokens and the App Service plan of 09/21
        assert total == Decimal("73.44") + Decimal("657.00") + Decimal("3.12625") + Decimal("1.8"), path
        expected = ["-notes.txt: not an Azure cost file (.csv, .csv.gz or .parquet)"] if path == downloads else []
        assert [r[1][r[1].index("-") :] for r in unreadable] == expected


def test_a_day_that_finds_nothing_records_where_it_looked_and_what_it_expected(tmp_path: Path) -> None:
    export = tmp_path / "ai-export"
    export.mkdir()
    day = date(2023, 9, 22)
    settings = settings_for(tmp_path, export)
    assert land_day(settings, day) == {"azure": 0}
    reason = found_nothing_reason(Lake(settings.app.lake), "azure", day)
    assert reason == (
        f"found nothing for 2023-09-22 at {export}: expected an export run folder "
        "<path>/<YYYYMMDD-YYYYMMDD>/<run>/ holding manifest.json and the files it lists, for a period covering the "
        "day; for a file downloaded by hand, set `path` to the file (or a glob) or options.layout: files. "
        "The setting: `path` (or `options`) of source azure in apportion.yaml"
    )
    two_runs(export)
    assert land_day(settings, day) == {"azure": 2}
    assert found_nothing_reason(Lake(settings.app.lake), "azure", day) is None
    for path, looked_at, options in (
        (tmp_path / "downloads" / "{date}.csv", tmp_path / "downloads" / "2023-09-22.csv", "{layout: files}"),
        (tmp_path / "downloads" / "cost-typo.csv", tmp_path / "downloads" / "cost-typo.csv", "{}"),
    ):
        settings = settings_for(tmp_path, path, options)
        assert land_day(settings, day) == {"azure": 0}
        reason = found_nothing_reason(Lake(settings.app.lake), "azure", day)
        assert reason is not None and reason.startswith(
            f"found nothing for 2023-09-22 at {looked_at}: expected Azure cost files"
        )
