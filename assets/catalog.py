"""The price catalog's model matching (genai-prices): which catalog model a provider's model name is.

Pricing looks calls up here; staging gives bill lines their catalog model (`x_CatalogModel`) here, so that usage
rules can join a bill line to the priced calls of the same model. It sits below both.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache

import duckdb
from genai_prices.data_snapshot import get_snapshot
from genai_prices.types import ModelInfo


@cache
def lookup_model(provider: str, model: str) -> tuple[ModelInfo, bool] | None:
    """The catalog model genai-prices prices `model` as under `provider` (provider id and the model's `match`
    clause; no guessing of the provider), and whether it is the provider's own: genai-prices ignores the price
    variants of a model it borrows from a fallback provider."""
    try:
        found, info = get_snapshot().find_provider_model(model, None, provider, None)
    except LookupError:
        return None
    return info, any(info is own for own in found.models)


def _bill_model_names(name: str) -> list[str]:
    """Spellings of a bill's model name the catalog's own matching may take: as written, lower-cased, without a
    trailing `-MMDD` date (`gpt-4o-0513` → `gpt-4o`)."""
    lower = name.strip().lower()
    return list(dict.fromkeys([name.strip(), lower, re.sub(r"-\d{4}$", "", lower)]))


def _words(name: str) -> Counter[str]:
    """The words of a model name, split at separators, lower-to-upper case and letter-digit changes:
    `Claude3.5SonnetV2` and `anthropic.claude-3-5-sonnet-20241022-v2:0` both have claude, 3, 5, sonnet, v, 2."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])", " ", name)
    return Counter(w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w)


@cache
def catalog_model_id(provider: str, model: str) -> str | None:
    """The catalog's id of a model a bill names under `provider`: the catalog's own matching of the name
    (`_bill_model_names`), else the provider's model whose id has every word of the name (`Claude3.5Sonnet` →
    `…anthropic.claude-3-5-sonnet-20240620-v1:0`; of several, the shortest id, then the first). None when the
    catalog has no such provider, or no model has all the words."""
    for name in _bill_model_names(model):
        if found := lookup_model(provider, name):
            return found[0].id
    listed = next((p for p in get_snapshot().providers if p.id == provider), None)
    wanted = _words(model)
    if listed is None or not wanted:
        return None
    found = sorted((m.id for m in listed.models if not wanted - _words(m.id)), key=lambda i: (len(i), i))
    return found[0] if found else None


def resolve_catalog_models(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Give the cost lines of `table` with a provider and model their catalog model (`x_CatalogModel`), so that a
    usage rule can join them to the priced calls' `catalog_model`. Each distinct pair is looked up once."""
    pairs = con.execute(
        f"select distinct x_Provider, x_Model from {table} "
        "where x_CatalogModel is null and x_Provider is not null and x_Model is not null"
    ).fetchall()
    found = [(p, m, c) for p, m in pairs if (c := catalog_model_id(p, m))]
    if not found:
        return
    con.execute("create or replace temp table catalog_models (provider varchar, model varchar, catalog varchar)")
    con.executemany("insert into catalog_models values (?, ?, ?)", found)
    con.execute(
        f"update {table} t set x_CatalogModel = c.catalog from catalog_models c "
        "where t.x_CatalogModel is null and t.x_Provider = c.provider and t.x_Model = c.model"
    )
