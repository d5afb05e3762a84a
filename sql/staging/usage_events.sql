-- usage_events_day: the calls of one source that happened on $event_date, each once, with lineage. Rows keep the
-- order of the files (src_typed is filled file by file; a filter keeps the order), so a re-run writes the same
-- bytes without sorting every call
select
    * exclude (_file, _row, _failure, _repeat),
    $source as x_Source,
    parse_filename(_file) as x_SourceFile,
    _row as x_SourceRow
from src_typed
where _failure is null and not _repeat and event_time::date = $event_date::date
