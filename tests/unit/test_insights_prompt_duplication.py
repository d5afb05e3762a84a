"""Prompt duplication: planted exact and near-duplicate prompts are counted with the savings a cache would give."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from assets.marts.insights import band_masks
from assets.marts.insights_config import Duplicates, InsightsConfig
from tests.insights_fixtures import at, call, fact, mart, read_mart, write_lake

DAY = date(2026, 11, 3)
NEXT = DAY + timedelta(days=1)
SIMHASH = 0x0123_4567_89AB_CDEF


def planted() -> list[dict]:
    kb = {"team": "support", "feature": "kb_answer"}
    return [
        # the same prompt four times on gpt-4o: hits at 10:00 and 11:00; the next day's is 25 h after the last success
        call(at(DAY, 9), "0.02", prompt_hash="dup", **kb),
        call(at(DAY, 10), "0.02", prompt_hash="dup", **kb),
        call(at(DAY, 11), "0.03", prompt_hash="dup", **kb),
        call(at(NEXT, 12), "0.02", prompt_hash="dup", **kb),
        # on another model it is a first sight
        call(at(DAY, 10, 30), "0.001", prompt_hash="dup", model="gpt-4o-mini", **kb),
        # a failed call leaves nothing to cache: only the repeat after a success is a hit
        call(at(DAY, 9), "0.01", prompt_hash="err", status="error", **kb),
        call(at(DAY, 9, 30), "0.01", prompt_hash="err", **kb),
        call(at(DAY, 9, 45), "0.01", prompt_hash="err", **kb),
        # near duplicates: 2 bits from an earlier prompt is a near hit, 5 (and 7) bits is not
        call(at(DAY, 13), "0.05", prompt_hash="a", prompt_simhash=SIMHASH, **kb),
        call(at(DAY, 14), "0.05", prompt_hash="b", prompt_simhash=SIMHASH ^ 0b101, **kb),
        call(at(DAY, 15), "0.05", prompt_hash="c", prompt_simhash=SIMHASH ^ (0b11111 << 20), **kb),
    ]


def test_a_planted_duplicate_prompt_is_counted_with_the_savings_at_its_dated_prices(tmp_path):
    lake = write_lake(tmp_path, calls=planted(), facts=[fact(NEXT, "1")])

    rows = {(r["model"], r["prompt_hash"]): r for r in mart(lake, "repeated_prompts")}

    assert set(rows) == {("gpt-4o", "dup"), ("gpt-4o", "err")}
    dup = rows[("gpt-4o", "dup")]
    assert (dup["calls"], dup["cache_hits"], dup["first_seen"], dup["last_seen"]) == (4, 2, DAY, NEXT)
    assert (dup["savings_usd"], dup["list_usd"], dup["features"]) == (Decimal("0.05"), Decimal("0.09"), "kb_answer")
    err = rows[("gpt-4o", "err")]
    assert (err["calls"], err["cache_hits"], err["savings_usd"]) == (3, 1, Decimal("0.01"))


def test_daily_duplication_counts_exact_and_near_duplicates_and_their_savings(tmp_path):
    lake = write_lake(tmp_path, calls=planted(), facts=[fact(NEXT, "1")])

    mart(lake, "prompt_duplication")
    day = read_mart(lake, "prompt_duplication", f"charge_date = '{DAY}' and model = 'gpt-4o'")[0]

    assert (day["calls"], day["prompts"], day["exact_repeat_calls"], day["near_duplicate_calls"]) == (9, 5, 3, 1)
    assert day["exact_savings_usd"] == Decimal("0.06")
    assert day["near_savings_usd"] == Decimal("0.05")
    assert day["list_usd"] == Decimal("0.25")
    assert day["savings_share"] == Decimal("0.44")
    next_day = read_mart(lake, "prompt_duplication", f"charge_date = '{NEXT}'")[0]
    assert (next_day["exact_repeat_calls"], next_day["exact_savings_usd"]) == (0, Decimal(0))


def test_a_shorter_cache_ttl_serves_fewer_repeats(tmp_path):
    lake = write_lake(tmp_path, calls=planted(), facts=[fact(NEXT, "1")])
    config = InsightsConfig(duplicates=Duplicates(cache_ttl_hours=0.5))

    rows = {(r["model"], r["prompt_hash"]): r for r in mart(lake, "repeated_prompts", config)}

    assert rows[("gpt-4o", "dup")]["cache_hits"] == 0
    assert rows[("gpt-4o", "err")]["cache_hits"] == 1


def test_every_pair_within_max_distance_shares_the_masked_bits_of_some_mask():
    rng = random.Random(7)
    for duplicates in (Duplicates(max_distance=3, blocks=6), Duplicates(max_distance=1, blocks=2)):
        masks = band_masks(duplicates)
        assert all(bin(m).count("1") >= 64 - 64 * duplicates.max_distance // duplicates.blocks - 4 for m in masks)
        for _ in range(2000):
            a = rng.getrandbits(64)
            b = a
            for bit in rng.sample(range(64), rng.randint(0, duplicates.max_distance)):
                b ^= 1 << bit
            assert any(a & m == b & m for m in masks)
