"""The demo generator plants near-duplicate prompts: reworded variants of recurring prompts, with their own prompt
hash and a SimHash at most two bits from the original's; every other prompt's SimHash is far from all the others."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from assets.sql import connect
from sample_data import generate


def test_the_generator_writes_simhashes_with_planted_near_duplicates(tmp_path: Path):
    generate(tmp_path, start=date(2026, 11, 1), days=1, calls_per_day=3_000, seed=3)
    with connect() as con:
        con.execute(
            "create table prompts as select distinct prompt_hash, prompt_simhash as simhash, operation "
            f"from read_json('{tmp_path}/usage/2026-11-01/calls.jsonl', columns = {{prompt_hash: 'varchar', "
            "prompt_simhash: 'ubigint', operation: 'varchar'}) where prompt_hash is not null"
        )
        (distinct, without) = con.execute(
            "select count(distinct prompt_hash), count(*) filter (where simhash is null) from prompts"
        ).fetchall()[0]
        distances = dict(
            con.execute(
                "select least(bit_count(xor(a.simhash, b.simhash)), 3) as bits, count(*) from prompts a "
                "inner join prompts b on a.prompt_hash < b.prompt_hash group by all"
            ).fetchall()
        )
    assert without == 0 and distinct > 500  # every prompt of the canonical log has one SimHash
    assert distances.get(0, 0) + distances.get(1, 0) + distances.get(2, 0) > 10  # planted variants
    assert distances[3] > 1000 * (distances.get(0, 0) + distances.get(1, 0) + distances.get(2, 0))
