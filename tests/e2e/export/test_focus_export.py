"""The FOCUS export of the demo lake, checked in DuckDB against the FOCUS rules it relies on (columns, types, allowed
values, conditional nullability, split cost allocation, cost arithmetic), against the pipeline's own results
(fact_cost per day and source, the source files per InvoiceId), and read back through the `focus` source kind."""

from __future__ import annotations

import hashlib
import shutil
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from assets.config import Settings
from assets.export.focus import FocusExportError, export_focus, lake_export_dir
from assets.ingest import SOURCE_KINDS
from assets.ingest.validate import cast_or_reject
from assets.ingest.vocabulary import SERVICE_SUBCATEGORIES
from assets.lake import Lake
from assets.schemas import COST_LINES
from assets.sql import connect
from pipelines.resources import ApportionConfig
from tests.e2e.conftest import Run
from tests.e2e.export.conftest import Export
from tests.e2e.test_pipeline_end_to_end import warehouse_rows

VERSIONS = ("1.2", "1.3")
DECIMAL, STRING, DATETIME, JSON = "Decimal", "String", "DateTime", "JSON"
PRICE = "Decimal (unit price)"

FOCUS_1_3: dict[str, tuple[str, str, bool]] = {
    "AllocatedMethodDetails": (JSON, "R", True),
    "AllocatedMethodId": (STRING, "C", True),
    "AllocatedResourceId": (STRING, "C", True),
    "AllocatedResourceName": (STRING, "C", True),
    "AllocatedTags": (JSON, "C", True),
    "AvailabilityZone": (STRING, "R", True),
    "BilledCost": (DECIMAL, "M", False),
    "BillingAccountId": (STRING, "M", False),
    "BillingAccountName": (STRING, "M", True),
    "BillingAccountType": (STRING, "C", False),
    "BillingCurrency": (STRING, "M", False),
    "BillingPeriodEnd": (DATETIME, "M", False),
    "BillingPeriodStart": (DATETIME, "M", False),
    "CapacityReservationId": (STRING, "C", True),
    "CapacityReservationStatus": (STRING, "C", True),
    "ChargeCategory": (STRING, "M", False),
    "ChargeClass": (STRING, "M", True),
    "ChargeDescription": (STRING, "M", True),
    "ChargeFrequency": (STRING, "R", False),
    "ChargePeriodEnd": (DATETIME, "M", False),
    "ChargePeriodStart": (DATETIME, "M", False),
    "CommitmentDiscountCategory": (STRING, "C", True),
    "CommitmentDiscountId": (STRING, "C", True),
    "CommitmentDiscountName": (STRING, "C", True),
    "CommitmentDiscountQuantity": (DECIMAL, "C", True),
    "CommitmentDiscountStatus": (STRING, "C", True),
    "CommitmentDiscountType": (STRING, "C", True),
    "CommitmentDiscountUnit": (STRING, "C", True),
    "ConsumedQuantity": (DECIMAL, "C", True),
    "ConsumedUnit": (STRING, "C", True),
    "ContractApplied": (JSON, "C", True),
    "ContractedCost": (DECIMAL, "M", False),
    "ContractedUnitPrice": (PRICE, "C", True),
    "EffectiveCost": (DECIMAL, "M", False),
    "HostProviderName": (STRING, "M", False),
    "InvoiceId": (STRING, "C", True),
    "InvoiceIssuerName": (STRING, "M", False),
    "ListCost": (DECIMAL, "M", False),
    "ListUnitPrice": (PRICE, "C", True),
    "PricingCategory": (STRING, "C", True),
    "PricingCurrency": (STRING, "C", False),
    "PricingCurrencyContractedUnitPrice": (PRICE, "C", True),
    "PricingCurrencyEffectiveCost": (DECIMAL, "C", False),
    "PricingCurrencyListUnitPrice": (PRICE, "C", True),
    "PricingQuantity": (DECIMAL, "M", True),
    "PricingUnit": (STRING, "M", True),
    "ProviderName": (STRING, "M", False),
    "PublisherName": (STRING, "M", False),
    "RegionId": (STRING, "C", True),
    "RegionName": (STRING, "C", True),
    "ResourceId": (STRING, "C", True),
    "ResourceName": (STRING, "C", True),
    "ResourceType": (STRING, "C", True),
    "ServiceCategory": (STRING, "M", False),
    "ServiceName": (STRING, "M", False),
    "ServiceProviderName": (STRING, "M", False),
    "ServiceSubcategory": (STRING, "R", False),
    "SkuId": (STRING, "C", True),
    "SkuMeter": (STRING, "C", True),
    "SkuPriceDetails": (JSON, "C", True),
    "SkuPriceId": (STRING, "C", True),
    "SubAccountId": (STRING, "C", True),
    "SubAccountName": (STRING, "C", True),
    "SubAccountType": (STRING, "C", True),
    "Tags": (JSON, "C", True),
}
"""FOCUS 1.3 Cost and Usage: column → (data type, feature level, nulls allowed). 65 columns; HostProviderName is
taken as not nullable (its requirement text), ProviderName / PublisherName are deprecated but still mandatory."""

