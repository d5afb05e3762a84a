"""The fixed world of the sample data: teams, keys, features, customers, agents, models, cloud resources.

Names here are a contract: config files and tests elsewhere refer to them exactly. Indices into the tuples
below are what the vectorised generator draws; strings are looked up only when a chunk becomes a frame.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache

import numpy as np

TEAMS = ("search", "support", "sales", "platform", "research", "growth")
API_KEYS = {team: f"key_{team}" for team in TEAMS}
ORPHAN_KEY = "key_orphan"
"""An API key nobody owns: it shows up in the vendor bills and nowhere in the telemetry."""


@dataclass(frozen=True)
class Model:
    provider: str
    name: str | None
    operation: str
    request_prefix: str
    latency_base_ms: float
    latency_per_output_token_ms: float
    caching: str | None = None
    """`openai` (automatic prefix cache reads) or `anthropic` (explicit reads and 5m/1h writes)."""
    reasoning_share: float = 0.0
    """Share of calls that spend part of their output on extended thinking."""
    service_tier: str | None = None


MODELS: tuple[Model, ...] = (
    Model("openai", "gpt-4o", "chat", "chatcmpl-", 350, 12, "openai", service_tier="default"),
    Model("openai", "gpt-4o-mini", "chat", "chatcmpl-", 220, 6, "openai", service_tier="default"),
    Model("openai", "text-embedding-3-small", "embeddings", "emb-", 60, 0, service_tier="default"),
    Model("anthropic", "claude-sonnet-4-5", "chat", "msg_", 550, 15, "anthropic", 0.3, "standard"),
    Model("anthropic", "claude-haiku-4-5", "chat", "msg_", 260, 7, "anthropic", service_tier="standard"),
    Model("aws", "anthropic.claude-3-5-sonnet-20240620-v1:0", "chat", "bedrock-", 650, 16),
    Model("aws", "anthropic.claude-3-haiku-20240307-v1:0", "chat", "bedrock-", 300, 8),
    Model("self-hosted", "llama-3.1-70b", "chat", "vllm-", 160, 20),
    Model("pinecone", None, "vector_query", "pc-", 25, 0),
)
M = {m.name or m.operation: i for i, m in enumerate(MODELS)}
"""Model index by model name (`vector_query` for the model-less Pinecone query)."""
VECTOR_QUERY = M["vector_query"]


@dataclass(frozen=True)
class Feature:
    name: str
    team: str
    has_customer: bool
    standalone_weight: float
    """Share of the calls made outside agent workflows; 0 for features only agents serve."""
    models: tuple[tuple[str, float], ...] = ()
    mean_input: float = 0.0
    mean_output: float = 0.0


FEATURES: tuple[Feature, ...] = (
    Feature("semantic_search", "search", True, 0.12, (("text-embedding-3-small", 0.5), ("vector_query", 0.5)), 150),
    Feature("query_rewrite", "search", True, 0.12, (("gpt-4o-mini", 1.0),), 400, 60),
    Feature("ticket_triage", "support", True, 0.12, (("claude-haiku-4-5", 1.0),), 1200, 40),
    Feature("reply_draft", "support", True, 0.0),
    Feature("kb_answer", "support", True, 0.10, (("claude-sonnet-4-5", 0.6), ("gpt-4o", 0.4)), 4000, 500),
    Feature(
        "lead_scoring",
        "sales",
        True,
        0.08,
        (("anthropic.claude-3-haiku-20240307-v1:0", 0.7), ("anthropic.claude-3-5-sonnet-20240620-v1:0", 0.3)),
        1500,
        30,
    ),
    Feature("email_outreach", "sales", True, 0.0),
    Feature(
        "eval_harness",
        "platform",
        False,
        0.08,
        (("llama-3.1-70b", 0.5), ("gpt-4o", 0.25), ("claude-sonnet-4-5", 0.25)),
        3000,
        300,
    ),
    Feature(
        "doc_summarize",
        "research",
        True,
        0.10,
        (("llama-3.1-70b", 0.7), ("claude-haiku-4-5", 0.3)),
        8000,
        600,
    ),
    Feature("paper_qa", "research", True, 0.0),
    Feature("onboarding_chat", "growth", True, 0.14, (("gpt-4o-mini", 0.6), ("claude-haiku-4-5", 0.4)), 2000, 250),
    Feature("churn_insights", "growth", False, 0.04, (("gpt-4o", 1.0),), 6000, 800),
)
F = {f.name: i for i, f in enumerate(FEATURES)}

N_CUSTOMERS = 150
CUSTOMERS = tuple(f"cust_{i:04d}" for i in range(1, N_CUSTOMERS + 1))
CUSTOMER_WEIGHTS = 1.0 / np.arange(1, N_CUSTOMERS + 1) ** 1.1
CUSTOMER_WEIGHTS /= CUSTOMER_WEIGHTS.sum()
"""Zipf-like: cust_0001 alone makes ~18 % of the traffic, the tail a few calls a day each."""

STEPS = ("classify", "embed", "vector", "plan", "tool_1", "tool_2", "tool_3", "generate", "validate")
"""Workflow steps in execution order; a trace runs 0 to 3 of the tool steps."""
STEP_MEANS = {
    "classify": (800, 15),
    "embed": (200, 0),
    "vector": (0, 0),
    "plan": (3000, 350),
    "tool": (1800, 120),
    "generate": (5000, 700),
    "validate": (2500, 60),
}
"""Mean (input, output) tokens per step on the first day."""
TOOL_COUNT_P = (0.3, 0.35, 0.2, 0.15)


@dataclass(frozen=True)
class Agent:
    name: str
    workflow: str
    feature: str
    weight: float
    step_models: dict[str, str]
    """Model per step kind; `embed` and `vector` are the same for every agent."""


AGENTS: tuple[Agent, ...] = (
    Agent(
        "support_agent",
        "resolve_ticket",
        "reply_draft",
        0.35,
        {
            "classify": "claude-haiku-4-5",
            "plan": "claude-sonnet-4-5",
            "generate": "claude-sonnet-4-5",
            "validate": "claude-haiku-4-5",
        },
    ),
    Agent(
        "research_agent",
        "answer_question",
        "paper_qa",
        0.2,
        {"classify": "gpt-4o-mini", "plan": "gpt-4o", "generate": "gpt-4o", "validate": "gpt-4o-mini"},
    ),
    Agent(
        "sales_agent",
        "draft_outreach",
        "email_outreach",
        0.2,
        {
            "classify": "anthropic.claude-3-haiku-20240307-v1:0",
            "plan": "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "generate": "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "validate": "anthropic.claude-3-haiku-20240307-v1:0",
        },
    ),
    Agent(
        "search_agent",
        "search_and_answer",
        "semantic_search",
        0.25,
        {
            "classify": "gpt-4o-mini",
            "plan": "gpt-4o-mini",
            "generate": "claude-sonnet-4-5",
            "validate": "claude-haiku-4-5",
        },
    ),
)
OTLP_AGENT = "support_agent"
"""This agent's calls are only in the OTLP span files, never in the canonical usage files."""
OTLP_SERVICE = "support-bot"


