-- usage_events_day: the calls of one source that happened on $event_date, each once, with lineage
select
    * exclude (_file, _row, seen, first_file, first_row),
    $source as x_Source,
    parse_filename(_file) as x_SourceFile,
    _row as x_SourceRow
from usage_events_candidates
where seen = 1
order by event_time, x_SourceFile, x_SourceRow