NEW_IN_1_3 = {
    "AllocatedMethodDetails",
    "AllocatedMethodId",
    "AllocatedResourceId",
    "AllocatedResourceName",
    "AllocatedTags",
    "ContractApplied",
    "HostProviderName",
    "ServiceProviderName",
}
FOCUS_COLUMNS = {"1.3": FOCUS_1_3, "1.2": {k: v for k, v in FOCUS_1_3.items() if k not in NEW_IN_1_3}}
DUCKDB_TYPES = {
    DECIMAL: "DECIMAL(38,10)",
    PRICE: "DECIMAL(38,18)",
    STRING: "VARCHAR",
    DATETIME: "TIMESTAMP WITH TIME ZONE",
    JSON: "VARCHAR",
}

ALLOWED = {
    "ChargeCategory": {"Usage", "Purchase", "Tax", "Credit", "Adjustment"},
    "ChargeClass": {"Correction", None},
    "ChargeFrequency": {"One-Time", "Recurring", "Usage-Based"},
    "CommitmentDiscountStatus": {"Used", "Unused", None},
    "CapacityReservationStatus": {"Used", "Unused", None},
    "CommitmentDiscountCategory": {"Spend", "Usage", None},
    "PricingCategory": {"Standard", "Dynamic", "Committed", "Other", None},
}

UNIT_USED = "ChargeCategory = 'Usage' and coalesce(CommitmentDiscountStatus, '') <> 'Unused'"
CONDITIONAL = [
    # (rule, SQL that holds on every row)
    (
        "CommitmentDiscountStatus is null when CommitmentDiscountId is",
        "CommitmentDiscountId is not null or CommitmentDiscountStatus is null",
    ),
    (
        "CommitmentDiscountStatus is set on usage of a commitment",
        "CommitmentDiscountId is null or ChargeCategory <> 'Usage' or CommitmentDiscountStatus is not null",
    ),
    (
        "CapacityReservationStatus is null when CapacityReservationId is",
        "CapacityReservationId is not null or CapacityReservationStatus is null",
    ),
    ("PricingUnit is null exactly when PricingQuantity is", "(PricingUnit is null) = (PricingQuantity is null)"),
    (
        "PricingQuantity is set on usage and purchases that are not corrections",
        "ChargeCategory not in ('Usage', 'Purchase') or ChargeClass = 'Correction' or PricingQuantity is not null",
    ),
    (
        "ConsumedQuantity and ConsumedUnit are null off usage and on unused commitments",
        f"({UNIT_USED}) or (ConsumedQuantity is null and ConsumedUnit is null)",
    ),
    (
        "ConsumedQuantity and ConsumedUnit are set on other usage that is not a correction",
        # a source that reports no quantity at all (an API cost report, an invoice line without one) cannot have it
        f"not ({UNIT_USED} and ChargeClass is null and PricingQuantity is not null) "
        "or (ConsumedQuantity is not null and ConsumedUnit is not null)",
    ),
    (
        "ResourceName and ResourceType are null when ResourceId is",
        "ResourceId is not null or (ResourceName is null and ResourceType is null)",
    ),
    ("SubAccountName is null when SubAccountId is", "SubAccountId is not null or SubAccountName is null"),
    ("SkuMeter is null when SkuId is", "SkuId is not null or SkuMeter is null"),
    (
        "BillingAccountName and BillingAccountType are set",
        "BillingAccountName is not null and BillingAccountType is not null",
    ),
    (
        "SubAccountName and SubAccountType are set exactly when SubAccountId is",
        "(SubAccountId is null) = (SubAccountName is null) and (SubAccountId is null) = (SubAccountType is null)",
    ),
    ("RegionName is set exactly when RegionId is", "(RegionId is null) = (RegionName is null)"),
    (
        "unit prices and SKU price are null on tax",
        "ChargeCategory <> 'Tax' or (ListUnitPrice is null and ContractedUnitPrice is null and SkuPriceId is null "
        "and PricingCurrencyListUnitPrice is null and PricingCurrencyContractedUnitPrice is null)",
    ),
    (
        "unit prices and SKU price are set on usage and purchases that are priced by a quantity",
        "ChargeCategory not in ('Usage', 'Purchase') or ChargeClass = 'Correction' or coalesce(PricingQuantity, 0) = 0 "
        "or (ListUnitPrice is not null and ContractedUnitPrice is not null and SkuPriceId is not null "
        "and PricingCurrencyListUnitPrice is not null and PricingCurrencyContractedUnitPrice is not null)",
    ),
    ("SkuPriceDetails is null when SkuPriceId is", "SkuPriceId is not null or SkuPriceDetails is null"),
    (
        "PricingCurrency and PricingCurrencyEffectiveCost are set",
        "PricingCurrency is not null and PricingCurrencyEffectiveCost is not null",
    ),
    (
        "commitment name, category and type are set exactly on a commitment's charges (name when it has one)",
        "(CommitmentDiscountId is null) = (CommitmentDiscountCategory is null) "
        "and (CommitmentDiscountId is null) = (CommitmentDiscountType is null) "
        "and (CommitmentDiscountId is not null or CommitmentDiscountName is null)",
    ),
    (
        "CommitmentDiscountQuantity is set exactly on usage and purchases of a commitment, with its unit",
        "(CommitmentDiscountQuantity is not null) = (CommitmentDiscountId is not null "
        "and ChargeCategory in ('Usage', 'Purchase') and ChargeClass is null) "
        "and (CommitmentDiscountQuantity is null) = (CommitmentDiscountUnit is null)",
    ),
    (
        "a charge paid to a third party (ProviderName other than InvoiceIssuerName) bills nothing",
        "ProviderName = InvoiceIssuerName or BilledCost = 0",
    ),
]
CONDITIONAL_1_3 = [
    (
        "every charge is an allocated charge, with its method",
        "AllocatedMethodId is not null and AllocatedMethodDetails is not null",
    ),
    (
        "AllocatedResourceId and AllocatedResourceName are null exactly on the unallocated portion",
        "(AllocatedMethodId = 'unallocated') = (AllocatedResourceId is null) "
        "and (AllocatedResourceId is null) = (AllocatedResourceName is null)",
    ),
    ("AllocatedTags is null on the unallocated portion", "AllocatedMethodId <> 'unallocated' or AllocatedTags is null"),
]

