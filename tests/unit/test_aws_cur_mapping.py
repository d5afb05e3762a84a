"""AWS CUR 2.0 and legacy CUR files read into `cost_lines`: billed and amortized cost of every line item type,
tags, account ids, Bedrock models, AWS cost categories, rejects and totals, on files the tests write.

`cur2_parquet` and `legacy_csv` write the fixtures (also used by the S3 integration tests)."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from assets.config import AllocationConfig
from assets.export.focus import build_charges
from assets.ingest.aws_cur import AWS_CUR, LINE_ITEM_TYPES, legacy_period
from assets.ingest.validate import cast_or_reject
from assets.matching import Params, cost_category_sql
from assets.schemas import COST_LINES
from assets.sql import connect, run_model
from assets.staging import read_files
from tests.unit.test_ingest_readers import rows, stage

DAY = datetime(2025, 1, 15)
PAYER = "011122223333"
RI_ARN = "arn:aws:ec2:us-east-1:011122223333:reserved-instances/0a1b-p4d"
SP_ARN = "arn:aws:savingsplans::011122223333:savingsplan/5e6f"

_STRING = pa.string()
_MAP = pa.map_(pa.string(), pa.string())
CUR2_SCHEMA = pa.schema(
    [
        ("identity_line_item_id", _STRING),
        ("bill_billing_entity", _STRING),
        ("bill_invoice_id", _STRING),
        ("bill_billing_period_start_date", pa.timestamp("us")),
        ("bill_billing_period_end_date", pa.timestamp("us")),
        ("bill_payer_account_id", _STRING),
        ("line_item_usage_account_id", _STRING),
        ("line_item_line_item_type", _STRING),
        ("line_item_usage_start_date", pa.timestamp("us")),
        ("line_item_usage_end_date", pa.timestamp("us")),
        ("line_item_product_code", _STRING),
        ("line_item_usage_type", _STRING),
        ("line_item_operation", _STRING),
        ("line_item_resource_id", _STRING),
        ("line_item_line_item_description", _STRING),
        ("line_item_usage_amount", pa.float64()),
        ("line_item_currency_code", _STRING),
        ("line_item_unblended_cost", pa.float64()),
        ("pricing_public_on_demand_cost", pa.float64()),
        ("pricing_unit", _STRING),
        ("savings_plan_savings_plan_a_r_n", _STRING),
        ("savings_plan_savings_plan_effective_cost", pa.float64()),
        ("savings_plan_total_commitment_to_date", pa.float64()),
        ("savings_plan_used_commitment", pa.float64()),
        ("reservation_reservation_a_r_n", _STRING),
        ("reservation_effective_cost", pa.float64()),
        ("reservation_unused_amortized_upfront_fee_for_billing_period", pa.float64()),
        ("reservation_unused_recurring_fee", pa.float64()),
        ("line_item_iam_principal", _STRING),
        ("resource_tags", _MAP),
        ("product", _MAP),
        ("product_region_code", _STRING),
    ]
)
"""A CUR 2.0 export's columns (a subset) with the types of AWS's Glue table: maps, timestamps, doubles."""


def cur2_row(**columns: Any) -> dict[str, Any]:
    """One CUR 2.0 line: an EC2 usage hour on DAY unless columns say otherwise."""
    start = columns.pop("start", DAY)
    row = {
        "bill_billing_entity": "AWS",
        "bill_billing_period_start_date": datetime(2025, 1, 1),
        "bill_billing_period_end_date": datetime(2025, 2, 1),
        "bill_payer_account_id": PAYER,
        "line_item_usage_account_id": "000123456789",
        "line_item_line_item_type": "Usage",
        "line_item_usage_start_date": start,
        "line_item_usage_end_date": columns.pop("end", start.replace(day=start.day + 1)),
        "line_item_product_code": "AmazonEC2",
        "line_item_usage_type": "USE1-BoxUsage:m5.large",
        "line_item_operation": "RunInstances",
        "line_item_usage_amount": 24.0,
        "line_item_currency_code": "USD",
        "line_item_unblended_cost": 2.304,
        "pricing_public_on_demand_cost": 2.304,
        "pricing_unit": "Hrs",
        "product": [("product_name", "Amazon Elastic Compute Cloud"), ("region", "us-east-1")],
        "product_region_code": "us-east-1",
        "resource_tags": [],
    }
    return row | columns


def cur2_parquet(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    full = [{"identity_line_item_id": f"li-{i}"} | line for i, line in enumerate(lines)]
    pq.write_table(pa.Table.from_pylist(full, schema=CUR2_SCHEMA), path, compression="snappy")
    return path


LEGACY_HEADER = [
    "identity/LineItemId",
    "bill/PayerAccountId",
    "bill/BillingPeriodStartDate",
    "bill/BillingPeriodEndDate",
    "lineItem/UsageAccountId",
    "lineItem/LineItemType",
    "lineItem/UsageStartDate",
    "lineItem/UsageEndDate",
    "lineItem/ProductCode",
    "lineItem/UsageType",
    "lineItem/Operation",
    "lineItem/ResourceId",
    "lineItem/UsageAmount",
    "lineItem/CurrencyCode",
    "lineItem/UnblendedCost",
    "lineItem/LineItemDescription",
    "pricing/publicOnDemandCost",
    "pricing/unit",
    "product/ProductName",
    "product/regionCode",
    "reservation/ReservationARN",
    "reservation/EffectiveCost",
    "savingsPlan/SavingsPlanArn",
    "savingsPlan/SavingsPlanEffectiveCost",
    "resourceTags/aws:createdBy",
    "resourceTags/user:feature",
    "resourceTags/user:team",
]
"""Legacy CUR headers as AWS writes them (koku's sample spells `savingsPlan/SavingsPlanArn`, not `…ARN`)."""


def legacy_line(**columns: str) -> dict[str, str]:
    """One legacy CUR line (all text): an hour of EC2 on DAY, zone-less timestamps as some legacy files write."""
    return {
        "bill/PayerAccountId": PAYER,
        "bill/BillingPeriodStartDate": "2025-01-01T00:00:00Z",
        "bill/BillingPeriodEndDate": "2025-02-01T00:00:00Z",
        "lineItem/UsageAccountId": "000123456789",
        "lineItem/LineItemType": "Usage",
        "lineItem/UsageStartDate": "2025-01-15 10:00:00",
        "lineItem/UsageEndDate": "2025-01-15T11:00:00Z",
        "lineItem/ProductCode": "AmazonEC2",
        "lineItem/UsageType": "USE1-BoxUsage:m5.large",
        "lineItem/Operation": "RunInstances",
        "lineItem/UsageAmount": "1",
        "lineItem/CurrencyCode": "USD",
        "lineItem/UnblendedCost": "0.096",
        "pricing/publicOnDemandCost": "0.096",
        "pricing/unit": "Hrs",
        "product/ProductName": "Amazon Elastic Compute Cloud",
        "product/regionCode": "us-east-1",
    } | columns


def legacy_csv(path: Path, lines: list[dict[str, str]], header: list[str] = LEGACY_HEADER) -> Path:
    """A legacy CUR CSV, gzipped when the name ends in `.gz` (as AWS delivers it)."""
    text = io.StringIO()
    writer = csv.DictWriter(text, header, lineterminator="\n")
    writer.writeheader()
    writer.writerows({"identity/LineItemId": f"li-{i}"} | line for i, line in enumerate(lines))
    data = text.getvalue().encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def by_description(staged: list[dict]) -> dict[str, dict]:
    return {r["ChargeDescription"]: r for r in staged}


# What each line item type costs, billed (unblended) and amortized (effective), in FOCUS terms: description →
# (line item type, extra columns, BilledCost, EffectiveCost, FOCUS values). A line is a day of January 2025 unless
# its extra columns say otherwise (`start`, `end`).
FocusValues = tuple[str, str | None, str, str | None, str | None, str | None, str | None]
"""ChargeCategory, ChargeClass, ChargeFrequency, CommitmentDiscountStatus, CommitmentDiscountCategory,
CommitmentDiscountType, PricingCategory."""

ON_DEMAND: FocusValues = ("Usage", None, "Usage-Based", None, None, None, "Standard")
SP_USED: FocusValues = ("Usage", None, "Usage-Based", "Used", "Spend", "Savings Plan", "Committed")
RI_USED: FocusValues = ("Usage", None, "Usage-Based", "Used", "Usage", "Reserved Instance", "Committed")
DISCOUNT: FocusValues = ("Credit", None, "Usage-Based", None, None, None, None)
MONTH = {"start": datetime(2025, 1, 1), "end": datetime(2025, 2, 1)}

EVERY_TYPE: dict[str, tuple[str, dict[str, Any], str, str, FocusValues]] = {
    "on-demand hour": ("Usage", {"line_item_unblended_cost": 3.6}, "3.6", "3.6", ON_DEMAND),
    "spot hour": (
        "Usage",
        {"line_item_unblended_cost": 1.2, "line_item_usage_type": "USE1-SpotUsage:g5.xlarge"},
        "1.2",
        "1.2",
        ("Usage", None, "Usage-Based", None, None, None, "Dynamic"),
    ),
    "RI-covered hour": (
        "DiscountedUsage",
        {
            "line_item_unblended_cost": 0.0,
            "reservation_effective_cost": 500.25,
            "reservation_reservation_a_r_n": RI_ARN,
        },
        "0",
        "500.25",
        RI_USED,
    ),
    "SP-covered hour": (
        "SavingsPlanCoveredUsage",
        {
            "line_item_unblended_cost": 24.144,
            "savings_plan_savings_plan_effective_cost": 15.0,
            "savings_plan_savings_plan_a_r_n": SP_ARN,
        },
        "24.144",
        "15",
        SP_USED,
    ),
    "SP negation": (
        "SavingsPlanNegation",
        {"line_item_unblended_cost": -24.144, "savings_plan_savings_plan_a_r_n": SP_ARN},
        "-24.144",
        "0",
        SP_USED,
    ),
    "SP recurring fee": (
        "SavingsPlanRecurringFee",
        {
            "line_item_unblended_cost": 20.0,
            "savings_plan_total_commitment_to_date": 20.0,
            "savings_plan_used_commitment": 15.0,
            "savings_plan_savings_plan_a_r_n": SP_ARN,
        },
        "20",
        "5",
        ("Usage", None, "Recurring", "Unused", "Spend", "Savings Plan", "Committed"),
    ),
    "SP upfront fee": (
        "SavingsPlanUpfrontFee",
        {"line_item_unblended_cost": 8760.0, "savings_plan_savings_plan_a_r_n": SP_ARN},
        "8760",
        "0",
        ("Purchase", None, "One-Time", None, "Spend", "Savings Plan", "Standard"),
    ),
    "RI fee": (
        "RIFee",
        {
            "line_item_unblended_cost": 600.0,
            "reservation_unused_amortized_upfront_fee_for_billing_period": 49.75,
            "reservation_unused_recurring_fee": 50.0,
            "reservation_reservation_a_r_n": RI_ARN,
        }
        | MONTH,
        "600",
        "99.75",
        ("Usage", None, "Recurring", "Unused", "Usage", "Reserved Instance", "Committed"),
    ),
    "RI upfront purchase": (
        "Fee",
        {"line_item_unblended_cost": 1200.0, "reservation_reservation_a_r_n": RI_ARN},
        "1200",
        "0",
        ("Purchase", None, "One-Time", None, "Usage", "Reserved Instance", "Standard"),
    ),
    "support plan": (
        "Fee",
        {"line_item_unblended_cost": 29.0} | MONTH,
        "29",
        "29",
        ("Purchase", None, "Recurring", None, None, None, "Standard"),
    ),
    "sales tax": ("Tax", {"line_item_unblended_cost": 5.0} | MONTH, "5", "5", ("Tax", None, "Recurring") + (None,) * 4),
    "tax on a one-off fee": (
        "Tax",
        {"line_item_unblended_cost": 0.5},
        "0.5",
        "0.5",
        ("Tax", None, "One-Time") + (None,) * 4,
    ),
    "promotional credit": ("Credit", {"line_item_unblended_cost": -1.0}, "-1", "-1", DISCOUNT),
    "Refund for one-time fee for Savings Plan ID 5e6f": (
        "Refund",
        {"line_item_unblended_cost": -8760.0, "line_item_product_code": "ComputeSavingsPlans"},
        "-8760",
        "0",
        ("Credit", None, "One-Time") + (None,) * 4,
    ),
    "refund of a December outage": (
        "Refund",
        {"line_item_unblended_cost": -2.5, "start": datetime(2024, 12, 10), "end": datetime(2024, 12, 11)},
        "-2.5",
        "-2.5",
        ("Credit", "Correction", "One-Time") + (None,) * 4,
    ),
    "EDP discount": ("EdpDiscount", {"line_item_unblended_cost": -3.3}, "-3.3", "-3.3", DISCOUNT),
    "private rate": ("PrivateRateDiscount", {"line_item_unblended_cost": -0.7}, "-0.7", "-0.7", DISCOUNT),
    "bundled": ("BundledDiscount", {"line_item_unblended_cost": -0.1}, "-0.1", "-0.1", DISCOUNT),
    "distributor": ("DistributorDiscount", {"line_item_unblended_cost": -0.2}, "-0.2", "-0.2", DISCOUNT),
    "SPP": ("SppDiscount", {"line_item_unblended_cost": -0.3}, "-0.3", "-0.3", DISCOUNT),
    "discount": ("Discount", {"line_item_unblended_cost": -0.4}, "-0.4", "-0.4", DISCOUNT),
    "RI volume": ("RiVolumeDiscount", {"line_item_unblended_cost": -0.5}, "-0.5", "-0.5", DISCOUNT),
    "flat rate plan": (
        "FlatRateSubscription",
        {"line_item_unblended_cost": 15.0} | MONTH,
        "15",
        "15",
        ("Purchase", None, "Recurring", None, None, None, "Standard"),
    ),
}
FOCUS_COLUMNS = (
    "ChargeCategory",
    "ChargeClass",
    "ChargeFrequency",
    "CommitmentDiscountStatus",
    "CommitmentDiscountCategory",
    "CommitmentDiscountType",
    "PricingCategory",
)


def every_type_file(tmp_path: Path) -> Path:
    lines = [
        cur2_row(line_item_line_item_type=t, line_item_line_item_description=d, **extra)
        for d, (t, extra, *_) in EVERY_TYPE.items()
    ]
    return cur2_parquet(tmp_path / "cur-00001.snappy.parquet", lines)


def test_every_line_item_type_gets_billed_and_amortized_cost_by_the_standard_formula(tmp_path: Path) -> None:
    assert {spec[0] for spec in EVERY_TYPE.values()} == set(LINE_ITEM_TYPES)
    staged, rejected = stage(AWS_CUR, [every_type_file(tmp_path)])
    assert rejected == []
    got = {
        d: (r["BilledCost"], r["EffectiveCost"], tuple(r[c] for c in FOCUS_COLUMNS))
        for d, r in by_description(staged).items()
    }
    assert got == {
        d: (Decimal(billed), Decimal(effective), focus) for d, (_, _, billed, effective, focus) in EVERY_TYPE.items()
    }
    commitments = by_description(staged)
    assert commitments["SP negation"]["CommitmentDiscountId"] == SP_ARN
    assert commitments["RI fee"]["CommitmentDiscountId"] == RI_ARN
    assert commitments["on-demand hour"]["ConsumedQuantity"] == Decimal(24)
    assert commitments["RI fee"]["ConsumedQuantity"] is None


def test_the_focus_export_takes_every_line_item_type_as_staged(tmp_path: Path) -> None:
    """Each line whole on one piece: the export derives nothing and leaves nothing out; the piece carries the
    line's costs and FOCUS values."""
    con = connect()
    AWS_CUR.read(con, [every_type_file(tmp_path)], "raw", {})
    staged, _ = cast_or_reject(con, "raw", COST_LINES, out_prefix="t", date_expr="null::date", checks=AWS_CUR.checks)
    con.execute(
        f"create table cost_lines_day as select *, 'aws' as x_Source, _file as x_SourceFile, _row as x_SourceRow, "
        f"'line-' || _row as x_LineId, 'even' as x_SpreadMethod from {staged}"
    )
    con.execute(
        "create table allocated_lines_day as select x_LineId as line_id, 'unallocated' as allocation_rule, "
        "'unallocated' as allocation_method, null::varchar as team, null::varchar as feature, null::varchar as "
        "customer, null::varchar as agent, null::varchar as workflow, 'aws' as provider, null::varchar as model, "
        "false as is_retry, EffectiveCost as amount, EffectiveCost as line_amount, 1.0::double as ratio, '1' as "
        "weight, '1' as total_weight, null::bigint as driver_input_tokens, null::bigint as driver_output_tokens, "
        "null::bigint as driver_requests, 'no rule' as unallocated_reason from cost_lines_day"
    )
    con.execute(
        "create table focus_drivers (rule_name varchar, usage_unit varchar, unit_scale decimal(38, 10), driver varchar)"
    )
    assert build_charges(con, DAY.date(), "EffectiveCost") == []
    run_model(con, "export/focus_pieces")
    exported = rows(
        con, f"select ChargeDescription, BilledCost, EffectiveCost, {', '.join(FOCUS_COLUMNS)} from focus_pieces"
    )
    assert {
        r["ChargeDescription"]: (r["BilledCost"], r["EffectiveCost"], tuple(r[c] for c in FOCUS_COLUMNS))
        for r in exported
    } == {d: (Decimal(billed), Decimal(effective), focus) for d, (_, _, billed, effective, focus) in EVERY_TYPE.items()}


def test_no_upfront_commitments_amortize_to_what_was_billed_apart_from_tax_and_credits(tmp_path: Path) -> None:
    """A month of no-upfront Savings Plan and RI lines: the amortized total moves cost between lines (covered usage
    at its commitment rate, the unused commitment on the fee lines) but equals what was billed."""
    no_upfront = [t for t in EVERY_TYPE.values() if t[0] not in {"SavingsPlanUpfrontFee", "Fee", "Refund"}]
    lines = [
        cur2_row(line_item_line_item_type=t, line_item_line_item_description=t, **extra) for t, extra, *_ in no_upfront
    ]
    staged, rejected = stage(AWS_CUR, [cur2_parquet(tmp_path / "cur.parquet", lines)])
    assert rejected == []
    kept = [r for r in staged if r["ChargeCategory"] not in ("Tax", "Credit")]
    assert sum(r["BilledCost"] for r in kept) == sum(r["EffectiveCost"] for r in kept) == Decimal("639.8")


def test_tags_come_from_the_map_and_from_legacy_columns_without_the_user_prefix(tmp_path: Path) -> None:
    cur2 = cur2_parquet(
        tmp_path / "cur2.parquet",
        [
            cur2_row(resource_tags=[("user_team", "ml"), ("user_cost-center", "42"), ("aws_createdBy", "Root")]),
            cur2_row(resource_tags=[]),
        ],
    )
    legacy = legacy_csv(
        tmp_path / "legacy.csv.gz",
        [
            legacy_line(**{"resourceTags/user:team": "search", "resourceTags/aws:createdBy": "IAMUser:alice"}),
            legacy_line(),
        ],
    )
    staged, rejected = stage(AWS_CUR, [cur2, legacy])
    assert rejected == []
    assert [r["Tags"] for r in staged] == [
        {"team": "ml", "cost-center": "42", "aws_createdBy": "Root"},
        {},
        {"team": "search", "aws:createdBy": "IAMUser:alice"},
        {},
    ]


def test_account_ids_stay_twelve_digit_strings(tmp_path: Path) -> None:
    """Leading zeros survive in CSV and Parquet, and in a Parquet re-encoded with numeric ids (DuckDB's CSV
    sniffing makes them BIGINT)."""
    legacy = legacy_csv(tmp_path / "legacy.csv", [legacy_line(**{"bill/PayerAccountId": "000011112222"})])
    numeric = tmp_path / "numeric.parquet"
    with connect() as con:
        con.execute(
            f"copy (select 11112222::bigint as bill_payer_account_id, 123456789::bigint as line_item_usage_account_id, "
            "'Usage' as line_item_line_item_type, 1.5 as line_item_unblended_cost, "
            "timestamp '2025-01-15' as line_item_usage_start_date, timestamp '2025-01-16' as line_item_usage_end_date) "
            f"to '{numeric}' (format parquet)"
        )
    staged, rejected = stage(AWS_CUR, [legacy, numeric])
    assert rejected == []
    assert [(r["BillingAccountId"], r["SubAccountId"]) for r in staged] == [
        ("000011112222", "000123456789"),
        ("000011112222", "000123456789"),
    ]


BEDROCK_USAGE_TYPES = {
    "USE1-Claude4.6Sonnet-input-tokens": "Claude4.6Sonnet",
    "USE1-Claude4.6Sonnet-output-tokens": "Claude4.6Sonnet",
    "USE1-Claude4.6Sonnet-cache-read-input-token-count": "Claude4.6Sonnet",
    "USE1-Claude4.6Sonnet-cache-write-input-token-count": "Claude4.6Sonnet",
    "USW2-TitanEmbeddingsV2-Text-input-tokens": "TitanEmbeddingsV2-Text",
    "EUC1-NovaPro-batch-output-tokens": "NovaPro",
    "USE1-BoxUsage:p5.48xlarge": None,
    "USE1-USW2-AWS-Out-Bytes": None,
}


def test_bedrock_models_are_parsed_from_token_usage_types_and_renamed_by_option(tmp_path: Path) -> None:
    lines = [
        cur2_row(line_item_product_code="AmazonBedrock", line_item_usage_type=u, line_item_line_item_description=u)
        for u in BEDROCK_USAGE_TYPES
    ]
    path = cur2_parquet(tmp_path / "bedrock.parquet", lines)
    staged, _ = stage(AWS_CUR, [path])
    assert {d: r["x_Model"] for d, r in by_description(staged).items()} == BEDROCK_USAGE_TYPES
    assert {r["x_Provider"] for r in staged} == {"aws"}
    renamed, _ = stage(AWS_CUR, [path], {"models": {"Claude4.6Sonnet": "anthropic.claude-sonnet-4-6"}})
    assert by_description(renamed)["USE1-Claude4.6Sonnet-input-tokens"]["x_Model"] == "anthropic.claude-sonnet-4-6"
    assert by_description(renamed)["EUC1-NovaPro-batch-output-tokens"]["x_Model"] == "NovaPro"


def test_legacy_cur_maps_like_cur2_whatever_the_header_spelling(tmp_path: Path) -> None:
    path = legacy_csv(
        tmp_path / "legacy-00001.csv.gz",
        [
            legacy_line(
                **{
                    "lineItem/LineItemType": "SavingsPlanCoveredUsage",
                    "lineItem/UsageType": "USE1-Host:ml.g5.xlarge",
                    "lineItem/ResourceId": "arn:aws:sagemaker:us-east-1:011122223333:endpoint/rag",
                    "lineItem/UnblendedCost": "1.408",
                    "lineItem/LineItemDescription": "SageMaker endpoint hour",
                    "savingsPlan/SavingsPlanArn": SP_ARN,
                    "savingsPlan/SavingsPlanEffectiveCost": "0.0000000001234",
                }
            )
        ],
    )
    (line,), rejected = stage(AWS_CUR, [path])
    assert rejected == []
    assert (line["BilledCost"], line["EffectiveCost"]) == (Decimal("1.408"), Decimal("0.0000000001"))
    assert (line["ChargePeriodStart"], line["ChargePeriodEnd"]) == (
        datetime(2025, 1, 15, 10, tzinfo=UTC),
        datetime(2025, 1, 15, 11, tzinfo=UTC),
    )
    assert (line["CommitmentDiscountId"], line["CommitmentDiscountStatus"]) == (SP_ARN, "Used")
    assert (line["ServiceName"], line["RegionId"], line["SkuId"], line["SkuMeter"]) == (
        "Amazon Elastic Compute Cloud",
        "us-east-1",
        "USE1-Host:ml.g5.xlarge",
        "RunInstances",
    )
    assert (line["BillingCurrency"], line["ServiceProviderName"], line["x_Provider"]) == ("USD", "AWS", "aws")


def test_a_cur2_csv_export_reads_its_map_columns_from_json_text(tmp_path: Path) -> None:
    header = (
        "bill_payer_account_id,line_item_usage_account_id,line_item_line_item_type,line_item_usage_start_date,"
        "line_item_usage_end_date,line_item_usage_type,line_item_unblended_cost,line_item_iam_principal,"
        "resource_tags,product\n"
    )
    bedrock = (
        "011122223333,000123456789,Usage,2025-01-15T00:00:00Z,2025-01-16T00:00:00Z,USE1-NovaPro-input-tokens,0.8,"
        'arn:aws:iam::011122223333:role/support-bot,"{""user_team"": ""support""}",'
        '"{""product_name"": ""Amazon Bedrock"", ""region"": ""us-east-1""}"\n'
    )
    untagged = bedrock.replace('"{""user_team"": ""support""}"', "")
    broken = bedrock.replace('"{""user_team"": ""support""}"', "team=support")
    path = tmp_path / "cur2-00001.csv.gz"
    path.write_bytes(gzip.compress((header + bedrock + untagged + broken).encode()))
    staged, rejected = stage(AWS_CUR, [path])
    assert [(r["Tags"], r["ServiceName"], r["RegionId"], r["x_Model"], r["x_ApiKeyId"]) for r in staged] == [
        ({"team": "support"}, "Amazon Bedrock", "us-east-1", "NovaPro", "arn:aws:iam::011122223333:role/support-bot"),
        (None, "Amazon Bedrock", "us-east-1", "NovaPro", "arn:aws:iam::011122223333:role/support-bot"),
    ]
    assert [(r["row"], r["column"], r["reason"]) for r in rejected] == [
        (3, "Tags", "not a valid map(varchar, varchar)")
    ]


def test_broken_lines_are_quarantined_with_the_column_and_reason_and_none_is_lost(tmp_path: Path) -> None:
    """The legacy file lacks the RI unused-fee columns, so its RIFee line cannot be amortized."""
    path = legacy_csv(
        tmp_path / "broken.csv",
        [
            legacy_line(),
            legacy_line(**{"lineItem/LineItemType": "Bogus"}),
            legacy_line(**{"lineItem/UnblendedCost": "1,5"}),
            legacy_line(
                **{"lineItem/LineItemType": "SavingsPlanCoveredUsage", "savingsPlan/SavingsPlanEffectiveCost": "n/a"}
            ),
            legacy_line(**{"lineItem/LineItemType": "RIFee", "reservation/ReservationARN": RI_ARN}),
            legacy_line(**{"lineItem/UsageEndDate": "2025-01-15T10:00:00Z"}),
            legacy_line(**{"lineItem/UsageStartDate": "yesterday"}),
            legacy_line(**{"lineItem/UsageStartDate": ""}),
        ],
    )
    staged, rejected = stage(AWS_CUR, [path])
    assert [r["_row"] for r in staged] == [1]
    assert [(r["row"], r["column"], r["reason"]) for r in rejected] == [
        (2, "line_item_line_item_type", "line_item_line_item_type: not a known line item type: Bogus"),
        (3, "BilledCost", "not a valid decimal(38,10)"),
        (4, "EffectiveCost", "not a valid decimal(38,10)"),
        (
            5,
            "reservation_unused_amortized_upfront_fee_for_billing_period",
            "reservation_unused_amortized_upfront_fee_for_billing_period missing from file: "
            "needed for the amortized cost of RIFee lines",
        ),
        (6, "ChargePeriodEnd", "charge period does not end after it starts"),
        (7, "ChargePeriodStart", "not a valid timestamptz"),
        (8, "ChargePeriodStart", "required value missing"),
    ]


def test_staged_totals_equal_the_files_own_totals(tmp_path: Path) -> None:
    """Totals taken from the files themselves (Parquet doubles and CSV text, parsed as decimals) equal the totals of
    the staged lines, and every line is staged."""
    cur2 = cur2_parquet(
        tmp_path / "cur2.parquet",
        [cur2_row(line_item_unblended_cost=c, pricing_public_on_demand_cost=c) for c in (0.1, 0.2, 1234.5678, -7.25)],
    )
    legacy = legacy_csv(
        tmp_path / "legacy.csv.gz",
        [legacy_line(**{"lineItem/UnblendedCost": c, "pricing/publicOnDemandCost": c}) for c in ("1e-3", "2.5", "-1")],
    )
    table = pq.read_table(cur2)
    with gzip.open(legacy, "rt") as handle:
        legacy_rows = list(csv.DictReader(handle))
    file_totals = {
        column: sum(Decimal(str(x)) for x in table.column(cur2_name).to_pylist())
        + sum(Decimal(r[legacy_name]) for r in legacy_rows)
        for column, cur2_name, legacy_name in (
            ("BilledCost", "line_item_unblended_cost", "lineItem/UnblendedCost"),
            ("ListCost", "pricing_public_on_demand_cost", "pricing/publicOnDemandCost"),
        )
    }
    staged, rejected = stage(AWS_CUR, [cur2, legacy])
    assert (len(staged), rejected) == (table.num_rows + len(legacy_rows), [])
    assert (
        {c: sum(r[c] for r in staged) for c in file_totals}
        == file_totals
        == {
            "BilledCost": Decimal("1229.1188"),
            "ListCost": Decimal("1229.1188"),
        }
    )


def test_a_file_that_is_not_a_cost_and_usage_report_is_refused(tmp_path: Path) -> None:
    focus = tmp_path / "focus.csv"
    focus.write_text("BilledCost,ChargePeriodStart\n1,2025-01-15\n")
    with pytest.raises(ValueError, match=r"focus\.csv: not a Cost and Usage Report"):
        stage(AWS_CUR, [focus])


def test_a_file_without_a_line_item_type_is_quarantined_whole_and_the_other_files_are_staged(tmp_path: Path) -> None:
    """Found by tests/property/test_parsers_fuzz.py: a CUR file whose header lost its line item type column raised
    out of staging and stopped the whole day."""
    good = legacy_csv(tmp_path / "good.csv.gz", [legacy_line()])
    untyped = {k: v for k, v in legacy_line().items() if k != "lineItem/LineItemType"}
    bad = legacy_csv(tmp_path / "bad.csv.gz", [untyped], [h for h in LEGACY_HEADER if h != "lineItem/LineItemType"])
    con = connect()
    read_files(con, AWS_CUR, [bad, good], {})
    assert rows(con, "select * from unreadable") == [
        {"source_file": "bad.csv.gz", "reason": f"unreadable file: {bad}: not a Cost and Usage Report (no "
         "line_item_line_item_type or lineItem/LineItemType)"}
    ]  # fmt: skip
    assert rows(con, "select _file, _row from src_typed") == [{"_file": str(good), "_row": 1}]
    assert rows(con, "select _file from files_read") == [{"_file": str(good)}]


def test_the_aws_manifest_landed_beside_the_data_is_not_read_as_rows(tmp_path: Path) -> None:
    manifest = tmp_path / "ai-costs-Manifest.json"
    manifest.write_text('{"dataFiles": []}')
    staged, rejected = stage(AWS_CUR, [manifest, cur2_parquet(tmp_path / "cur.parquet", [cur2_row()])])
    assert (len(staged), rejected) == (1, [])


def test_legacy_period_folder_is_the_calendar_month() -> None:
    assert legacy_period(datetime(2025, 1, 15).date()) == "20250101-20250201"
    assert legacy_period(datetime(2024, 12, 31).date()) == "20241201-20250101"


AWS_COST_CATEGORIES = r"""
cost_categories:
  # AWS bills (kind aws_cur): SkuId is the usage type, e.g. USE1-BoxUsage:p5.48xlarge, USE1-Host:ml.g5.xlarge.
  # An accelerated instance type (p*, g*, gr*, trn*, inf*, dl*, also as SageMaker ml.*) after a colon is a GPU,
  # whatever the prefix: BoxUsage, SpotUsage, DedicatedUsage, HeavyUsage (RI), Reservation (ODCR), Capacity
  # Blocks, SageMaker Host/Train/AsyncInf/Notebk/Processing.
  - category: gpu_idle          # reserved GPU capacity no instance ran in (ODCR / Capacity Block UnusedBox hours)
    match: {x_Provider: aws, SkuId: {regex: '(^|-)Unused(Box|Ded):(ml\.)?(p|g|gr|trn|inf|dl)[0-9]'}}
  - category: gpu_idle          # the unused part of a GPU reserved instance (RIFee: amortized = unused fees)
    match: {x_Provider: aws, CommitmentDiscountStatus: Unused, SkuId: {regex: ':(ml\.)?(p|g|gr|trn|inf|dl)[0-9]'}}
  - category: gpu
    match: {x_Provider: aws, SkuId: {regex: ':(ml\.)?(p|g|gr|trn|inf|dl)[0-9][a-z0-9-]*\.'}}
  - category: embeddings        # Bedrock embedding models (Titan Embeddings, Cohere Embed)
    match: {x_Provider: aws, SkuId: {regex: '(?i)embed.*-input-token'}}
  - category: inference         # Bedrock token lines: *-input-tokens, *-output-tokens, *-cache-*-input-token-count
    match: {x_Provider: aws, SkuId: {regex: '-(input|output)-token'}}
  - category: inference         # other Bedrock lines, and third-party models sold through AWS Marketplace
    match: {x_Provider: aws, ServiceName: {like: ['Amazon Bedrock%', '%(Amazon Bedrock Edition)%']}}
  - category: vector_db         # OpenSearch Serverless compute (the default Bedrock Knowledge Base store), Pinecone
    match: {x_Provider: aws, SkuId: {regex: '-(Search|Indexing)OCU'}}
  - category: vector_db
    match: {x_Provider: aws, ServiceName: {like: '%Pinecone%'}}
  - category: data_transfer     # internet, inter-region, cross-AZ; NAT, VPC endpoint and transit gateway bytes
    match:
      x_Provider: aws
      SkuId: {regex: 'DataTransfer|-(In|Out)-Bytes|(NatGateway|VpcEndpoint|TransitGateway)-Bytes'}
"""
"""The cost-category rules proposed for `config/allocation.yaml` (before the rules that are there)."""

CATEGORY_CASES = [
    # (line item type, usage type, product name, cost category)
    ("Usage", "USE2-BoxUsage:p5.48xlarge", None, "gpu"),
    ("SavingsPlanCoveredUsage", "BoxUsage:g5.xlarge", None, "gpu"),
    ("SavingsPlanNegation", "BoxUsage:g5.xlarge", None, "gpu"),
    ("DiscountedUsage", "BoxUsage:p4d.24xlarge", None, "gpu"),
    ("RIFee", "HeavyUsage:p4d.24xlarge", None, "gpu_idle"),
    ("Usage", "USE1-Reservation:p5.48xlarge", None, "gpu"),
    ("Usage", "USE1-UnusedBox:p5.48xlarge", None, "gpu_idle"),
    ("Usage", "USE1-Host:ml.g5.xlarge", "Amazon SageMaker", "gpu"),
    ("Usage", "USE1-Train:ml.p4d.24xlarge", "Amazon SageMaker", "gpu"),
    ("Usage", "USE1-Notebk:ml.t3.medium", "Amazon SageMaker", "other"),
    ("Usage", "USE1-BoxUsage:m5.large", None, "other"),
    ("RIFee", "HeavyUsage:m5.large", None, "other"),
    ("Usage", "USE1-Claude4.6Sonnet-input-tokens", "Amazon Bedrock", "inference"),
    ("Usage", "USE1-Claude4.6Sonnet-cache-read-input-token-count", "Amazon Bedrock", "inference"),
    ("Usage", "USW2-TitanEmbeddingsV2-Text-input-tokens", "Amazon Bedrock", "embeddings"),
    ("Usage", "USE1-ProvisionedThroughput", "Amazon Bedrock", "inference"),
    ("Usage", "USE1-MP:USE1_InputTokens-Units", "Jamba 1.5 Large (Amazon Bedrock Edition)", "inference"),
    ("Usage", "USE1-SearchOCU", "Amazon OpenSearch Service", "vector_db"),
    ("Usage", "USE1-USW2-AWS-Out-Bytes", None, "data_transfer"),
    ("Usage", "USE1-DataTransfer-Out-Bytes", None, "data_transfer"),
    ("Usage", "USE1-DataTransfer-xAZ-In-Bytes", None, "data_transfer"),
    ("Usage", "USE1-NatGateway-Bytes", None, "data_transfer"),
    ("Usage", "USE1-TimedStorage-ByteHrs", "Amazon Simple Storage Service", "other"),
    ("SavingsPlanRecurringFee", "ComputeSP:1yrNoUpfront", None, "other"),
]


def categorized(con, staged_view: str, categories: Mapping[str, Any]) -> list[dict]:
    config = AllocationConfig.model_validate({**categories, "rules": []})
    params = Params()
    category = cost_category_sql(config.cost_categories, params)
    cursor = con.execute(f"select l.SkuId, {category} as category from {staged_view} l order by _row", params.values)
    return [dict(zip(("SkuId", "category"), r, strict=True)) for r in cursor.fetchall()]


def test_proposed_cost_category_rules_sort_gpu_idle_gpu_bedrock_and_data_transfer_lines(tmp_path: Path) -> None:
    lines = [
        cur2_row(
            line_item_line_item_type=t,
            line_item_usage_type=u,
            product=[("product_name", p or "Amazon Elastic Compute Cloud")],
        )
        for t, u, p, _ in CATEGORY_CASES
    ]
    con = connect()
    AWS_CUR.read(con, [cur2_parquet(tmp_path / "cur.parquet", lines)], "raw", {})
    staged, rejected = cast_or_reject(con, "raw", COST_LINES, out_prefix="t", date_expr="null::date")
    assert rows(con, f"select * from {rejected}") == []
    assert categorized(con, staged, yaml.safe_load(AWS_COST_CATEGORIES)) == [
        {"SkuId": u, "category": c} for _, u, _, c in CATEGORY_CASES
    ]
