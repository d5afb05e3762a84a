"""FOCUS's allowed values, and what real exporters write instead, mapped at staging.

Every FOCUS column with a list of allowed values (`ALLOWED`) is normalised on the typed cost lines of a delivery,
whatever kind read them, by one set-based pass (`normalise_vocabulary`): the written value is looked up by its key
(lower case, letters and digits only, so `Usage-based`, `usage based` and `UsageBased` are all `Usage-Based`) in
the table `vocabulary`: FOCUS's own values plus the exporters' variants listed in `focus_values.csv` (OCI's
`Usage-based`, Azure meter sub-categories such as `Standard Page Blob`, FOCUS 1.0-preview names). A value that
changes keeps its original in `x_OriginalValues` (column → value as written). A value with no mapping rejects its
line with file, row, column and value, so it is quarantined at staging and never reaches the FOCUS export.

A `ServiceSubcategory` belongs to one `ServiceCategory`: a line without a category takes its subcategory's; a line
whose subcategory belongs to another category gets `Other (<its category>)`, the original kept. The mapping
tables are documented in docs/focus-export.md.
"""

from pathlib import Path

import duckdb

from assets.ingest.readers import sql_string
from assets.ingest.validate import RAW_VALUE_CHARS

VARIANTS_CSV = Path(__file__).resolve().with_name("focus_values.csv")
"""`column,written,value,exporter,why`: a value an exporter writes, and the FOCUS value it stands for (empty: null)."""

SERVICE_SUBCATEGORIES: dict[str, tuple[str, ...]] = {
    "AI and Machine Learning": (
        "AI Platforms",
        "Bots",
        "Generative AI",
        "Machine Learning",
        "Natural Language Processing",
        "Other (AI and Machine Learning)",
    ),
    "Analytics": (
        "Analytics Platforms",
        "Business Intelligence",
        "Data Processing",
        "Search",
        "Streaming Analytics",
        "Other (Analytics)",
    ),
    "Business Applications": ("Productivity and Collaboration", "Other (Business Applications)"),
    "Compute": (
        "Containers",
        "End User Computing",
        "Quantum Compute",
        "Serverless Compute",
        "Virtual Machines",
        "Other (Compute)",
    ),
    "Databases": (
        "Caching",
        "Data Warehouses",
        "Ledger Databases",
        "NoSQL Databases",
        "Relational Databases",
        "Time Series Databases",
        "Other (Databases)",
    ),
    "Developer Tools": (
        "Developer Platforms",
        "Continuous Integration and Deployment",
        "Development Environments",
        "Source Code Management",
        "Quality Assurance",
        "Other (Developer Tools)",
    ),
    "Identity": ("Identity and Access Management", "Other (Identity)"),
    "Integration": ("API Management", "Messaging", "Workflow Orchestration", "Other (Integration)"),
    "Internet of Things": ("IoT Analytics", "IoT Platforms", "Other (Internet of Things)"),
    "Management and Governance": (
        "Architecture",
        "Compliance",
        "Cost Management",
        "Data Governance",
        "Disaster Recovery",
        "Endpoint Management",
        "Observability",
        "Support",
        "Other (Management and Governance)",
    ),
    "Media": ("Content Creation", "Gaming", "Media Streaming", "Mixed Reality", "Other (Media)"),
    "Migration": ("Data Migration", "Resource Migration", "Other (Migration)"),
    "Mobile": ("Other (Mobile)",),
    "Multicloud": ("Multicloud Integration", "Other (Multicloud)"),
    "Networking": (
        "Application Networking",
        "Content Delivery",
        "Network Connectivity",
        "Network Infrastructure",
        "Network Routing",
        "Network Security",
        "Other (Networking)",
    ),
    "Security": (
        "Secret Management",
        "Security Posture Management",
        "Threat Detection and Response",
        "Other (Security)",
    ),
    "Storage": (
        "Backup Storage",
        "Block Storage",
        "File Storage",
        "Object Storage",
        "Storage Platforms",
        "Other (Storage)",
    ),
    "Web": ("Application Platforms", "Other (Web)"),
    "Other": ("Other (Other)",),
}
"""FOCUS 1.2/1.3 ServiceCategory → its ServiceSubcategory values (19 categories, 82 subcategories)."""