SUMMABLE = (
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "PricingQuantity",
    "ConsumedQuantity",
    "PricingCurrencyEffectiveCost",
    "CommitmentDiscountQuantity",
)
PRICED = "case when l.ChargeCategory <> 'Tax' and l.PricingUnit is not null then l.PricingQuantity end"
ORIGIN_VALUE = {
    "ListCost": "coalesce(l.ListCost, l.BilledCost)",
    "PricingQuantity": PRICED,
    "ContractedCost": "coalesce(l.ContractedCost, l.BilledCost)",
    "ConsumedQuantity": "case when l.ChargeCategory = 'Usage' and coalesce(l.CommitmentDiscountStatus, '') <> 'Unused' "
    "then case when l.ConsumedUnit is not null and l.ConsumedQuantity is not null then l.ConsumedQuantity "
    f"else {PRICED} end end",
    "PricingCurrencyEffectiveCost": "coalesce(l.PricingCurrencyEffectiveCost, l.EffectiveCost)",
    # the demo's commitment is a reservation of hours (a usage commitment): its quantity is the pricing quantity
    "CommitmentDiscountQuantity": "case when l.CommitmentDiscountId is not null and l.ChargeCategory in "
    f"('Usage', 'Purchase') then coalesce(l.CommitmentDiscountQuantity, {PRICED}) end",
}
"""A staged line's value of a summable FOCUS column, where FOCUS defines it from other columns: list and contracted
cost without unit prices are the billed cost; nothing is consumed off usage or by an unused commitment, and a source
that reports only a pricing quantity consumed that; a pricing quantity goes only with its unit and never on tax; a
line priced in its billing currency has its effective cost
there."""


def focus(export: Export) -> duckdb.DuckDBPyConnection:
    """A connection with the view `focus` over the export's Parquet files (the FOCUS rows, no hive column)."""
    con = connect()
    files = ", ".join(f"'{f}'" for f in export.files)
    con.execute(f"create view focus as select * from read_parquet([{files}], hive_partitioning = false)")
    return con


def lake_view(con: duckdb.DuckDBPyConnection, settings: Settings, table: str) -> None:
    con.execute(f"create view {table} as select * from read_parquet('{Lake(settings.app.lake).glob(table)}')")


def test_one_file_per_day_and_one_row_per_allocated_piece(
    exports: dict[str, Export], pipeline_run: Run, settings: Settings
):
    con = connect()
    lake_view(con, settings, "allocated_lines")
    pieces = con.execute("select count(*) from allocated_lines").fetchall()[0][0]
    for export in exports.values():
        assert [f.parent.name for f in export.files] == [f"charge_date={d}" for d in pipeline_run.days]
        assert all(f.name == f"data.{export.fmt}" for f in export.files)
        assert export.rows == pieces > 0


@pytest.mark.parametrize("version", VERSIONS)
def test_every_column_is_a_focus_column_of_its_version_with_its_type_or_an_x_extension(
    exports: dict[str, Export], version: str
):
    columns = dict(
        (name, type_) for name, type_, *_ in focus(exports[f"{version}/parquet"]).execute("describe focus").fetchall()
    )
    spec = FOCUS_COLUMNS[version]
    mandatory = {c for c, (_, level, _) in spec.items() if level == "M"}
    assert mandatory <= set(columns)
    assert len(mandatory) == (21 if version == "1.2" else 23)
    focus_columns = [c for c in columns if not c.startswith("x_")]
    assert set(focus_columns) <= set(spec)
    assert {c: columns[c] for c in focus_columns} == {c: DUCKDB_TYPES[spec[c][0]] for c in focus_columns}
    assert list(columns)[: len(focus_columns)] == focus_columns, "FOCUS columns come before x_ columns"
    # every column, mandatory or conditional, but the contract commitments apportion has none of
    assert set(spec) - set(columns) == {"ContractApplied"} if version == "1.3" else set(spec) <= set(columns)


