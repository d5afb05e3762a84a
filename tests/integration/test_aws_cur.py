"""AWS CUR exports fetched from S3 (moto's server over HTTP on 127.0.0.1) or a local folder with the bucket's layout:
only the files the billing period's newest manifest lists are landed, a re-delivery replaces the period, and a
config pointing at such an export runs through staging, allocation and marts and reconciles to the cent."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

import assets.ingest
from assets.allocation.engine import allocate
from assets.config import Source, load_settings
from assets.ingest.aws_cur import AWS_CUR, fetch_cur
from assets.lake import Lake
from assets.marts.facts import build_marts
from assets.pricing import price_day
from assets.raw import land_day
from assets.sql import connect
from assets.staging import stage_day
from tests.unit.test_aws_cur_mapping import cur2_parquet, cur2_row, legacy_csv, legacy_line
from tests.unit.test_staging import staged

REPO = Path(__file__).resolve().parents[2]
DAY = date(2025, 1, 15)
BUCKET = "billing"
ACCESS_KEY, SECRET_KEY = "AKIAAPPORTIONTEST", "apportion-secret-never-shown"
CUR2_ROOT, LEGACY_ROOT = "cur/ai-costs", "legacy/ai-cur"


@dataclass
class S3:
    endpoint: str
    client: Any

    def put(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=BUCKET, Key=key, Body=body)

    def put_file(self, key: str, path: Path) -> None:
        self.put(key, path.read_bytes())

    def source(self, path: str) -> Source:
        return Source(
            name="aws", kind="aws_cur", path=path, options={"region": "us-east-1", "endpoint_url": self.endpoint}
        )


@pytest.fixture(scope="module")
def s3() -> Iterator[S3]:
    """moto's S3 over HTTP on 127.0.0.1; boto3 finds the test keys in the environment, as in production."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        env.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")
        env.delenv("AWS_PROFILE", raising=False)
        client = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        try:
            yield S3(f"http://{host}:{port}", client)
        finally:
            server.stop()


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kind is registered here until `assets/ingest/__init__.py` lists it."""
    monkeypatch.setitem(assets.ingest.SOURCE_KINDS, "aws_cur", AWS_CUR)


def cur2_delivery(s3: S3, tmp: Path, execution: str, files: dict[str, list[dict]]) -> list[str]:
    """Upload a CUR 2.0 delivery (create-new-file layout: one folder per execution), data files first and the
    manifest last, as AWS does; returns the data keys."""
    period = f"BILLING_PERIOD={DAY:%Y-%m}"
    keys = []
    for name, lines in files.items():
        key = f"{CUR2_ROOT}/data/{period}/{execution}/{name}"
        s3.put_file(key, cur2_parquet(tmp / execution / name, lines))
        keys.append(key)
    manifest = {
        "executionId": execution,
        "exportArn": "arn:aws:bcm-data-exports:us-east-1:011122223333:export/ai-costs",
        "billingPeriod": {"start": "2025-01-01T00:00:00.000Z", "end": "2025-02-01T00:00:00.000Z"},
        "dataFiles": [f"s3://{BUCKET}/{k}" for k in keys],
    }
    s3.put(f"{CUR2_ROOT}/metadata/{period}/{execution}/ai-costs-Manifest.json", json.dumps(manifest).encode())
    return keys


def settings_for(root: Path, source_yaml: str, allocation: Path | None = None):
    (root / "allocation.yaml").write_text("rules: []\n")
    (root / "apportion.yaml").write_text(
        f"allocation: {allocation or 'allocation.yaml'}\nprices: null\nlake: lake\nsources:\n  - {source_yaml}\n"
    )
    return load_settings(root / "apportion.yaml")


def s3_source_yaml(s3: S3, root: str) -> str:
    return (
        f"{{name: aws, kind: aws_cur, path: 's3://{BUCKET}/{root}', "
        f"options: {{region: us-east-1, endpoint_url: '{s3.endpoint}'}}}}"
    )


def raw_manifest(settings) -> list[dict]:
    """The day's raw manifest of the source, by origin."""
    with connect() as con:
        cursor = con.execute(
            "select * from read_parquet($f) order by source_path",
            {"f": str(Lake(settings.app.lake).manifest_file("aws", DAY))},
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def test_a_redelivered_cur2_period_replaces_the_first_delivery_and_stray_files_are_never_read(s3, tmp_path):
    cur2_delivery(
        s3,
        tmp_path,
        "20250116T020000Z-b",
        {
            "ai-costs-00001.snappy.parquet": [cur2_row(line_item_unblended_cost=10.0)],
            "ai-costs-00002.snappy.parquet": [cur2_row(line_item_unblended_cost=20.0)],
        },
    )
    stray = f"{CUR2_ROOT}/data/BILLING_PERIOD=2025-01/ai-costs-00001.snappy.parquet"
    s3.put_file(stray, cur2_parquet(tmp_path / "stray.parquet", [cur2_row(line_item_unblended_cost=999.0)]))
    s3.put(f"{CUR2_ROOT}/aws-programmatic-access-test-object", b"")
    settings = settings_for(tmp_path, s3_source_yaml(s3, CUR2_ROOT))

    assert land_day(settings, DAY) == {"aws": 3}
    stage_day(settings, DAY)
    assert sorted(line["BilledCost"] for line in staged(settings, "cost_lines", DAY)) == [Decimal(10), Decimal(20)]

    time.sleep(1.1)  # S3 times have whole seconds: the re-delivery must be visibly newer
    # the newer delivery's folder sorts first: the manifest's time, not its name, says which is current
    (second,) = cur2_delivery(
        s3,
        tmp_path,
        "20250116T010000Z-a",
        {
            "ai-costs-00001.snappy.parquet": [
                cur2_row(line_item_unblended_cost=25.0),
                cur2_row(line_item_unblended_cost=-1.0),
            ]
        },
    )
    assert land_day(settings, DAY) == {"aws": 2}
    stage_day(settings, DAY)
    assert sorted(line["BilledCost"] for line in staged(settings, "cost_lines", DAY)) == [Decimal(-1), Decimal(25)]

    manifest = f"{CUR2_ROOT}/metadata/BILLING_PERIOD=2025-01/20250116T010000Z-a/ai-costs-Manifest.json"
    assert [(m["source_path"], m["modified_at"]) for m in raw_manifest(settings)] == [
        (f"s3://{BUCKET}/{k}", s3.client.head_object(Bucket=BUCKET, Key=k)["LastModified"]) for k in (second, manifest)
    ]


def test_legacy_cur_lands_only_the_period_manifests_report_keys(s3, tmp_path):
    period = f"{LEGACY_ROOT}/20250101-20250201"
    old = f"{period}/asm-1/ai-cur-00001.csv.gz"
    new = f"{period}/asm-2/ai-cur-00001.csv.gz"
    s3.put_file(old, legacy_csv(tmp_path / "old.csv.gz", [legacy_line(**{"lineItem/UnblendedCost": "7"})]))
    s3.put_file(
        new,
        legacy_csv(
            tmp_path / "new.csv.gz",
            [legacy_line(**{"lineItem/UnblendedCost": "8.25", "resourceTags/user:team": "search"})],
        ),
    )
    s3.put(f"{period}/asm-1/ai-cur-Manifest.json", json.dumps({"reportKeys": [old]}).encode())
    s3.put(f"{period}/ai-cur-Manifest.json", json.dumps({"assemblyId": "asm-2", "reportKeys": [new]}).encode())

    settings = settings_for(tmp_path, s3_source_yaml(s3, LEGACY_ROOT))
    land_day(settings, DAY)
    stage_day(settings, DAY)
    assert [m["source_path"] for m in raw_manifest(settings)] == [
        f"s3://{BUCKET}/{period}/ai-cur-Manifest.json",
        f"s3://{BUCKET}/{new}",
    ]
    (line,) = staged(settings, "cost_lines", DAY)
    assert (line["BilledCost"], line["Tags"], line["SubAccountId"]) == (
        Decimal("8.25"),
        {"team": "search"},
        "000123456789",
    )


def test_a_period_not_delivered_yet_offers_no_files(s3, tmp_path):
    assert fetch_cur(s3.source(f"s3://{BUCKET}/{CUR2_ROOT}"), date(2025, 3, 1), tmp_path) == []


def test_errors_name_the_object_but_never_the_credentials(s3, tmp_path):
    with pytest.raises(RuntimeError) as error:
        fetch_cur(s3.source("s3://no-such-bucket/cur/ai-costs"), DAY, tmp_path)
    message = str(error.value)
    assert "s3://no-such-bucket/cur/ai-costs/metadata/BILLING_PERIOD=2025-01/" in message
    assert "NoSuchBucket" in message
    assert SECRET_KEY not in message and ACCESS_KEY not in message


def local_export(root: Path) -> Path:
    """A CUR 2.0 export copied to a local folder (`aws s3 sync` keeps the layout and the object times)."""
    export = root / "cur" / "ai-costs"
    data = export / "data" / "BILLING_PERIOD=2025-01" / "ai-costs-00001.snappy.parquet"
    cur2_parquet(data, [cur2_row(line_item_unblended_cost=4.5)])
    cur2_parquet(export / "data" / "BILLING_PERIOD=2025-01" / "ai-costs-00009.snappy.parquet", [cur2_row()])
    manifest = export / "metadata" / "BILLING_PERIOD=2025-01" / "ai-costs-Manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(
        json.dumps({"dataFiles": [f"s3://{BUCKET}/cur/ai-costs/data/BILLING_PERIOD=2025-01/{data.name}"]})
    )
    os.utime(data, (1736906400, 1736906400))  # 2025-01-15T02:00:00Z
    os.utime(manifest, (1736906460, 1736906460))
    return export


