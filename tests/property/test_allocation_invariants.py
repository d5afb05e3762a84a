"""Invariants of allocation over random rules, drivers and amounts: conservation to the last unit, no sign
flips, byte-identical re-runs, and independence from the order of the input rows."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.allocation.engine import allocate_day
from assets.sql import connect
from pipelines.config import AllocationConfig
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
    query = allocate_day(con, AllocationConfig.model_validate(config), DAY, "EffectiveCost")
    return con.execute(query, {"charge_date": DAY}).fetchall()


def build(line_specs, call_specs):
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
    return line_rows, call_rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=rule_sets(), line_specs=lines, call_specs=calls)
def test_every_line_is_conserved_exactly_and_no_piece_flips_its_sign(config, line_specs, call_specs):
    line_rows, call_rows = build(line_specs, call_specs)
    result = run(config, line_rows, call_rows)
    amount_of = {r["x_LineId"]: r["EffectiveCost"] for r in line_rows}
    totals: dict[str, Decimal] = {}
    for row in result:
        line_id, amount = row[1], row[15]
        totals[line_id] = totals.get(line_id, Decimal(0)) + amount
        assert amount * amount_of[line_id] >= 0, f"piece {amount} flips the sign of line {line_id}"
    assert totals == amount_of


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=rule_sets(), line_specs=lines, call_specs=calls, seed=st.integers(0, 2**32 - 1))
def test_rerun_and_shuffled_inputs_give_identical_output(config, line_specs, call_specs, seed):
    line_rows, call_rows = build(line_specs, call_specs)
    first = run(config, line_rows, call_rows)
    shuffled_lines, shuffled_calls = line_rows[:], call_rows[:]
    random.Random(seed).shuffle(shuffled_lines)
    random.Random(seed).shuffle(shuffled_calls)
    assert run(config, line_rows, call_rows) == first
    assert run(config, shuffled_lines, shuffled_calls) == first