@pytest.mark.parametrize("version", VERSIONS)
def test_columns_focus_says_are_never_null_have_no_nulls(exports: dict[str, Export], version: str):
    con = focus(exports[f"{version}/parquet"])
    present = {r[0] for r in con.execute("describe focus").fetchall()}
    not_null = [c for c, (_, _, nullable) in FOCUS_COLUMNS[version].items() if not nullable and c in present]
    counts = con.execute(
        "select " + ", ".join(f'count(*) filter (where "{c}" is null)' for c in not_null) + " from focus"
    )
    assert dict(zip(not_null, counts.fetchall()[0], strict=True)) == dict.fromkeys(not_null, 0)


@pytest.mark.parametrize("version", VERSIONS)
def test_enumerated_columns_hold_only_allowed_values(exports: dict[str, Export], version: str):
    con = focus(exports[f"{version}/parquet"])
    for column, allowed in ALLOWED.items():
        found = {r[0] for r in con.execute(f'select distinct "{column}" from focus').fetchall()}
        assert found <= allowed, column
    pairs = set(con.execute("select distinct ServiceCategory, ServiceSubcategory from focus").fetchall())
    assert all(sub in SERVICE_SUBCATEGORIES[category] for category, sub in pairs), pairs
    assert len(SERVICE_SUBCATEGORIES) == 19 and sum(map(len, SERVICE_SUBCATEGORIES.values())) == 82
    currencies = con.execute("select distinct BillingCurrency from focus").fetchall()
    assert currencies == [("USD",)]


@pytest.mark.parametrize("version", VERSIONS)
def test_conditional_nullability_holds_on_every_row(exports: dict[str, Export], version: str):
    con = focus(exports[f"{version}/parquet"])
    rules = CONDITIONAL + (CONDITIONAL_1_3 if version == "1.3" else [])
    broken = {
        name: con.execute(f"select count(*) from focus where not ({rule})").fetchall()[0][0] for name, rule in rules
    }
    assert broken == {name: 0 for name, _ in rules}


@pytest.mark.parametrize("version", VERSIONS)
def test_json_columns_are_flat_json_objects(exports: dict[str, Export], version: str):
    con = focus(exports[f"{version}/parquet"])
    columns = ["Tags"] + (["AllocatedTags", "AllocatedMethodDetails"] if version == "1.3" else [])
    for column in columns:
        bad = con.execute(
            f"select count(*) from focus where {column} is not null and not (json_valid({column}) "
            f"and json_type({column}::json) = 'OBJECT')"
        ).fetchall()[0][0]
        assert bad == 0, column
    nested = con.execute(
        "select count(*) from focus, unnest(json_keys(Tags::json)) k(key) "
        "where json_type(Tags::json, '$.\"' || key || '\"') in ('OBJECT', 'ARRAY')"
    ).fetchall()[0][0]
    assert nested == 0


def test_allocated_ratios_of_each_origin_charge_sum_to_exactly_one(exports: dict[str, Export]):
    con = focus(exports["1.3/parquet"])
    con.execute(
        "create temp table elements as select x_LineId, ChargePeriodStart, AllocatedMethodId, "
        "unnest(json_extract(AllocatedMethodDetails, '$.Elements[*]')) as e from focus"
    )
    rows = con.execute(
        "select x_LineId, sum((e->>'AllocatedRatio')::double), list(e->>'x_Weight'), list(e->>'x_TotalWeight'), "
        "bool_and(AllocatedMethodId = 'unallocated') from elements group by x_LineId, ChargePeriodStart"
    ).fetchall()
    assert rows
    for _line, ratio_sum, weights, totals, unallocated in rows:
        assert abs(ratio_sum - 1) < 1e-9
        if unallocated:
            assert weights == [None] and ratio_sum == 1
        else:
            assert len(set(totals)) == 1 and sum(int(w) for w in weights) == int(totals[0])
    sums = focus(exports["1.2/parquet"]).execute(
        "select sum(x_AllocatedRatio) from focus group by x_LineId, ChargePeriodStart"
    )
    assert all(abs(s - 1) < 1e-9 for (s,) in sums.fetchall())


