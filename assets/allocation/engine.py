"""Split one day's cost lines over teams, features, customers, agents and workflows.

Each line is taken by the first rule, by priority, that matches it and can split it that day (a `usage` rule
with no usage for the line's keys, a `tags` rule with no team, a `cost` rule whose basis allocated nothing:
all fall through). Lines no rule takes stay whole on `unallocated` with the reason. Pieces are computed in
integer units of 1e-10 with largest-remainder rounding, so the pieces of a line sum to it exactly and each has
the sign of its line.

A `usage` rule also reads the coverage sources (vendor usage reports that count every call served): where they count
more for a line's keys than the logged calls, the excess is one more piece of the line, 'calls never logged', with
no dimensions. Pieces of `list_cost` rules carry the list price of the logged calls behind them (`list_price`).

Inputs are DuckDB views on the connection: `cost_lines_day`, `priced_day`, `usage_metrics_day`.
"""

from collections.abc import Sequence
from datetime import date

import duckdb

from assets.allocation.rules import compile_matches, compile_weights, effective_rules, segments
from assets.config import AllocationConfig, Settings
from assets.lake import Lake, register_day_view, write_parquet
from assets.matching import Params
from assets.schemas import DIMENSIONS, PRICED_USAGE, STAGED_COST_LINES, STAGED_USAGE_METRICS
from assets.sql import connect, load_sql, run_model, run_sql


def load_owners(con: duckdb.DuckDBPyConnection, config: AllocationConfig) -> dict[str, str]:
    """Owner mapping files as tables `owner_<name>` (key plus every dimension); returns owner name → line key."""
    for owner in config.owners:
        present = {
            r[0]
            for r in con.execute(
                "describe select * from read_csv($f, all_varchar = true)", {"f": str(owner.file)}
            ).fetchall()
        }
        dims = ", ".join(f'"{d}"' if d in present else f'null::varchar as "{d}"' for d in DIMENSIONS)
        con.execute(
            f'create or replace temp table "owner_{owner.name}" as '
            f"select distinct on (key) key, {dims} from read_csv($f, all_varchar = true) order by key",
            {"f": str(owner.file)},
        )
    return {owner.name: owner.key for owner in config.owners}


def allocate_day(
    con: duckdb.DuckDBPyConnection,
    config: AllocationConfig,
    day: date,
    cost_metric: str,
    coverage_sources: Sequence[str] = (),
) -> str:
    """Create the temp table `allocated` for `day`; returns the SQL that selects `allocated_lines` from it. Calls of
    `coverage_sources` never split a line: they only count the calls the vendor served."""
    run_model(con, "allocation/lines_day", {"cost_metric": cost_metric})
    run_model(con, "allocation/usage_drivers", {"coverage_sources": list(coverage_sources)})
    owner_keys = load_owners(con, config)
    rules = effective_rules(config, day)
    for segment in segments(rules):
        params = Params()
        matches = compile_matches(segment, params)
        run_sql(con, f"create or replace temp table matched as {matches}", params.values)
        methods = {r.name: r.method for r in segment}
        con.execute(
            "insert into match_log select m.line_id, m.rule_name, m.priority, r.method from matched m "
            "join (select unnest($names) as rule_name, unnest($methods) as method) r using (rule_name)",
            {"names": list(methods), "methods": list(methods.values())},
        )
        params = Params()
        weights = compile_weights(segment, params, owner_keys)
        run_sql(con, f"create or replace temp table candidate_pieces as {weights}", params.values)
        run_model(con, "allocation/winners")
        run_model(con, "allocation/split")
        run_model(con, "allocation/take_lines")
    list_cost_rules = [r.name for r in rules if r.method == "usage" and r.driver == "list_cost"]
    run_model(con, "allocation/unallocated", {"list_cost_rules": list_cost_rules})
    run_model(con, "allocation/list_prices")
    return load_sql("allocation/allocated_lines")


def allocate(settings: Settings, day: date) -> dict[str, int]:
    """Write the `allocated_lines` partition of `day` from its staged cost lines, priced usage and metrics."""
    lake = Lake(settings.app.lake)
    con = connect(memory_limit=settings.app.memory_limit, temp_directory=lake.tmp_dir())
    register_day_view(con, lake, "cost_lines", day, "cost_lines_day", STAGED_COST_LINES)
    register_day_view(con, lake, "priced_usage", day, "priced_day", PRICED_USAGE)
    register_day_view(con, lake, "usage_metrics", day, "usage_metrics_day", STAGED_USAGE_METRICS)
    query = allocate_day(con, settings.allocation, day, settings.app.cost_metric, settings.app.coverage_sources)
    rows = write_parquet(con, query, lake.partition_file("allocated_lines", day), {"charge_date": day})
    unallocated = con.execute("select count(*) from allocated where rule_name = 'unallocated'").fetchall()[0][0]
    con.close()
    return {"pieces": rows, "unallocated_lines": int(unallocated)}
