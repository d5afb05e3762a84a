"""Invariants of allocation over random rules, drivers, vendor usage reports (coverage) and amounts: conservation to
the last unit, no sign flips, byte-identical re-runs, independence from the order of the input rows, and the list
price of the calls carried once by the pieces they split."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.allocation.engine import allocate_day
from assets.config import AllocationConfig
from assets.sql import connect, load_sql, run_sql
from tests.allocation_fixtures import line, load_day

DAY = date(2026, 5, 1)
TEAMS = ["search", "support", "sales", "platform"]
PROVIDERS = ["openai", "anthropic", "pinecone"]
MODELS = ["m1", "m2", None]

amounts = st.decimals(
    min_value=Decimal("-1000000"),
    max_value=Decimal("1000000"),
    places=10,
    allow_nan=False,
    allow_infinity=False,
)
lines = st.lists(
    st.tuples(amounts, st.sampled_from(PROVIDERS), st.sampled_from(MODELS), st.sampled_from([*TEAMS, None])),
    min_size=1,
    max_size=12,
)
calls = st.lists(
    st.tuples(
        st.sampled_from(PROVIDERS),
        st.sampled_from(MODELS),
        st.sampled_from(TEAMS),
        st.decimals(min_value=Decimal(0), max_value=Decimal(50), places=10),
        st.integers(0, 10_000),
    ),
    max_size=20,
)
coverage = st.lists(
    st.tuples(
        st.sampled_from(PROVIDERS),
        st.sampled_from(MODELS),
        st.decimals(min_value=Decimal(0), max_value=Decimal(80), places=10),
        st.integers(0, 20_000),
        st.integers(0, 30),
    ),
    max_size=6,
)


@st.composite
def rule_sets(draw) -> dict:
    rules = []
    for priority in range(draw(st.integers(1, 5))):
        method = draw(st.sampled_from(["usage", "tags", "even", "fixed", "cost"]))
        name = f"r{priority}"
        match = {"x_Provider": draw(st.lists(st.sampled_from(PROVIDERS), min_size=1, unique=True))}
        if method == "usage":
            keys = draw(st.sampled_from([{"x_Provider": "provider"}, {"x_Provider": "provider", "x_Model": "model"}]))
            rule = {"driver": draw(st.sampled_from(["list_cost", "tokens", "requests"])), "join": keys}
        elif method == "tags":
            rule = {"dimensions": {"team": ["tag:team"]}}
        elif method == "cost" and rules:
            rule = {"basis": draw(st.lists(st.sampled_from([r["name"] for r in rules]), min_size=1, unique=True))}
        else:
            targets = draw(st.lists(st.sampled_from(TEAMS), min_size=1, unique=True))
            if method == "fixed":
                raw = draw(st.lists(st.integers(1, 9), min_size=len(targets), max_size=len(targets)))
                weights = [w / sum(raw) for w in raw]
                weights[-1] = 1 - sum(weights[:-1])
                rule = {
                    "method": "fixed",
                    "targets": [{"team": t, "weight": w} for t, w in zip(targets, weights, strict=True)],
                }
            else:
                rule = {"method": "even", "targets": [{"team": t} for t in targets]}
        rules.append({"name": name, "priority": priority, "method": method, "match": match, **rule})
    return {"rules": rules}


def run(config: dict, line_rows: list[dict], call_rows: list[dict]) -> list[tuple]:
    con = connect()
    load_day(con, line_rows, call_rows)
    query = allocate_day(con, AllocationConfig.model_validate(config), DAY, "EffectiveCost", ["vendor_usage"])
    return con.execute(query, {"charge_date": DAY}).fetchall()


def build(line_specs, call_specs, coverage_specs=()):
    line_rows = [
        line(f"L{i}", amount, x_Provider=provider, x_Model=model, Tags={"team": team} if team else None)
        for i, (amount, provider, model, team) in enumerate(line_specs)
    ]
    call_rows = [
        {
            "provider": p,
            "model": m,
            "team": t,
            "list_cost": c,
            "input_tokens": n,
            "output_tokens": n // 3,
            "request_count": 1,
            "x_Source": "usage",
        }
        for p, m, t, c, n in call_specs
    ]
    call_rows += [
        {
            "provider": p,
            "model": m,
            "operation": "chat:bucket",
            "list_cost": c,
            "input_tokens": n,
            "output_tokens": n // 3,
            "request_count": r,
            "x_Source": "vendor_usage",
        }
        for p, m, c, n, r in coverage_specs
    ]
    return line_rows, call_rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=rule_sets(), line_specs=lines, call_specs=calls, coverage_specs=coverage)
def test_every_line_is_conserved_exactly_and_no_piece_flips_its_sign(config, line_specs, call_specs, coverage_specs):
    line_rows, call_rows = build(line_specs, call_specs, coverage_specs)
    result = run(config, line_rows, call_rows)
    amount_of = {r["x_LineId"]: r["EffectiveCost"] for r in line_rows}
    totals: dict[str, Decimal] = {}
    for row in result:
        line_id, amount = row[1], row[15]
        totals[line_id] = totals.get(line_id, Decimal(0)) + amount
        assert amount * amount_of[line_id] >= 0, f"piece {amount} flips the sign of line {line_id}"
    assert totals == amount_of


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=rule_sets(), line_specs=lines, call_specs=calls, coverage_specs=coverage, seed=st.integers(0, 2**32 - 1))
def test_rerun_and_shuffled_inputs_give_identical_output(config, line_specs, call_specs, coverage_specs, seed):
    line_rows, call_rows = build(line_specs, call_specs, coverage_specs)
    first = run(config, line_rows, call_rows)
    shuffled_lines, shuffled_calls = line_rows[:], call_rows[:]
    random.Random(seed).shuffle(shuffled_lines)
    random.Random(seed).shuffle(shuffled_calls)
    assert run(config, line_rows, call_rows) == first
    assert run(config, shuffled_lines, shuffled_calls) == first


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=rule_sets(),
    keys=st.sampled_from([{"x_Provider": "provider"}, {"x_Provider": "provider", "x_Model": "model"}]),
    line_specs=lines,
    call_specs=calls,
    coverage_specs=coverage,
)
def test_list_price_of_the_calls_is_carried_once_and_fact_cost_matches_true_up(
    config, keys, line_specs, call_specs, coverage_specs
):
    """Per rule and key group, the pieces carry the logged calls' list price exactly once, whatever the number of
    lines split over them; fact_cost's true_up_usd sums to true_up's residual per provider, model and day."""
    first = {"name": "llm", "priority": -1, "method": "usage", "match": {}, "driver": "list_cost", "join": keys}
    config = {"rules": [first, *config["rules"]]}
    line_rows, call_rows = build(line_specs, call_specs, coverage_specs)
    con = connect()
    load_day(con, line_rows, call_rows)
    allocation = AllocationConfig.model_validate(config)
    query = allocate_day(con, allocation, DAY, "EffectiveCost", ["vendor_usage"])
    run_sql(con, f"create temp table allocated_lines_day as {query}", {"charge_date": DAY})

    per_line = con.execute(
        "select allocation_rule, line_id, sum(list_price) from allocated_lines_day "
        "where list_price is not null and allocation_rule <> 'unallocated' group by all"
    ).fetchall()
    line_of = {r["x_LineId"]: r for r in line_rows}
    joins = {r.name: r.join or {} for r in allocation.rules}
    groups: dict[tuple, Decimal] = {}
    for rule, line_id, list_price in per_line:
        keys = tuple((usage_key, line_of[line_id][attribute]) for attribute, usage_key in joins[rule].items())
        groups[(rule, keys)] = groups.get((rule, keys), Decimal(0)) + list_price
    for (_rule, keys), list_price in groups.items():
        logged = [c for c in call_rows if c["x_Source"] == "usage" and all(c[k] == v for k, v in keys)]
        assert list_price == sum((c["list_cost"] for c in logged), Decimal(0))

    fact = con.execute(
        "select provider, model, sum(true_up_usd), sum(list_price_usd) from (" + load_sql("marts/fact_cost") + ") "
        "where allocation_rule <> 'telemetry' group by all",
        {"charge_date": DAY, "coverage_sources": ["vendor_usage"]},
    ).fetchall()
    true_up = con.execute(
        "select provider, model, sum(residual_usd), sum(list_priced_usd) from (" + load_sql("marts/true_up") + ") "
        "group by all"
    ).fetchall()
    nonzero = {(p, m): (t, lp) for p, m, t, lp in fact if t or lp}
    assert nonzero == {(p, m): (t, lp) for p, m, t, lp in true_up if t or lp}
