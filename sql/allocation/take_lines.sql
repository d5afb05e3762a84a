-- take_lines: the lines won in this segment of rules (split by allocation/split) are taken: later segments and
-- allocation/unallocated leave them alone
-- reads: lines_day, winning_pieces
-- params: none
-- output: lines_day, updated: taken set on the lines of winning_pieces
update lines_day set taken = true
where line_id in (select line_id from winning_pieces)
