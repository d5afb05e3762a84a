"""Source kinds: each module turns one kind of source file into text rows of a staging schema.

Adding a kind is one module here and one entry in `SOURCE_KINDS`; its `options_model` (`assets.ingest.options`)
checks its options when the config loads. Casting and rejecting is shared (`assets.ingest.validate`), so every kind
gets the same file/row/column errors and quarantine. A kind imports its cloud SDK only inside the functions that call
it, so that loading the config (which reads this registry) loads none.
"""

from __future__ import annotations

from assets.ingest.anthropic_admin import ANTHROPIC_COSTS, ANTHROPIC_USAGE
from assets.ingest.aws_cur import AWS_CUR
from assets.ingest.azure_export import AZURE_EXPORT
from assets.ingest.azure_query import AZURE_COST_QUERY
from assets.ingest.base import SourceKind
from assets.ingest.bedrock_logs import BEDROCK_INVOCATION_LOGS
from assets.ingest.focus import FOCUS
from assets.ingest.gcp_billing import GCP_BIGQUERY, GCP_BILLING_FILE
from assets.ingest.invoices import INVOICE_LINES
from assets.ingest.langfuse import LANGFUSE_OBSERVATIONS
from assets.ingest.litellm import LITELLM_SPENDLOGS
from assets.ingest.openai_admin import OPENAI_COSTS, OPENAI_USAGE
from assets.ingest.otlp import OTLP_JSON
from assets.ingest.usage_canonical import USAGE_JSONL, USAGE_PARQUET
from assets.ingest.usage_metrics import USAGE_METRICS_KIND

SOURCE_KINDS: dict[str, SourceKind] = {
    kind.name: kind
    for kind in (
        FOCUS,
        USAGE_JSONL,
        USAGE_PARQUET,
        OTLP_JSON,
        USAGE_METRICS_KIND,
        AWS_CUR,
        AZURE_EXPORT,
        AZURE_COST_QUERY,
        GCP_BIGQUERY,
        GCP_BILLING_FILE,
        OPENAI_COSTS,
        OPENAI_USAGE,
        ANTHROPIC_COSTS,
        ANTHROPIC_USAGE,
        LITELLM_SPENDLOGS,
        LANGFUSE_OBSERVATIONS,
        BEDROCK_INVOCATION_LOGS,
        INVOICE_LINES,
    )
}
