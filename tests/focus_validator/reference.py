"""A small FOCUS 1.2 Cost and Usage file written the way focus-data-toolkit writes one: every one of the 57 columns,
typed Parquet, values that follow the spec. It holds what a provider's file holds and what trips the validator's
known bugs: charges no commitment and no capacity reservation covered, a charge a commitment covered, tax, and both
invoiced charges and a charge no invoice holds yet. The validator should fail only the rules of `runner.ALLOWED` on
it."""

from __future__ import annotations

from pathlib import Path

import duckdb

from assets.ingest.readers import sql_string

COLUMNS: dict[str, str] = {
    "AvailabilityZone": "VARCHAR",
    "BilledCost": "DECIMAL(38,10)",
    "BillingAccountId": "VARCHAR",
    "BillingAccountName": "VARCHAR",
    "BillingAccountType": "VARCHAR",
    "BillingCurrency": "VARCHAR",
    "BillingPeriodEnd": "TIMESTAMPTZ",
    "BillingPeriodStart": "TIMESTAMPTZ",
    "CapacityReservationId": "VARCHAR",
    "CapacityReservationStatus": "VARCHAR",
    "ChargeCategory": "VARCHAR",
    "ChargeClass": "VARCHAR",
    "ChargeDescription": "VARCHAR",
    "ChargeFrequency": "VARCHAR",
    "ChargePeriodEnd": "TIMESTAMPTZ",
    "ChargePeriodStart": "TIMESTAMPTZ",
    "CommitmentDiscountCategory": "VARCHAR",
    "CommitmentDiscountId": "VARCHAR",
    "CommitmentDiscountName": "VARCHAR",
    "CommitmentDiscountQuantity": "DECIMAL(38,10)",
    "CommitmentDiscountStatus": "VARCHAR",
    "CommitmentDiscountType": "VARCHAR",
    "CommitmentDiscountUnit": "VARCHAR",
    "ConsumedQuantity": "DECIMAL(38,10)",
    "ConsumedUnit": "VARCHAR",
    "ContractedCost": "DECIMAL(38,10)",
    "ContractedUnitPrice": "DECIMAL(38,10)",
    "EffectiveCost": "DECIMAL(38,10)",
    "InvoiceId": "VARCHAR",
    "InvoiceIssuerName": "VARCHAR",
    "ListCost": "DECIMAL(38,10)",
    "ListUnitPrice": "DECIMAL(38,10)",
    "PricingCategory": "VARCHAR",
    "PricingCurrency": "VARCHAR",
    "PricingCurrencyContractedUnitPrice": "DECIMAL(38,10)",
    "PricingCurrencyEffectiveCost": "DECIMAL(38,10)",
    "PricingCurrencyListUnitPrice": "DECIMAL(38,10)",
    "PricingQuantity": "DECIMAL(38,10)",
    "PricingUnit": "VARCHAR",
    "ProviderName": "VARCHAR",
    "PublisherName": "VARCHAR",
    "RegionId": "VARCHAR",
    "RegionName": "VARCHAR",
    "ResourceId": "VARCHAR",
    "ResourceName": "VARCHAR",
    "ResourceType": "VARCHAR",
    "ServiceCategory": "VARCHAR",
    "ServiceName": "VARCHAR",
    "ServiceSubcategory": "VARCHAR",
    "SkuId": "VARCHAR",
    "SkuMeter": "VARCHAR",
    "SkuPriceDetails": "VARCHAR",
    "SkuPriceId": "VARCHAR",
    "SubAccountId": "VARCHAR",
    "SubAccountName": "VARCHAR",
    "SubAccountType": "VARCHAR",
    "Tags": "VARCHAR",
}
"""The FOCUS 1.2 Cost and Usage columns (57) and their Parquet types."""