def _step_kind(step: str) -> str:
    return "tool" if step.startswith("tool") else step


def step_model_table() -> np.ndarray:
    """`[agent, step] -> model index`; tool steps run on the self-hosted model."""
    fixed = {"embed": "text-embedding-3-small", "vector": "vector_query", "tool": "llama-3.1-70b"}
    return np.array([[M[{**fixed, **a.step_models}[_step_kind(s)]] for s in STEPS] for a in AGENTS], dtype=np.int64)


def step_means() -> np.ndarray:
    """`[step] -> (mean input, mean output)`."""
    return np.array([STEP_MEANS[_step_kind(s)] for s in STEPS], dtype=np.float64)


ERROR_TYPES = ("rate_limit", "timeout", "server_error")
ERROR_P = (0.5, 0.25, 0.25)
ERROR_MESSAGES = {
    "rate_limit": "429 Too Many Requests",
    "timeout": "Request timed out",
    "server_error": "500 Internal Server Error",
}
RETRY_SHARE = 0.07
"""Share of model calls whose first attempt fails and is retried once, successfully."""
FAIL_SHARE = 0.02
"""Share of model calls that fail with no retry."""
REPEAT_SHARE = 0.15
"""Share of calls whose prompt comes from a small pool of recurring prompts."""
POOL_PER_FEATURE_MODEL = 20
DAILY_INPUT_GROWTH = 1.03