ALLOWED: dict[str, tuple[str, ...]] = {
    "ChargeCategory": ("Adjustment", "Credit", "Purchase", "Tax", "Usage"),
    "ChargeClass": ("Correction",),
    "ChargeFrequency": ("One-Time", "Recurring", "Usage-Based"),
    "PricingCategory": ("Committed", "Dynamic", "Other", "Standard"),
    "CommitmentDiscountCategory": ("Spend", "Usage"),
    "CommitmentDiscountStatus": ("Used", "Unused"),
    "CapacityReservationStatus": ("Used", "Unused"),
    "ServiceCategory": tuple(SERVICE_SUBCATEGORIES),
    "ServiceSubcategory": tuple(s for subs in SERVICE_SUBCATEGORIES.values() for s in subs),
}
"""The FOCUS (1.0–1.4) cost line columns with a list of allowed values, and the values."""

KEY = "regexp_replace(lower({}), '[^a-z0-9]', '', 'g')"
"""SQL: the key a written value is looked up by (case, spaces and punctuation ignored)."""

REASON = "no FOCUS mapping for this value: add it to assets/ingest/focus_values.csv"


class VocabularyError(ValueError):
    """focus_values.csv maps a value to one FOCUS does not allow, or one key to two values."""


def register_vocabulary(con: duckdb.DuckDBPyConnection) -> None:
    """The temp tables `focus_allowed(column_name, value)`, FOCUS's allowed values, and `vocabulary(column_name,
    value_key, value)`: those and the variants of `focus_values.csv` by key, each with its FOCUS value (null for a
    value that stands for null). Raises `VocabularyError` for a variant whose value FOCUS does not allow, or a key
    with two values."""
    con.execute("create or replace temp table focus_allowed (column_name varchar, value varchar)")
    con.executemany(
        "insert into focus_allowed values (?, ?)",
        [(column, value) for column, values in ALLOWED.items() for value in values],
    )
    variants = (
        f"read_csv({sql_string(str(VARIANTS_CSV))}, header = true, auto_detect = false, delim = ',', quote = '\"', "
        "escape = '\"', columns = {'column': 'varchar', 'written': 'varchar', 'value': 'varchar', "
        "'exporter': 'varchar', 'why': 'varchar'})"
    )
    bad = con.execute(
        f"select v.column, v.written, v.value from {variants} v "
        "left join focus_allowed a on a.column_name = v.column and a.value = v.value "
        "where v.value is not null and a.value is null"
    ).fetchall()
    if bad:
        raise VocabularyError(f"{VARIANTS_CSV.name}: not a FOCUS value of its column: {bad}")
    con.execute(
        f"""
        create or replace temp table vocabulary as
        select distinct column_name, {KEY.format("value")} as value_key, value from focus_allowed
        union
        select v.column, {KEY.format("v.written")}, v.value from {variants} v
        """
    )
    clash = con.execute(
        "select column_name, value_key, list(value) from vocabulary group by all having count(*) > 1"
    ).fetchall()
    if clash:
        raise VocabularyError(f"{VARIANTS_CSV.name}: one written value maps to two FOCUS values: {clash}")


def _q(name: str) -> str:
    return '"' + name + '"'


def _map(pairs: list[tuple[str, str | None]]) -> str:
    """A SQL MAP(VARCHAR, VARCHAR) literal."""
    entries = ", ".join(f"{sql_string(k)}: {'null' if v is None else sql_string(v)}" for k, v in pairs)
    return f"(map {{{entries}}}::map(varchar, varchar))"


PARENTS = _map([(s, c) for c, subs in SERVICE_SUBCATEGORIES.items() for s in subs])
"""SQL: FOCUS subcategory → its category."""

MISFIT = f"ServiceSubcategory is not null and coalesce({PARENTS}[ServiceSubcategory] <> ServiceCategory, true)"
"""SQL over typed lines: the subcategory is not one of the line's category (or the line has none, or it is not
FOCUS's)."""