def test_each_element_names_the_rule_s_driver_as_usage_unit_and_quantity(
    exports: dict[str, Export], settings: Settings
):
    con = focus(exports["1.3/parquet"])
    con.execute(
        "create temp table details as select AllocatedMethodId as rule, x_InputTokens, x_OutputTokens, x_Requests, "
        "AllocatedMethodDetails::json as d from focus"
    )
    found = con.execute(
        "select distinct rule, d->>'x_AllocationMethod', d->>'x_Driver', d->'Elements'->0->>'UsageUnit' from details"
    ).fetchall()
    rules = {r.name: r for r in settings.allocation.rules}
    currency = settings.app.reporting_currency
    units = {"list_cost": currency, "tokens": "Tokens", "requests": "Requests"}
    for rule, method, driver, unit in found:
        if rule == "unallocated":
            assert (method, driver, unit) == (None, None, None)
            continue
        assert method == rules[rule].method
        if method == "usage":
            assert (driver, unit) == (rules[rule].driver, units[rules[rule].driver])
        elif method == "cost":
            assert (driver, unit) == ("cost:" + ",".join(rules[rule].basis or []), currency)
        else:
            assert (driver, unit) == (None, None)
    assert {"list_cost", "tokens", "requests"} <= {rules[r].driver for r, m, *_ in found if m == "usage"}
    quantity = "(d->'Elements'->0->>'UsageQuantity')::decimal(38, 10)"
    wrong = con.execute(
        f"""
        select count(*) from details where case d->>'x_Driver'
            when 'requests' then {quantity} <> x_Requests
            when 'tokens' then {quantity} <> x_InputTokens + x_OutputTokens
            when 'list_cost' then {quantity} * 10000000000 <> (d->'Elements'->0->>'x_Weight')::hugeint
            else false end
        """
    ).fetchall()[0][0]
    assert wrong == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_every_cost_and_quantity_of_a_charge_splits_exactly_over_its_pieces_and_keeps_its_sign(
    exports: dict[str, Export], settings: Settings, version: str
):
    con = focus(exports[f"{version}/parquet"])
    lake_view(con, settings, "cost_lines")
    lines = con.execute("select count(*) from cost_lines").fetchall()[0][0]
    for column in SUMMABLE:
        origin = ORIGIN_VALUE.get(column, f"l.{column}")
        joined, broken = con.execute(
            f"""
            with pieces as (
                select x_LineId, ChargePeriodStart::date as charge_date, sum({column}) as total,
                    min(sign({column})) as low, max(sign({column})) as high
                from focus group by x_LineId, ChargePeriodStart::date
            )
            select count(*), count(*) filter (
                where p.total is distinct from {origin}
                or (sign({origin}) = 1 and p.low < 0) or (sign({origin}) = -1 and p.high > 0)
            )
            from pieces p join cost_lines l on p.x_LineId = l.x_LineId and p.charge_date = l.charge_date
            """
        ).fetchall()[0]
        assert (joined, broken) == (lines, 0), column


@pytest.mark.parametrize("version", VERSIONS)
def test_unit_prices_are_the_charge_s_on_every_piece_and_give_its_costs_back(exports: dict[str, Export], version: str):
    """Pieces split costs and quantities, never unit prices. Per charge and day, unit price × pricing quantity is its
    cost (a derived price is the cost over the quantity truncated to 1e-18, so at most the quantity × 1e-18 off); per
    piece within the 1e-10 rounding of the two splits (price + 1) × 1e-10."""
    con = focus(exports[f"{version}/parquet"])
    for price, cost in (
        ("ListUnitPrice", "ListCost"),
        ("ContractedUnitPrice", "ContractedCost"),
        ("PricingCurrencyListUnitPrice", "ListCost"),
        ("PricingCurrencyContractedUnitPrice", "ContractedCost"),
    ):
        charges, prices, charge_off = con.execute(
            f"""
            with charges as (
                select x_LineId, count(distinct {price}) as prices, any_value({price}) as price,
                    sum(PricingQuantity) as quantity, sum({cost}) as cost
                from focus where {price} is not null and ChargeClass is null group by x_LineId, ChargePeriodStart
            )
            select count(*), max(prices), count(*) filter (where abs(price * quantity - cost) > abs(quantity) * 1e-18)
            from charges
            """
        ).fetchall()[0]
        assert charges > 100 and prices == 1 and charge_off == 0, price
        pieces_off = con.execute(
            f"select count(*) from focus where {price} is not null and ChargeClass is null "
            f"and abs({price} * PricingQuantity - {cost}) > ({price} + 1) * 1e-10 + abs(PricingQuantity) * 1e-18"
        ).fetchall()[0][0]
        assert pieces_off == 0, price


