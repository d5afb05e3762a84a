-- mark_repeats: the calls of usage_events_duplicates flagged in src_typed (`_repeat`), so that usage_events leaves
-- them out (day_rejected_usage quarantines them)
-- reads: src_typed, usage_events_duplicates
-- params: none
-- output: script: src_typed with the column _repeat (added if missing), true on the repeats

-- the repeats are marked where they are rather than filtered out by a join, which would not keep the rows' order
alter table src_typed add column if not exists _repeat boolean default false;

update src_typed set _repeat = true
from usage_events_duplicates d
where src_typed._file = d._file and src_typed._row = d._row
