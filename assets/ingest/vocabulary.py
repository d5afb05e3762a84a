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
    """The temp table `vocabulary(column_name, value_key, value, parent)`: FOCUS's allowed values and the variants of
    `focus_values.csv`, each with its FOCUS value (null for a value that stands for null) and, for a subcategory, its
    category. Raises `VocabularyError` for a variant whose value FOCUS does not allow, or a key with two values."""
    parents = {s: c for c, subs in SERVICE_SUBCATEGORIES.items() for s in subs}
    con.execute("create or replace temp table focus_allowed (column_name varchar, value varchar, parent varchar)")
    con.executemany(
        "insert into focus_allowed values (?, ?, ?)",
        [
            (column, value, parents.get(value) if column == "ServiceSubcategory" else None)
            for column, values in ALLOWED.items()
            for value in values
        ],
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
        select distinct column_name, {KEY.format("value")} as value_key, value, parent from focus_allowed
        union
        select v.column, {KEY.format("v.written")}, v.value, a.parent
        from {variants} v left join focus_allowed a on a.column_name = v.column and a.value = v.value
        """
    )
    clash = con.execute(
        "select column_name, value_key, list(value) from vocabulary group by all having count(*) > 1"
    ).fetchall()
    if clash:
        raise VocabularyError(f"{VARIANTS_CSV.name}: one written value maps to two FOCUS values: {clash}")


def _q(name: str) -> str:
    return '"' + name + '"'


def normalise_vocabulary(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Rewrite the typed cost lines `table` (made by `assets.ingest.validate.cast_table`) with every `ALLOWED`
    column's FOCUS value, its original in `x_OriginalValues`, and a line whose value has no mapping rejected
    (`_failure`, when it has no fault yet) naming the column and value."""
    register_vocabulary(con)
    joins = "".join(
        f" left join vocabulary {_q('m_' + c)} on {_q('m_' + c)}.column_name = '{c}' "
        f"and {_q('m_' + c)}.value_key = {KEY.format('t.' + _q(c))}"
        for c in ALLOWED
    )
    mapped = ", ".join(
        f"case when {_q('m_' + c)}.value_key is null then t.{_q(c)} else {_q('m_' + c)}.value end as {_q(c)}"
        for c in ALLOWED
    )
    unmapped = " ".join(
        f"when t.{_q(c)} is not null and {_q('m_' + c)}.value_key is null "
        f"then struct_pack(col := '{c}', why := '{REASON}', val := left(t.{_q(c)}, {RAW_VALUE_CHARS}))"
        for c in ALLOWED
    )
    originals = ", ".join(
        f"struct_pack(k := '{c}', v := case when {_q('__o_' + c)} is distinct from {_q(c)} then {_q('__o_' + c)} end)"
        for c in ALLOWED
    )
    kept = ", ".join(f"t.{_q(c)} as {_q('__o_' + c)}" for c in ALLOWED)
    # rows keep their order (file order, see `assets.staging.read_files`) through the joins by the table's rowid
    con.execute(
        f"""
        create or replace temp table __vocabulary_out as
        with mapped as (
            select
                t.* replace ({mapped}, coalesce(t._failure, case {unmapped} end) as _failure),
                {_q("m_ServiceSubcategory")}.parent as __parent,
                {kept},
                t.rowid as __rowid
            from {table} t{joins}
        ),
        subcategories as (
            select
                * replace (
                    coalesce("ServiceCategory", __parent) as "ServiceCategory",
                    case
                        when __parent is null or "ServiceCategory" is null or __parent = "ServiceCategory"
                            then "ServiceSubcategory"
                        else 'Other (' || "ServiceCategory" || ')'
                    end as "ServiceSubcategory"
                )
            from mapped
        ),
        originals as (
            select *, list_filter([{originals}], lambda e: e.v is not null) as __originals from subcategories
        )
        select * exclude (__parent, __rowid, __originals, {", ".join(_q("__o_" + c) for c in ALLOWED)}) replace (
            case when len(__originals) > 0 then map_from_entries(__originals) else "x_OriginalValues" end
                as "x_OriginalValues"
        )
        from originals
        order by __rowid
        """
    )
    con.execute(f"drop table {table}")
    con.execute(f"alter table __vocabulary_out rename to {table}")