def test_a_local_folder_with_the_bucket_layout_is_read_through_its_manifest(tmp_path):
    export = local_export(tmp_path)
    settings = settings_for(tmp_path, f"{{name: aws, kind: aws_cur, path: '{export}'}}")
    assert land_day(settings, DAY) == {"aws": 2}
    stage_day(settings, DAY)
    assert [line["BilledCost"] for line in staged(settings, "cost_lines", DAY)] == [Decimal("4.5")]
    assert [m["modified_at"] for m in raw_manifest(settings)] == [
        datetime(2025, 1, 15, 2, tzinfo=UTC),
        datetime(2025, 1, 15, 2, 1, tzinfo=UTC),
    ]


def test_a_file_rewritten_after_its_manifest_means_a_delivery_in_progress_and_fails_the_fetch(tmp_path):
    export = local_export(tmp_path)
    data = export / "data" / "BILLING_PERIOD=2025-01" / "ai-costs-00001.snappy.parquet"
    os.utime(data, (1736906520, 1736906520))  # overwritten a minute after the manifest
    source = Source(name="aws", kind="aws_cur", path=str(export))
    with pytest.raises(RuntimeError, match=r"ai-costs-00001\.snappy\.parquet changed after .*re-delivering"):
        fetch_cur(source, DAY, tmp_path / "work")


