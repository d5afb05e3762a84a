-- usage_metrics_day: the typed usage metrics of one source measured on $metric_date, with lineage
-- reads: src_staged
-- params: $metric_date, $source
-- output: the rows of the usage_metrics partition of the source and $metric_date
select
    * exclude (_file, _row),
    $source as x_Source,
    parse_filename(_file) as x_SourceFile,
    _row as x_SourceRow
from src_staged
where metric_time::date = $metric_date::date
order by metric_time, x_SourceFile, x_SourceRow