def test_focus_1_2_and_1_3_agree_row_for_row_on_every_column_they_share(exports: dict[str, Export]):
    """The two versions are one set of pieces in the same order: each shared column is equal row for row, and 1.2's
    Tags are 1.3's with the allocated charge's AllocatedTags merged in."""
    con = focus(exports["1.3/parquet"])
    old = exports["1.2/parquet"]
    files = ", ".join(f"'{f}'" for f in old.files)
    con.execute(f"create view focus_1_2 as select * from read_parquet([{files}], hive_partitioning = false)")
    columns_1_3 = [r[0] for r in con.execute("describe focus").fetchall()]
    columns_1_2 = [r[0] for r in con.execute("describe focus_1_2").fetchall()]
    shared = [c for c in columns_1_2 if c in columns_1_3 and c != "Tags"]
    assert len(shared) >= 56 + 10, shared
    rows = con.execute("select count(*) from focus").fetchall()[0][0]
    assert rows == con.execute("select count(*) from focus_1_2").fetchall()[0][0] > 0
    differing = con.execute(
        "select "
        + ", ".join(f'count(*) filter (where n."{c}" is distinct from o."{c}")' for c in shared)
        + ", count(*) filter (where json(o.Tags) is distinct from "
        "json(json_merge_patch(coalesce(n.Tags, '{}'), coalesce(n.AllocatedTags, '{}')))) "
        "from focus n positional join focus_1_2 o"
    ).fetchall()[0]
    assert dict(zip([*shared, "Tags"], differing, strict=True)) == dict.fromkeys([*shared, "Tags"], 0)


def test_cost_metric_pieces_are_the_allocated_amounts(exports: dict[str, Export], settings: Settings):
    con = focus(exports["1.2/parquet"])
    lake_view(con, settings, "allocated_lines")
    different = con.execute(
        """
        select count(*) from focus f full join allocated_lines a
        on f.x_LineId = a.line_id and f.ChargePeriodStart::date = a.charge_date
        and f.x_AllocatedMethodId = a.allocation_rule
        and f.x_Team is not distinct from a.team and f.x_Feature is not distinct from a.feature
        and f.x_CustomerId is not distinct from a.customer and f.x_AgentId is not distinct from a.agent
        and f.x_WorkflowId is not distinct from a.workflow and f.x_Provider is not distinct from a.provider
        and f.x_Model is not distinct from a.model and f.x_IsRetry = coalesce(a.is_retry, false)
        where f.EffectiveCost is distinct from a.amount
        """
    ).fetchall()[0][0]
    assert settings.app.cost_metric == "EffectiveCost" and different == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_cost_arithmetic_of_purchases_credits_and_commitments(exports: dict[str, Export], version: str):
    con = focus(exports[f"{version}/parquet"])
    purchases = con.execute(
        "select sum(BilledCost), count(*) filter (where EffectiveCost <> 0) from focus "
        "where ChargeCategory = 'Purchase'"
    ).fetchall()[0]
    assert purchases[0] > 0 and purchases[1] == 0, "a prepaid or recurring commitment fee has EffectiveCost 0"
    credits = con.execute(
        "select count(*), count(*) filter (where EffectiveCost <> BilledCost or BilledCost > 0) "
        "from focus where ChargeCategory = 'Credit'"
    ).fetchall()[0]
    assert credits[0] > 0 and credits[1] == 0, "a credit's EffectiveCost is its BilledCost"
    commitments = con.execute(
        """
        select CommitmentDiscountId, ChargePeriodStart,
            sum(BilledCost) filter (where ChargeCategory = 'Purchase') as fee,
            sum(EffectiveCost) filter (where ChargeCategory = 'Usage') as amortized,
            sum(EffectiveCost) filter (where CommitmentDiscountStatus = 'Unused') as unused
        from focus where CommitmentDiscountId is not null group by all
        """
    ).fetchall()
    assert len(commitments) == 3
    for _id, _day, fee, amortized, unused in commitments:
        assert fee == amortized and 0 < unused < fee, "used + unused EffectiveCost of a commitment = its fee"


@pytest.mark.parametrize("version", VERSIONS)
def test_totals_equal_fact_cost_per_day_and_source(exports: dict[str, Export], settings: Settings, version: str):
    con = focus(exports[f"{version}/parquet"])
    lake_view(con, settings, "fact_cost")
    exported = con.execute(
        "select ChargePeriodStart::date, x_Source, sum(EffectiveCost) from focus group by all order by all"
    ).fetchall()
    facts = con.execute(
        "select charge_date, source, sum(amount_usd) from fact_cost where allocation_rule <> 'telemetry' "
        "group by all order by all"
    ).fetchall()
    assert exported == facts and len(exported) >= 9


@pytest.mark.parametrize("version", VERSIONS)
def test_billed_cost_per_invoice_equals_the_source_lines(exports: dict[str, Export], pipeline_run: Run, version: str):
    # the staged lines are the sources' own (the end-to-end tests check them against the files to the cent)
    expected = dict(
        warehouse_rows(
            pipeline_run, "select InvoiceId, sum(BilledCost) from cost_lines where InvoiceId is not null group by 1"
        )
    )
    con = focus(exports[f"{version}/parquet"])
    exported = dict(
        con.execute("select InvoiceId, sum(BilledCost) from focus where InvoiceId is not null group by 1").fetchall()
    )
    assert exported == expected and len(expected) >= 2