def normalise_vocabulary(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Give the typed cost lines `table` (made by `assets.ingest.validate.cast_table`) FOCUS's value in every `ALLOWED`
    column, keep what changed in `x_OriginalValues`, and reject (`_failure`, when the line has no fault yet) a line
    whose value has no mapping, naming the column and value.

    The distinct values written are looked up in `vocabulary` once each (`written_values`, a join); what changes is
    then applied to every line by one projection (a map lookup per column), which keeps the lines in file order.
    A delivery already all in FOCUS's values (what the cloud kinds stage) is only read."""
    register_vocabulary(con)
    distinct = " union all ".join(
        f"select distinct '{c}' as column_name, {_q(c)} as written from {table} where {_q(c)} is not null"
        for c in ALLOWED
    )
    con.execute(
        f"""
        create or replace temp table written_values as
        select w.column_name, w.written, v.value, v.value_key is not null as known
        from ({distinct}) w
        left join vocabulary v on v.column_name = w.column_name and v.value_key = {KEY.format("w.written")}
        where v.value_key is null or v.value is distinct from w.written
        """
    )
    known: dict[str, list[tuple[str, str | None]]] = {}
    unknown: dict[str, list[tuple[str, None]]] = {}
    for column, written, value, is_known in con.execute("select * from written_values order by all").fetchall():
        (known if is_known else unknown).setdefault(column, []).append((written, value))
    misfits = con.execute(f"select count(*) from {table} where {MISFIT}").fetchall()[0][0]
    if not known and not unknown and not misfits:
        return
    mapped = ", ".join(
        f"case when map_contains({_map(pairs)}, {_q(c)}) then {_map(pairs)}[{_q(c)}] else {_q(c)} end as {_q(c)}"
        for c, pairs in known.items()
    )
    # in ALLOWED's order: a line is rejected for its first column with no mapping
    rejects = " ".join(
        f"when list_contains([{', '.join(sql_string(w) for w, _ in unknown[c])}], {_q(c)}) "
        f"then struct_pack(col := '{c}', why := '{REASON}', val := left({_q(c)}, {RAW_VALUE_CHARS}))"
        for c in ALLOWED
        if c in unknown
    )
    # the columns that can change: those with a value to map, and the service's two when a subcategory misfits
    changing = [c for c in ALLOWED if c in known or (misfits and c in ("ServiceCategory", "ServiceSubcategory"))]
    changes = ", ".join(
        f"struct_pack(k := '{c}', v := case when {_q(c)} is distinct from __o_{c} then __o_{c} end)" for c in changing
    )
    kept = ", ".join(f"{_q(c)} as __o_{c}" for c in changing)
    con.execute(
        f"""
        create or replace temp table __vocabulary_out as
        with mapped as (
            select * {f"replace ({mapped})" if mapped else ""}{f", {kept}" if kept else ""} from {table}
        ),
        fitted as (
            -- a subcategory belongs to one category: a line without one takes it, a line of another its `Other (…)`
            select * replace (
                coalesce(ServiceCategory, {PARENTS}[ServiceSubcategory]) as ServiceCategory,
                case
                    when ServiceCategory is not null and {MISFIT} and {PARENTS}[ServiceSubcategory] is not null
                        then 'Other (' || ServiceCategory || ')'
                    else ServiceSubcategory
                end as ServiceSubcategory
            )
            from mapped
        ),
        changed as (
            select *, {f"list_filter([{changes}], lambda e: e.v is not null)" if changes else "[]"}
                ::struct(k varchar, v varchar)[] as __changes
            from fitted
        )
        select * exclude (__changes{"".join(f", __o_{c}" for c in changing)}) replace (
            {f"coalesce(_failure, case {rejects} end)" if rejects else "_failure"} as _failure,
            case
                when len(__changes) = 0 then x_OriginalValues
                else map_concat(coalesce(x_OriginalValues, map()::map(varchar, varchar)), map_from_entries(__changes))
            end as x_OriginalValues
        )
        from changed
        """
    )
    con.execute(f"drop table {table}")
    con.execute(f"alter table __vocabulary_out rename to {table}")
