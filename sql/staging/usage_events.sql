-- usage_events_day: the typed calls of one source that happened on $event_date, with lineage
select
    * exclude (_file, _row),
    $source as x_Source,
    parse_filename(_file) as x_SourceFile,
    _row as x_SourceRow
from src_staged
where event_time::date = $event_date::date
order by event_time, x_SourceFile, x_SourceRow
