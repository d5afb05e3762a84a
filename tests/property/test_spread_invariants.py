"""Invariants of spreading a line over its days by a usage driver, through the staging SQL itself: for any amount
(credits, amounts of one unit) and any non-negative daily driver, the days' shares sum to the amount exactly and
none has the opposite sign; each day is computed alone, from the driver of the period."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.schemas import COST_LINES
from assets.sql import connect, run_model

FIRST = date(2026, 11, 1)

amounts = st.one_of(
    st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=10, allow_nan=False, allow_infinity=False),
    st.sampled_from([Decimal("1e-10"), Decimal("-1e-10"), Decimal("3e-10"), Decimal(0)]),
)
# daily drivers of a few requests, of many tokens, and beyond 1e18 units a period (counted in coarser units)
drivers = st.lists(
    st.one_of(st.integers(0, 5), st.integers(0, 10**12), st.integers(0, 10**20), st.just(0)),
    min_size=1,
    max_size=12,
)


def day_shares(amount: Decimal, driver: list[int]) -> list[tuple[Decimal, str]]:
    """(EffectiveCost, x_SpreadMethod) of each day of a line over len(driver) days, each day staged on its own."""
    last = FIRST + timedelta(days=len(driver) - 1)
    con = connect(threads=1)
    values = {
        "BilledCost": "$amount",
        "EffectiveCost": "$amount",
        "BillingCurrency": "'USD'",
        "ChargePeriodStart": "$first",
        "ChargePeriodEnd": "$end",
    }
    columns = ", ".join(f'{values.get(c.name, "null")}::{c.type} as "{c.name}"' for c in COST_LINES)
    con.execute(
        f"create temp table src_staged as select 'f.csv' as _file, 1::bigint as _row, {columns}",
        {"first": FIRST, "end": last + timedelta(days=1), "amount": amount},
    )
    con.execute("create temp table usage_spread_lines as select _file, _row from src_staged")
    con.execute("create temp table fx_rates (rate_date date, currency varchar, rate decimal(38, 10))")
    con.execute(
        "create temp table spread_driver as select $first::date + i::integer as usage_date, units::hugeint as units "
        "from (select unnest(range(len($units))) as i, unnest($units) as units) where units > 0",
        {"first": FIRST, "units": driver},
    )
    days = [FIRST + timedelta(days=i) for i in range(len(driver))]
    out = []
    for day in days:
        spread = {"charge_date": day, "spread_driver": "requests", "staged_days": days}
        run_model(con, "staging/line_spread", spread)
        run_model(con, "staging/day_fx", {"charge_date": day, "max_fx_age_days": 7})
        run_model(
            con,
            "staging/cost_lines",
            {"charge_date": day, "reporting_currency": "USD", "max_fx_age_days": 7, "source": "s"},
        )
        ((share, method),) = con.execute("select EffectiveCost, x_SpreadMethod from cost_lines_candidates").fetchall()
        out.append((share, method))
    con.close()
    return out


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(amounts, drivers)
def test_shares_sum_to_the_amount_exactly_and_never_flip_its_sign(amount: Decimal, driver: list[int]):
    shares = day_shares(amount, driver)
    assert sum(s for s, _ in shares) == amount
    assert all(s == 0 or (s > 0) == (amount > 0) for s, _ in shares)
    total = sum(driver)
    if total:
        assert {m for _, m in shares} == {"usage:requests"}
        # a day without usage gets nothing; the share follows the driver to within one unit of rounding
        for (share, _), units in zip(shares, driver, strict=True):
            if units == 0:
                assert share == 0
            assert abs(share - amount * units / total) <= Decimal("1e-10")
    else:
        assert {m for _, m in shares} == {"even:no_usage"}
