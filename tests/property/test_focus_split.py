"""The FOCUS export splits every summable column of a charge over its pieces exactly, by largest remainder."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.export.focus import build_charges
from assets.schemas import STAGED_COST_LINES
from assets.sql import connect, run_model

DAY = date(2026, 11, 1)
UNIT = Decimal("1e-10")
COLUMNS = (
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "PricingQuantity",
    "ConsumedQuantity",
    "PricingCurrencyEffectiveCost",
    "CommitmentDiscountQuantity",
)
TEAMS = ("a", "b", "c", "d", "e")
units = st.integers(-(10**14), 10**14)


def largest_remainder(total: int, weights: list[int]) -> list[int]:
    """The reference split: floor shares, the leftover units to the largest remainders, ties in piece order."""
    whole = sum(weights)
    base = [abs(total) * w // whole for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-(abs(total) * weights[i] % whole), i))
    extra = set(order[: abs(total) - sum(base)])
    sign = (total > 0) - (total < 0)
    return [sign * (b + (i in extra)) for i, b in enumerate(base)]


@st.composite
def charges(draw: st.DrawFn) -> dict[str, Any]:
    billed = draw(units)
    same_or = lambda other: draw(st.one_of(st.just(other), units))  # noqa: E731 - most columns often equal
    values = {
        "BilledCost": billed,
        "EffectiveCost": same_or(billed),
        "ListCost": same_or(billed),
        "ContractedCost": same_or(billed),
        "PricingQuantity": draw(st.one_of(st.none(), units)),
    }
    values["ConsumedQuantity"] = draw(st.one_of(st.none(), st.just(values["PricingQuantity"]), units))
    values["PricingCurrencyEffectiveCost"] = draw(st.one_of(st.none(), units))
    values["CommitmentDiscountQuantity"] = draw(st.one_of(st.none(), st.just(values["PricingQuantity"]), units))
    pieces = draw(st.integers(1, len(TEAMS)))
    weights = draw(st.lists(st.integers(1, 10**6), min_size=pieces, max_size=pieces))
    return {"units": values, "weights": weights}


def export_pieces(lines: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Decimal | None]]:
    con = connect()
    con.execute(f"create table cost_lines_day ({', '.join(f'{n} {t}' for n, t in STAGED_COST_LINES)})")
    con.execute(
        "create or replace table allocated_lines_day (line_id varchar, allocation_rule varchar, allocation_method "
        "varchar, team varchar, feature varchar, customer varchar, agent varchar, workflow varchar, provider varchar, "
        "model varchar, is_retry boolean, amount decimal(38, 10), line_amount decimal(38, 10), ratio double, "
        "weight varchar, total_weight varchar, driver_input_tokens bigint, driver_output_tokens bigint, "
        "driver_requests bigint, unallocated_reason varchar)"
    )
    con.execute(
        "create table focus_drivers (rule_name varchar, usage_unit varchar, unit_scale decimal(38, 10), driver varchar)"
    )
    for n, line in enumerate(lines):
        line_id = f"line-{n:03d}"
        values = {c: None if u is None else Decimal(u) * UNIT for c, u in line["units"].items()}
        con.execute(
            "insert into cost_lines_day (x_LineId, x_Source, x_SourceFile, x_SourceRow, BillingAccountId, "
            "InvoiceIssuerName, ChargeCategory, ChargePeriodStart, ChargePeriodEnd, PricingUnit, ConsumedUnit, "
            "CommitmentDiscountId, "
            f"CommitmentDiscountStatus, {', '.join(COLUMNS)}) values ($id, 'bill', 'bill.csv', $n, 'acct', 'vendor', "
            "'Usage', "
            f"$day::timestamptz, ($day + 1)::timestamptz, 'Tokens', 'Tokens', 'ri-1', 'Used', "
            f"{', '.join('$' + c for c in COLUMNS)})",
            {"id": line_id, "n": n, "day": DAY, **values},
        )
        total = sum(line["weights"])
        amounts = largest_remainder(line["units"]["EffectiveCost"], line["weights"])
        for team, weight, amount in zip(TEAMS, line["weights"], amounts, strict=False):
            con.execute(
                "insert into allocated_lines_day (line_id, allocation_rule, allocation_method, team, amount, "
                "line_amount, ratio, weight, total_weight) values ($id, 'r', 'fixed', $team, $amount, $line, "
                "$ratio, $weight, $total)",
                {
                    "id": line_id,
                    "team": team,
                    "amount": Decimal(amount) * UNIT,
                    "line": values["EffectiveCost"],
                    "ratio": weight / total,
                    "weight": str(weight),
                    "total": str(total),
                },
            )
    assert build_charges(con, DAY, "EffectiveCost") == []
    run_model(con, "export/focus_pieces")
    rows = con.execute(f"select x_LineId, attribution.team, {', '.join(COLUMNS)} from focus_pieces").fetchall()
    return {(r[0], r[1]): dict(zip(COLUMNS, r[2:], strict=True)) for r in rows}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(charges(), min_size=1, max_size=6))
def test_every_summable_column_splits_by_largest_remainder_to_the_unit(lines: list[dict[str, Any]]) -> None:
    pieces = export_pieces(lines)
    assert len(pieces) == sum(len(line["weights"]) for line in lines)
    for n, line in enumerate(lines):
        for column in COLUMNS:
            total = line["units"][column]
            if column in ("ConsumedQuantity", "CommitmentDiscountQuantity") and total is None:
                # a usage charge consumed what it priced; a usage commitment covered what it priced
                total = line["units"]["PricingQuantity"]
            expected = [None] * len(line["weights"]) if total is None else largest_remainder(total, line["weights"])
            got = [pieces[(f"line-{n:03d}", team)][column] for team in TEAMS[: len(line["weights"])]]
            assert got == [None if e is None else Decimal(e) * UNIT for e in expected], (column, line)
