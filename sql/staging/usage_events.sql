-- usage_events_day: the calls of one source that happened on $event_date, each once, with lineage. Rows keep the
-- order of the files (src_typed is filled file by file; a filter keeps the order), so a re-run writes the same
-- bytes without sorting every call. A successful call that reported no tokens is flagged usage_missing, one that
-- reported only input or only output (an embedding has no output) usage_partial: staged, counted, never taken as free
-- reads: src_typed
-- params: $event_date, $source
-- output: the rows of the usage_events partition of the source and $event_date
select
    * exclude (_file, _row, _failure, _repeat) replace (
        case
            when operation = 'vector_query' or coalesce(status, 'ok') <> 'ok' or request_count = 0 then null
            when input_tokens is null and output_tokens is null then 'usage_missing'
            when input_tokens is null
                or (output_tokens is null and split_part(operation, ':', 1) not in ('embeddings', 'moderation', 'rerank'))
                then 'usage_partial'
        end as usage_flag
    ),
    $source as x_Source,
    parse_filename(_file) as x_SourceFile,
    _row as x_SourceRow
from src_typed
where _failure is null and not _repeat and event_time::date = $event_date::date