_ACCOUNT = {
    "BillingAccountId": "100000000001",
    "BillingAccountName": "Example Corp",
    "BillingAccountType": "Billing Account",
    "BillingCurrency": "USD",
    "BillingPeriodStart": "2026-11-01T00:00:00Z",
    "BillingPeriodEnd": "2026-12-01T00:00:00Z",
    "ChargePeriodStart": "2026-11-02T00:00:00Z",
    "ChargePeriodEnd": "2026-11-03T00:00:00Z",
    "InvoiceIssuerName": "Example Cloud",
    "ProviderName": "Example Cloud",
    "PublisherName": "Example Cloud",
    "PricingCurrency": "USD",
    "SubAccountId": "200000000002",
    "SubAccountName": "ml-prod",
    "SubAccountType": "Project",
}
_VM = {
    "ChargeCategory": "Usage",
    "ChargeFrequency": "Usage-Based",
    "PricingCategory": "Standard",
    "RegionId": "eu-west-1",
    "RegionName": "Europe (Ireland)",
    "AvailabilityZone": "eu-west-1a",
    "ResourceId": "vm-0001",
    "ResourceName": "inference-node-1",
    "ResourceType": "Virtual Machine",
    "ServiceCategory": "Compute",
    "ServiceSubcategory": "Virtual Machines",
    "ServiceName": "Example Compute",
    "SkuId": "SKU-GPU-H100",
    "SkuMeter": "GPU-Hours",
    "SkuPriceId": "SKU-GPU-H100-ONDEMAND",
    "SkuPriceDetails": '{"GpuCount": 1, "InstanceType": "gpu.h100.1"}',
    "PricingUnit": "Hours",
    "ConsumedUnit": "Hours",
    "Tags": '{"team": "search"}',
}
ROWS: list[dict[str, str | None]] = [
    {
        **_ACCOUNT,
        **_VM,
        "ChargeDescription": "GPU hours, on demand",
        "BilledCost": "24.0000000000",
        "EffectiveCost": "24.0000000000",
        "ListCost": "24.0000000000",
        "ContractedCost": "24.0000000000",
        "ListUnitPrice": "2.0000000000",
        "ContractedUnitPrice": "2.0000000000",
        "PricingCurrencyListUnitPrice": "2.0000000000",
        "PricingCurrencyContractedUnitPrice": "2.0000000000",
        "PricingCurrencyEffectiveCost": "24.0000000000",
        "PricingQuantity": "12.0000000000",
        "ConsumedQuantity": "12.0000000000",
        "InvoiceId": "INV-2026-11",
    },
    {
        **_ACCOUNT,
        **_VM,
        "ChargeDescription": "GPU hours covered by a reservation, not invoiced yet",
        "PricingCategory": "Committed",
        "BilledCost": "0.0000000000",
        "EffectiveCost": "15.0000000000",
        "ListCost": "20.0000000000",
        "ContractedCost": "20.0000000000",
        "ListUnitPrice": "2.0000000000",
        "ContractedUnitPrice": "2.0000000000",
        "PricingCurrencyListUnitPrice": "2.0000000000",
        "PricingCurrencyContractedUnitPrice": "2.0000000000",
        "PricingCurrencyEffectiveCost": "15.0000000000",
        "PricingQuantity": "10.0000000000",
        "ConsumedQuantity": "10.0000000000",
        "CommitmentDiscountId": "RI-0001",
        "CommitmentDiscountName": "gpu reservation",
        "CommitmentDiscountCategory": "Usage",
        "CommitmentDiscountType": "Reserved Instance",
        "CommitmentDiscountStatus": "Used",
        "CommitmentDiscountQuantity": "10.0000000000",
        "CommitmentDiscountUnit": "Hours",
        "InvoiceId": None,
    },
    {
        **_ACCOUNT,
        "ChargeCategory": "Tax",
        "ChargeFrequency": "Recurring",
        "ChargeDescription": "VAT",
        "ServiceCategory": "Compute",
        "ServiceSubcategory": "Virtual Machines",
        "ServiceName": "Example Compute",
        "BilledCost": "4.8000000000",
        "EffectiveCost": "4.8000000000",
        "ListCost": "4.8000000000",
        "ContractedCost": "4.8000000000",
        "PricingCurrencyEffectiveCost": "4.8000000000",
        "InvoiceId": "INV-2026-11",
    },
]


def write_reference(target: Path) -> Path:
    """Write the reference rows as a typed FOCUS 1.2 Parquet file at `target`."""
    values = ", ".join(
        "("
        + ", ".join(f"{sql_string(row[c]) if row.get(c) is not None else 'null'}::{t}" for c, t in COLUMNS.items())
        + ")"
        for row in ROWS
    )
    names = ", ".join(f'"{c}"' for c in COLUMNS)
    con = duckdb.connect()
    try:
        con.execute("set timezone = 'UTC'")
        con.execute(
            f"copy (select * from (values {values}) as t({names})) to {sql_string(str(target))} (format parquet)"
        )
    finally:
        con.close()
    return target