HOURLY_WEIGHTS = np.array(
    [3, 2, 2, 2, 2, 3, 4, 6, 8, 10, 11, 12, 12, 13, 14, 14, 13, 12, 10, 8, 7, 6, 5, 4], dtype=np.float64
)
"""Relative traffic per UTC hour."""


@cache
def pool_hashes() -> tuple[str, ...]:
    """sha256 of the recurring prompts' synthetic ids.

    Indexed `(feature * len(MODELS) + model) * POOL_PER_FEATURE_MODEL + k`."""
    return tuple(
        hashlib.sha256(f"pool/{f.name}/{m.name or m.operation}/{k}".encode()).hexdigest()
        for f in FEATURES
        for m in MODELS
        for k in range(POOL_PER_FEATURE_MODEL)
    )


NEAR_DUPLICATE_SHARE = 0.3
"""Share of the recurring prompts' calls that send a reworded variant (a near duplicate) instead."""
NEAR_VARIANTS = 3
"""Variants of each recurring prompt."""


def pool_simhashes() -> np.ndarray:
    """A random 64-bit SimHash per recurring prompt (indexed like `pool_hashes`), the same every run."""
    return np.random.default_rng(20261101).integers(0, 2**64, size=len(pool_hashes()), dtype=np.uint64)


def near_flips(pool_key: np.ndarray, variant: np.ndarray) -> np.ndarray:
    """The bits (two, or none when both land on one) a variant's SimHash differs in from its recurring prompt's."""
    first = (pool_key * 7 + variant * 13) % 64
    second = (pool_key * 11 + variant * 29 + 1) % 64
    one = np.uint64(1)
    return np.left_shift(one, first.astype(np.uint64)) ^ np.left_shift(one, second.astype(np.uint64))


# ---- the cloud bill ---------------------------------------------------------------------------------------

BILLING_ACCOUNT = ("044444444444", "acme-management")
SUB_ACCOUNTS = {
    "ml-prod": "011111111111",
    "search-prod": "022222222222",
    "shared": "033333333333",
}
REGION = "us-east-1"

GPU_CLUSTER = "gpu-cluster-llama"
GPU_COUNT = 8
GPU_RESERVATION = "arn:aws:ec2:us-east-1:011111111111:reserved-instances/0a1b2c3d-llama-p5"
GPU_HOUR_LIST = "12.2900000000"
"""On-demand price of one H100 hour on p5.48xlarge (98.32 / 8)."""
GPU_HOUR_EFFECTIVE = "7.5000000000"
"""The reservation's amortized price per GPU-hour."""
IDLE_SHARE = (0.15, 0.30)

BEDROCK_FACTOR = "0.97"
VENDOR_FACTORS = {"openai": "0.92", "anthropic": "0.95"}
UNLOGGED_KEY = API_KEYS["search"]
UNLOGGED_SHARE = 0.03
"""Calls on `UNLOGGED_KEY` that the vendors served and billed but the application never logged, as a share of that
key's logged OpenAI / Anthropic calls (a code path that calls the SDK without the logging wrapper). The vendors' usage
reports count them."""
ORPHAN_SHARE = (0.008, 0.012)
"""Per day: usage on `key_orphan`, as a share of the vendor's logged usage."""

PINECONE_READ_UNITS_PER_QUERY = 10
PINECONE_READ_UNIT_PRICE = "0.0000160000"
REVIEW_VENDOR = "LabelForce"
"""A human-review vendor: a flat monthly plan for reviewing support replies."""
REVIEW_MONTHLY = "4500.00"
GPU_CLOUD_VENDOR = "Nimbus GPU Cloud"
"""A GPU cloud renting on-demand GPUs for the self-hosted model's overflow, invoiced monthly."""
GPU_CLOUD_GPUS = 2
GPU_CLOUD_HOUR = "2.49"
DATADOG_SPAN_PRICE = "0.0005000000"
TAX_RATE = "0.06"


