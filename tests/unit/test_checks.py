"""The invariant checks catch what they guard against: money created or lost, a flipped sign, unbalanced rows."""

from __future__ import annotations

from datetime import date

from assets.checks import INVARIANTS, find_violations
from assets.lake import Lake, write_parquet
from assets.sql import connect

DAY = date(2026, 11, 1)


def write_pieces(lake: Lake, pieces: list[tuple[str, str, str]]) -> None:
    values = ", ".join(
        f"('{line}', {amount}::decimal(38,10), {total}::decimal(38,10))" for line, amount, total in pieces
    )
    with connect() as con:
        write_parquet(
            con,
            f"select * from (values {values}) t(line_id, amount, line_amount)",
            lake.partition_file("allocated_lines", DAY),
        )


def violations(lake: Lake, name: str) -> list[tuple]:
    return find_violations(lake, INVARIANTS[name], [DAY])


def test_conserved_pieces_pass(tmp_path):
    lake = Lake(tmp_path)
    write_pieces(lake, [("a", "0.3333333334", "1"), ("a", "0.6666666666", "1"), ("b", "-2", "-2")])
    assert violations(lake, "pieces_conserve_each_line") == []


def test_a_lost_unit_is_a_violation(tmp_path):
    lake = Lake(tmp_path)
    write_pieces(lake, [("a", "0.3333333333", "1"), ("a", "0.6666666666", "1")])
    assert [v[1] for v in violations(lake, "pieces_conserve_each_line")] == ["a"]


def test_a_piece_with_the_opposite_sign_is_a_violation_even_when_the_sum_holds(tmp_path):
    lake = Lake(tmp_path)
    write_pieces(lake, [("a", "1.5", "1"), ("a", "-0.5", "1")])
    assert [v[1] for v in violations(lake, "pieces_conserve_each_line")] == ["a"]


def test_nonzero_reconciliation_difference_is_a_violation(tmp_path):
    lake = Lake(tmp_path)
    with connect() as con:
        write_parquet(
            con,
            "select * from (values ('bill', 10::decimal(38,10), 9.99::decimal(38,10), 0::decimal(38,10), "
            "0.01::decimal(38,10))) t(source, source_total, allocated, unallocated, difference)",
            lake.partition_file("reconciliation", DAY),
        )
    assert [v[1] for v in violations(lake, "reconciliation_difference_is_zero")] == ["bill"]


def test_no_data_for_the_day_is_no_violation(tmp_path):
    assert violations(Lake(tmp_path), "rows_in_equal_rows_out") == []