def test_a_manifest_listing_a_file_outside_the_export_is_refused(tmp_path):
    export = local_export(tmp_path)
    manifest = export / "metadata" / "BILLING_PERIOD=2025-01" / "ai-costs-Manifest.json"
    manifest.write_text(json.dumps({"dataFiles": ["s3://billing/cur/ai-costs/data/../../../etc/passwd"]}))
    with pytest.raises(ValueError, match="not under ai-costs/data/"):
        fetch_cur(Source(name="aws", kind="aws_cur", path=str(export)), DAY, tmp_path / "work")


def test_a_bill_shaped_like_the_samples_runs_through_allocation_and_marts_and_reconciles(s3, tmp_path):
    """The synthetic sample's month (GPU on demand, under a Savings Plan and an RI, Bedrock tokens, data transfer,
    tax, credit) plus a monthly RI fee spread over the month's days, with the repository's allocation rules."""
    root = "pipeline/ai-costs"
    lines = [
        cur2_row(
            line_item_usage_type="USE2-BoxUsage:p5.48xlarge",
            line_item_unblended_cost=982.8,
            resource_tags=[("user_team", "ml"), ("user_feature", "rag")],
        ),
        cur2_row(
            line_item_line_item_type="SavingsPlanCoveredUsage",
            line_item_usage_type="BoxUsage:g5.xlarge",
            line_item_unblended_cost=24.144,
            savings_plan_savings_plan_effective_cost=15.0,
            resource_tags=[("user_team", "search")],
        ),
        cur2_row(
            line_item_line_item_type="SavingsPlanNegation",
            line_item_usage_type="BoxUsage:g5.xlarge",
            line_item_unblended_cost=-24.144,
        ),
        cur2_row(
            line_item_line_item_type="SavingsPlanRecurringFee",
            line_item_usage_type="ComputeSP:1yrNoUpfront",
            line_item_unblended_cost=20.0,
            savings_plan_total_commitment_to_date=20.0,
            savings_plan_used_commitment=15.0,
        ),
        cur2_row(
            line_item_line_item_type="DiscountedUsage",
            line_item_usage_type="BoxUsage:p4d.24xlarge",
            line_item_unblended_cost=0.0,
            reservation_effective_cost=500.0,
            resource_tags=[("user_team", "ml")],
        ),
        cur2_row(
            line_item_line_item_type="RIFee",
            line_item_usage_type="HeavyUsage:p4d.24xlarge",
            line_item_unblended_cost=3100.0,
            reservation_unused_recurring_fee=310.0,
            reservation_unused_amortized_upfront_fee_for_billing_period=0.0,
            start=datetime(2025, 1, 1),
            end=datetime(2025, 2, 1),
        ),
        cur2_row(
            line_item_product_code="AmazonBedrock",
            line_item_usage_type="USE1-Claude4.6Sonnet-input-tokens",
            line_item_unblended_cost=3.6,
            resource_tags=[("user_team", "support")],
        ),
        cur2_row(line_item_usage_type="USE1-USW2-AWS-Out-Bytes", line_item_unblended_cost=2.0),
        cur2_row(line_item_line_item_type="Tax", line_item_unblended_cost=5.0),
        cur2_row(line_item_line_item_type="Credit", line_item_unblended_cost=-1.0),
    ]
    period = "BILLING_PERIOD=2025-01"
    key = f"{root}/data/{period}/ai-costs-00001.snappy.parquet"
    s3.put_file(key, cur2_parquet(tmp_path / "bill.parquet", lines))
    s3.put(
        f"{root}/metadata/{period}/ai-costs-Manifest.json", json.dumps({"dataFiles": [f"s3://{BUCKET}/{key}"]}).encode()
    )
    settings = settings_for(tmp_path, s3_source_yaml(s3, root), REPO / "config" / "allocation.yaml")

    land_day(settings, DAY)
    assert stage_day(settings, DAY).unbalanced_files == []
    price_day(settings, DAY)
    allocate(settings, DAY)
    build_marts(settings, DAY)

    (reconciliation,) = staged(settings, "reconciliation", DAY)
    # effective cost of the day: 982.8 + 15 + 0 + 5 + 500 + 310/31 + 3.6 + 2 + 5 - 1
    assert reconciliation["source_total"] == Decimal("1522.4")
    assert (reconciliation["difference"], reconciliation["complete"], reconciliation["rows_quarantined"]) == (
        0,
        True,
        0,
    )
