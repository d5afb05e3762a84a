"""The FOCUS export's documented rules (docs/focus-export.md): values a source lacks are derived (staging already
gives FOCUS's values: tests/unit/test_focus_vocabulary.py); a line FOCUS cannot represent is left out and listed;
only a stale allocation stops the day."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from assets.export.focus import FocusExportError, build_charges
from assets.schemas import STAGED_COST_LINES
from assets.sql import connect

DAY = date(2026, 11, 5)
MONTH = {"BillingPeriodStart": "2026-11-01", "BillingPeriodEnd": "2026-12-01"}
WHOLE_MONTH = {"ChargePeriodStart": "2026-11-01", "ChargePeriodEnd": "2026-12-01"} | MONTH


def charges(lines: list[dict[str, Any]], allocated: dict[str, Decimal] | None = None):
    """A connection holding the day's lines (one piece each, or `allocated` line → amount) and `focus_charges`
    built from them, and the lines left out."""
    con = connect()
    con.execute(f"create table cost_lines_day ({', '.join(f'{n} {t}' for n, t in STAGED_COST_LINES)})")
    for n, line in enumerate(lines, start=1):
        values = {
            "x_LineId": f"line-{n}",
            "x_Source": "bill",
            "x_SourceFile": "bill.csv",
            "x_SourceRow": n,
            "BilledCost": Decimal("2.5"),
            "EffectiveCost": Decimal("2.5"),
            "BillingAccountId": "acct",
            "BillingCurrency": "USD",
            "InvoiceIssuerName": "vendor",
            "ChargeCategory": "Usage",
            "ChargePeriodStart": f"{DAY}",
            "ChargePeriodEnd": "2026-11-06",
        } | line
        con.execute(
            f"insert into cost_lines_day ({', '.join(values)}) values ({', '.join('?' * len(values))})",
            list(values.values()),
        )
    con.execute(
        "create table allocated_lines_day as select x_LineId as line_id, EffectiveCost as line_amount "
        "from cost_lines_day"
    )
    for line_id, amount in (allocated or {}).items():
        con.execute("update allocated_lines_day set line_amount = ? where line_id = ?", [amount, line_id])
    left_out = build_charges(con, DAY, "EffectiveCost")
    return con, left_out


def derived(column: str, lines: list[dict[str, Any]]) -> list[Any]:
    con, left_out = charges(lines)
    assert left_out == []
    return [r[0] for r in con.execute(f"select {column} from focus_charges order by x_SourceRow").fetchall()]


def test_charge_frequency_is_kept_or_derived_from_the_category_and_period() -> None:
    lines = [
        {"ChargeFrequency": "Usage-Based"},
        {"ChargeFrequency": "One-Time", "ChargeCategory": "Purchase"},
        {"ChargeFrequency": "Recurring", "ChargeCategory": "Tax"},
        {"ChargeCategory": "Usage"},
        {"ChargeCategory": "Tax"} | WHOLE_MONTH,
        {"ChargeCategory": "Tax"} | MONTH,
        {"ChargeCategory": "Purchase", "ChargeFrequency": "Usage-Based"} | WHOLE_MONTH,
        {"ChargeCategory": "Purchase", "ChargeFrequency": "Usage-Based"},
        {"ChargeCategory": "Credit"} | MONTH,
        {"ChargeCategory": "Adjustment"} | WHOLE_MONTH,
        {"ChargeCategory": "Credit"},
    ]
    assert derived("ChargeFrequency", lines) == [
        "Usage-Based",
        "One-Time",
        "Recurring",
        "Usage-Based",
        "Recurring",
        "One-Time",
        "Recurring",
        "One-Time",
        "One-Time",
        "Recurring",
        "One-Time",
    ]


def test_a_missing_service_category_or_subcategory_is_other() -> None:
    lines = [
        {"ServiceCategory": "AI and Machine Learning", "ServiceSubcategory": "Generative AI"},
        {"ServiceCategory": "AI and Machine Learning"},
        {},
    ]
    con, left_out = charges(lines)
    assert left_out == []
    services = "select ServiceCategory, ServiceSubcategory from focus_charges order by x_SourceRow"
    assert con.execute(services).fetchall() == [
        ("AI and Machine Learning", "Generative AI"),
        ("AI and Machine Learning", "Other (AI and Machine Learning)"),
        ("Other", "Other (Other)"),
    ]


def test_unit_prices_are_the_source_s_or_the_cost_over_the_pricing_quantity_and_never_on_tax() -> None:
    lines = [
        # a source's own list price is kept; the contracted price is derived from the contracted (= billed) cost
        {
            "ListUnitPrice": Decimal("0.5"),
            "ListCost": Decimal("3"),
            "PricingQuantity": Decimal("6"),
            "PricingUnit": "h",
        },
        # 2.5 / 3 to 1e-18, truncated: price × quantity is the cost to 3e-18
        {"PricingQuantity": Decimal("3"), "PricingUnit": "Tokens"},
        # no quantity: no price; a negation line (cost and quantity of opposite signs): no negative price
        {},
        {
            "BilledCost": Decimal("-2.5"),
            "EffectiveCost": Decimal("-2.5"),
            "PricingQuantity": Decimal("1"),
            "PricingUnit": "h",
        },
        # tax: neither prices nor a quantity, whatever the source says
        {"ChargeCategory": "Tax", "ListUnitPrice": Decimal("1"), "PricingQuantity": Decimal("2.5"), "PricingUnit": "h"},
        # a pricing quantity without its unit is no quantity
        {"PricingQuantity": Decimal("4")},
        # a virtual currency with its own cost and list price; a pricing currency without its cost is not used
        {
            "PricingCurrency": "Credits",
            "PricingCurrencyEffectiveCost": Decimal("100"),
            "PricingCurrencyListUnitPrice": Decimal("2"),
            "PricingQuantity": Decimal("50"),
            "PricingUnit": "Requests",
        },
        {"PricingCurrency": "EUR"},
    ]
    con, left_out = charges(lines)
    assert left_out == []
    rows = con.execute(
        "select ListUnitPrice, ContractedUnitPrice, PricingCurrency, PricingCurrencyListUnitPrice, "
        "PricingCurrencyContractedUnitPrice, PricingCurrencyEffectiveCost, PricingQuantity, PricingUnit "
        "from focus_charges order by x_SourceRow"
    ).fetchall()
    third = Decimal("0.833333333333333333")
    assert rows == [
        (
            Decimal("0.5"),
            Decimal("2.5") / 6 // Decimal("1e-18") * Decimal("1e-18"),
            "USD",
            Decimal("0.5"),
            Decimal("0.416666666666666666"),
            Decimal("2.5"),
            Decimal(6),
            "h",
        ),
        (third, third, "USD", third, third, Decimal("2.5"), Decimal(3), "Tokens"),
        (None, None, "USD", None, None, Decimal("2.5"), None, None),
        (None, None, "USD", None, None, Decimal("-2.5"), Decimal(1), "h"),
        (None, None, "USD", None, None, Decimal("2.5"), None, None),
        (None, None, "USD", None, None, Decimal("2.5"), None, None),
        (Decimal("0.05"), Decimal("0.05"), "Credits", Decimal(2), None, Decimal(100), Decimal(50), "Requests"),
        (None, None, "USD", None, None, Decimal("2.5"), None, None),
    ]
    assert abs(third * 3 - Decimal("2.5")) <= Decimal("3e-18")


def test_names_types_and_commitment_quantities_are_derived_where_focus_requires_them() -> None:
    lines = [
        {
            "SubAccountId": "proj-1",
            "RegionId": "eu-west-1",
            "SkuId": "sku-1",
            "ResourceId": "vm-1",
            "ServiceName": "Compute",
        },
        {"BillingAccountId": None, "BillingAccountName": None, "SubAccountName": "kept", "RegionName": "orphan"},
        # a usage commitment: its quantity and unit are the pricing quantity's; a spend commitment: the amount covered
        {
            "CommitmentDiscountId": "ri-1",
            "CommitmentDiscountCategory": "Usage",
            "CommitmentDiscountStatus": "Used",
            "PricingQuantity": Decimal("10"),
            "PricingUnit": "Hours",
        },
        {
            "CommitmentDiscountId": "sp-1",
            "CommitmentDiscountCategory": "Spend",
            "CommitmentDiscountStatus": "Used",
            "EffectiveCost": Decimal("1.75"),
        },
        {"CommitmentDiscountId": "sp-1", "CommitmentDiscountCategory": "Spend", "ChargeCategory": "Purchase"},
        # a status without its commitment is dropped
        {"CommitmentDiscountStatus": "Used"},
    ]
    con, left_out = charges(lines)
    assert left_out == []
    rows = con.execute(
        "select BillingAccountId, BillingAccountName, BillingAccountType, SubAccountName, SubAccountType, RegionName, "
        "SkuPriceId, SkuMeter, ResourceType, CommitmentDiscountStatus, CommitmentDiscountQuantity, "
        "CommitmentDiscountUnit, ProviderName from focus_charges order by x_SourceRow"
    ).fetchall()
    assert rows == [
        (
            "acct",
            "acct",
            "Billing Account",
            "proj-1",
            "Sub Account",
            "eu-west-1",
            "sku-1",
            "sku-1",
            "Compute",
            None,
            None,
            None,
            "vendor",
        ),
        (
            "apportion:bill",
            "apportion:bill",
            "apportion source",
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            "vendor",
        ),
        ("acct", "acct", "Billing Account", None, None, None, None, None, None, "Used", Decimal(10), "Hours", "vendor"),
        (
            "acct",
            "acct",
            "Billing Account",
            None,
            None,
            None,
            None,
            None,
            None,
            "Used",
            Decimal("1.75"),
            "USD",
            "vendor",
        ),
        ("acct", "acct", "Billing Account", None, None, None, None, None, None, None, Decimal("2.5"), "USD", "vendor"),
        ("acct", "acct", "Billing Account", None, None, None, None, None, None, None, None, None, "vendor"),
    ]


def test_a_line_focus_cannot_represent_is_left_out_with_its_reason_and_the_others_stay() -> None:
    con, left_out = charges(
        [{}, {"InvoiceIssuerName": None, "BilledCost": Decimal("-1"), "EffectiveCost": Decimal("-1")}, {}]
    )
    assert [(x["line_id"], x["row"], x["reason"], x["billed_cost"]) for x in left_out] == [
        ("line-2", 2, "InvoiceIssuerName and ServiceProviderName are null; FOCUS requires them", "-1.0000000000"),
    ]
    assert {x["charge_date"] for x in left_out} == {"2026-11-05"}
    assert con.execute("select list(line_id order by line_id) from focus_charges").fetchall()[0][0] == [
        "line-1",
        "line-3",
    ]


def test_an_allocation_out_of_step_with_staging_still_stops_the_day() -> None:
    with pytest.raises(FocusExportError, match=r"allocated amount 2\.0+ differs from the line's EffectiveCost 2\.5"):
        charges([{}], allocated={"line-1": Decimal(2)})