def test_allocated_charges_keep_every_dimension_of_their_origin_charge(exports: dict[str, Export]):
    con = focus(exports["1.3/parquet"])
    dimensions = [
        name
        for name, type_, *_ in con.execute("describe focus").fetchall()
        if not name.startswith(("x_", "Allocated")) and type_ != "DECIMAL(38,10)"
    ]
    assert {"ResourceId", "SkuId", "Tags", "ChargePeriodStart", "InvoiceId"} <= set(dimensions)
    varying = con.execute(
        f"select count(*) from (select x_LineId from focus group by x_LineId, ChargePeriodStart "
        f"having count(distinct hash({', '.join(dimensions)})) > 1)"
    ).fetchall()[0][0]
    assert varying == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_csv_holds_the_parquet_rows_with_focus_date_times(exports: dict[str, Export], version: str):
    con = focus(exports[f"{version}/parquet"])
    types = con.execute("describe focus").fetchall()
    files = ", ".join(f"'{f}'" for f in exports[f"{version}/csv"].files)
    columns = ", ".join(f"'{name}': 'VARCHAR'" for name, *_ in types)
    con.execute(
        f"create view text as select * from read_csv([{files}], header = true, auto_detect = false, delim = ',', "
        f"quote = '\"', escape = '\"', columns = {{{columns}}}, hive_partitioning = false)"
    )
    assert [r[0] for r in con.execute("describe text").fetchall()] == [name for name, *_ in types]
    datetimes = [name for name, type_, *_ in types if type_.startswith("TIMESTAMP")]
    iso = " and ".join(f"regexp_full_match({c}, '\\d{{4}}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ')" for c in datetimes)
    assert con.execute(f"select count(*) from text where not ({iso})").fetchall()[0][0] == 0
    typed = ", ".join(f'"{name}"::{type_} as "{name}"' for name, type_, *_ in types)
    con.execute(f"create view typed as select {typed} from text")
    for left, right in (("focus", "typed"), ("typed", "focus")):
        assert con.execute(f"select count(*) from (from {left} except all from {right})").fetchall()[0][0] == 0


@pytest.mark.parametrize("key", ["1.2/parquet", "1.2/csv", "1.3/parquet", "1.3/csv"])
def test_reading_the_export_with_the_focus_kind_gives_back_the_totals_per_day_source_and_team(
    exports: dict[str, Export], settings: Settings, key: str
):
    con = connect()
    kind = SOURCE_KINDS["focus"]
    kind.read(con, exports[key].files, "raw", {})
    staged, rejected = cast_or_reject(
        con, "raw", COST_LINES, out_prefix="t", date_expr="null::date", checks=kind.checks
    )
    counts = con.execute(f"select (select count(*) from {staged}), (select count(*) from {rejected})").fetchall()
    assert counts == [(exports[key].rows, 0)]
    read_back = con.execute(
        f"select ChargePeriodStart::date, Tags['apportion/source'], coalesce(Tags['apportion/team'], 'unallocated'), "
        f"sum(EffectiveCost) from {staged} group by all order by all"
    ).fetchall()
    lake_view(con, settings, "fact_cost")
    facts = con.execute(
        "select charge_date, source, team, sum(amount_usd) from fact_cost where allocation_rule <> 'telemetry' "
        "group by all order by all"
    ).fetchall()
    assert read_back == facts
    assert len({team for _, _, team, _ in read_back}) >= 6


def test_exporting_a_day_again_gives_byte_identical_files(
    exports: dict[str, Export], settings: Settings, pipeline_run: Run, tmp_path: Path
):
    day = pipeline_run.days[1]
    for version in VERSIONS:
        for fmt in ("parquet", "csv"):
            again = export_focus(settings, day, day, tmp_path / f"{version}-{fmt}", version, fmt)["files"][0]
            first = exports[f"{version}/{fmt}"].files[1]
            assert hashlib.sha256(Path(again).read_bytes()).digest() == hashlib.sha256(first.read_bytes()).digest()


def copy_day(settings: Settings, day: date, root: Path) -> Settings:
    """A lake holding `day`'s staged cost lines and allocated lines of `settings`' lake, and settings pointing at it."""
    source, target = Lake(settings.app.lake), Lake(root)
    for table in ("cost_lines", "allocated_lines"):
        shutil.copytree(source.partition_dir(table, day), target.partition_dir(table, day))
    return settings.model_copy(update={"app": settings.app.model_copy(update={"lake": root})})