@dataclass(frozen=True)
class Resource:
    """A plain cloud resource billed daily: `quantity` units a day on average at `unit_price` each."""

    resource_id: str
    sub_account: str
    service: str
    category: str
    subcategory: str
    resource_type: str
    sku_meter: str
    unit: str
    quantity: float
    unit_price: str
    team: str | None = None
    feature: str | None = None


RESOURCES: tuple[Resource, ...] = (
    Resource("i-0a11search01", "search-prod", "Amazon EC2", "Compute", "Virtual Machines", "Instance",
             "m7i.2xlarge", "Hours", 72, "0.4032", "search", "semantic_search"),
    Resource("i-0a12search02", "search-prod", "Amazon EC2", "Compute", "Virtual Machines", "Instance",
             "c7i.xlarge", "Hours", 48, "0.1785", "search", "query_rewrite"),
    Resource("i-0b21support1", "ml-prod", "Amazon EC2", "Compute", "Virtual Machines", "Instance",
             "m7i.xlarge", "Hours", 48, "0.2016", "support", "reply_draft"),
    Resource("i-0b22evalrun1", "ml-prod", "Amazon EC2", "Compute", "Virtual Machines", "Instance",
             "g5.xlarge", "Hours", 20, "1.0060", "platform", "eval_harness"),
    Resource("i-0c31growth01", "shared", "Amazon EC2", "Compute", "Virtual Machines", "Instance",
             "t3.large", "Hours", 48, "0.0832", "growth", "onboarding_chat"),
    Resource("i-0c32etlwork1", "shared", "Amazon EC2", "Compute", "Virtual Machines", "Instance",
             "m7i.4xlarge", "Hours", 24, "0.8064"),
    Resource("i-0c33bastion1", "shared", "Amazon EC2", "Compute", "Virtual Machines", "Instance",
             "t3.micro", "Hours", 24, "0.0104"),
    Resource("search-index-snapshots", "search-prod", "Amazon S3", "Storage", "Object Storage", "Bucket",
             "TimedStorage-ByteHrs", "GB-Months", 1800, "0.0007666667", "search", "semantic_search"),
    Resource("support-transcripts", "ml-prod", "Amazon S3", "Storage", "Object Storage", "Bucket",
             "TimedStorage-ByteHrs", "GB-Months", 900, "0.0007666667", "support", "ticket_triage"),
    Resource("research-corpus", "ml-prod", "Amazon S3", "Storage", "Object Storage", "Bucket",
             "TimedStorage-ByteHrs", "GB-Months", 2500, "0.0007666667", "research", "doc_summarize"),
    Resource("model-artifacts", "ml-prod", "Amazon S3", "Storage", "Object Storage", "Bucket",
             "TimedStorage-ByteHrs", "GB-Months", 4000, "0.0007666667"),
    Resource("shared-logs", "shared", "Amazon S3", "Storage", "Object Storage", "Bucket",
             "TimedStorage-ByteHrs", "GB-Months", 6000, "0.0007666667"),
    Resource("search-prod-egress", "search-prod", "AWS Data Transfer", "Networking", "Network Connectivity",
             "Data Transfer", "DataTransfer-Out-Bytes", "GB", 300, "0.0900"),
    Resource("ml-prod-egress", "ml-prod", "AWS Data Transfer", "Networking", "Network Connectivity",
             "Data Transfer", "DataTransfer-Out-Bytes", "GB", 120, "0.0900", "research", "paper_qa"),
    Resource("nat-gateway-shared", "shared", "AWS Data Transfer", "Networking", "Network Connectivity",
             "NAT Gateway", "NatGateway-Bytes", "GB", 800, "0.0450"),
)  # fmt: skip
"""Six of fifteen untagged (40 %)."""