def test_a_line_focus_cannot_represent_is_left_out_and_listed_and_the_rest_of_the_day_is_exported(
    settings: Settings, pipeline_run: Run, tmp_path: Path
):
    day = pipeline_run.days[0]
    bad = copy_day(settings, day, tmp_path / "lake")
    lines = Lake(bad.app.lake).partition_file("cost_lines", day, "cloud_bill")
    con = connect()
    # one tax line with no invoice issuer nor service provider; the frequency of every line blanked
    con.execute(
        f"copy (select * replace (case when ChargeCategory <> 'Tax' then InvoiceIssuerName end as InvoiceIssuerName, "
        f"case when ChargeCategory <> 'Tax' then ServiceProviderName end as ServiceProviderName, "
        f"null::varchar as ChargeFrequency) from read_parquet('{lines}')) to '{tmp_path / 'edited.parquet'}'"
    )
    line_id, file, row, billed, effective = con.execute(
        f"select x_LineId, x_SourceFile, x_SourceRow, BilledCost::varchar, EffectiveCost::varchar "
        f"from read_parquet('{lines}') where ChargeCategory = 'Tax'"
    ).fetchall()[0]
    kept = con.execute(
        f"select sum(EffectiveCost) filter (where ChargeCategory <> 'Tax') from read_parquet('{lines}')"
    ).fetchall()[0][0]
    shutil.move(tmp_path / "edited.parquet", lines)
    summary = export_focus(bad, day, day, tmp_path / "out")
    assert summary["left_out"] == [
        {
            "charge_date": day.isoformat(),
            "source": "cloud_bill",
            "file": file,
            "row": row,
            "line_id": line_id,
            "reason": "InvoiceIssuerName and ServiceProviderName are null; FOCUS requires them",
            "billed_cost": billed,
            "effective_cost": effective,
        }
    ]
    written = con.execute(
        "select count(distinct x_LineId), sum(EffectiveCost) filter (where x_Source = 'cloud_bill'), "
        "count(*) filter (where x_LineId = $id), list(distinct ChargeCategory || '/' || ChargeFrequency order by 1) "
        "from read_parquet($f)",
        {"id": line_id, "f": summary["files"][0]},
    ).fetchall()[0]
    day_lines = con.execute(
        "select count(*) from read_parquet($f)",
        {"f": str(Lake(bad.app.lake).partition_dir("cost_lines", day) / "*.parquet")},
    ).fetchall()[0][0]
    assert written[0] == day_lines - 1 and written[1] == kept and written[2] == 0
    # a blank frequency is derived from the category
    assert set(written[3]) <= {
        "Usage/Usage-Based",
        "Purchase/One-Time",
        "Purchase/Recurring",
        "Credit/One-Time",
        "Credit/Recurring",
        "Adjustment/One-Time",
        "Adjustment/Recurring",
    }


def test_a_day_staged_before_the_commitment_and_pricing_columns_exports_them_as_null(
    settings: Settings, pipeline_run: Run, tmp_path: Path
):
    day = pipeline_run.days[0]
    old = copy_day(settings, day, tmp_path / "lake")
    con = connect()
    for lines in Lake(old.app.lake).partition_dir("cost_lines", day).glob("*.parquet"):
        con.execute(
            f"copy (select * exclude (CommitmentDiscountCategory, CommitmentDiscountType, PricingCategory) from "
            f"read_parquet('{lines}')) to '{tmp_path / 'edited.parquet'}'"
        )
        shutil.move(tmp_path / "edited.parquet", lines)
    summary = export_focus(old, day, day, tmp_path / "out")
    assert summary["left_out"] == [] and summary["rows"] > 0
    assert con.execute(
        "select count(*) filter (where coalesce(CommitmentDiscountCategory, CommitmentDiscountType, PricingCategory) "
        "is not null) from read_parquet($f)",
        {"f": summary["files"][0]},
    ).fetchall() == [(0,)]


def test_an_allocation_older_than_staging_stops_the_export(settings: Settings, pipeline_run: Run, tmp_path: Path):
    day = pipeline_run.days[0]
    stale = copy_day(settings, day, tmp_path / "lake")
    pieces = Lake(stale.app.lake).partition_file("allocated_lines", day)
    con = connect()
    con.execute(
        f"copy (select * from read_parquet('{pieces}') where line_id <> (select min(line_id) from "
        f"read_parquet('{pieces}'))) to '{tmp_path / 'edited.parquet'}'"
    )
    shutil.move(tmp_path / "edited.parquet", pieces)
    with pytest.raises(FocusExportError, match="the line has no allocated pieces: re-run allocation for the day"):
        export_focus(stale, day, day, tmp_path / "out", "1.2", "csv")
    with pytest.raises(FileNotFoundError, match="no allocated_lines for 2026-10-31: run the pipeline"):
        export_focus(stale, day - timedelta(days=1), day, tmp_path / "out")


def test_focus_export_asset_writes_each_version_under_the_lake(settings: Settings, pipeline_run: Run):
    from pipelines.assets import focus_export

    day = pipeline_run.days[2]
    result = dg.materialize(
        [focus_export],
        partition_key=day.isoformat(),
        resources={"apportion": ApportionConfig(path=str(pipeline_run.config))},
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
    )
    metadata = result.asset_materializations_for_node("focus_export")[0].metadata
    con = connect()
    for version in VERSIONS:
        file = lake_export_dir(settings, version) / f"charge_date={day}" / "data.parquet"
        rows = con.execute(f"select count(*) from read_parquet('{file}')").fetchall()[0][0]
        assert metadata[f"rows/{version}"].value == rows > 0
