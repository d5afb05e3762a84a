"""Prompt fingerprints for applications that log their own LLM calls: `prompt_hash` (exact duplicates) and
`prompt_simhash` (near duplicates), the two usage columns that let apportion measure cache potential without ever
storing prompt text.

An application computes them where it still has the text, and logs only the numbers:

```python
from assets.ingest.prompt_hash import fingerprint

def log_call(logger, messages, response, **dimensions):
    logger.info(json.dumps({**usage_of(response), **dimensions, **fingerprint(messages).as_usage()}))
```

- `normalize_prompt` folds what does not change the request's meaning for a cache: Unicode compatibility forms
  (NFKC), line endings, runs of white space, leading and trailing blanks. Case is kept: a cache keyed on the hash
  must return the same answer, and case can change it.
- `prompt_hash` is the SHA-256 (hex) of the normalized text as UTF-8.
- `prompt_simhash` is Charikar's 64-bit SimHash of the lower-cased text's word 3-shingles (each weighted by its
  count, hashed with BLAKE2b-64): prompts that differ in a few words are a few bits apart. apportion counts two
  prompts as near duplicates when `hamming(a, b) <= duplicates.max_distance` (`config/insights.yaml`).

A chat request is normalized as its messages in order, each `role` and text joined, so the same words in another
role are another prompt. Content parts other than text (images, audio) are left out of the fingerprint.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

SHINGLE_WORDS = 3
_WHITE_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+")
_BITS = np.arange(64, dtype=np.uint64)
_MESSAGE_SEPARATOR = "\n\x1e\n"

Prompt = str | Sequence[Mapping[str, Any]]
"""Prompt text, or chat messages as `{"role": ..., "content": str | [{"type": "text", "text": ...}, ...]}`."""


@dataclass(frozen=True)
class Fingerprint:
    prompt_hash: str
    prompt_simhash: int

    def as_usage(self) -> dict[str, str | int]:
        """The two fields under their names in the usage schema."""
        return {"prompt_hash": self.prompt_hash, "prompt_simhash": self.prompt_simhash}


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "\n".join(p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str))
    return ""


def normalize_prompt(prompt: Prompt) -> str:
    """The canonical text of a prompt (see the module docstring)."""
    parts = (
        [prompt]
        if isinstance(prompt, str)
        else [f"{m.get('role', '')}\n{_message_text(m.get('content'))}" for m in prompt]
    )
    return _MESSAGE_SEPARATOR.join(_WHITE_SPACE.sub(" ", unicodedata.normalize("NFKC", p)).strip() for p in parts)


def prompt_hash(prompt: Prompt) -> str:
    """SHA-256 hex digest of the normalized prompt."""
    return hashlib.sha256(normalize_prompt(prompt).encode("utf-8")).hexdigest()


def _shingles(text: str) -> Counter[str]:
    words = _WORD.findall(text.lower())
    size = min(SHINGLE_WORDS, len(words))
    return Counter(" ".join(words[i : i + size]) for i in range(len(words) - size + 1)) if size else Counter()


def simhash(text: str) -> int:
    """64-bit SimHash of `text`'s word shingles, as an unsigned integer (0 for text without words)."""
    counts = _shingles(text)
    if not counts:
        return 0
    digests = b"".join(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest() for s in counts)
    hashes = np.frombuffer(digests, dtype="<u8")
    weights = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
    bits = ((hashes[:, None] >> _BITS) & np.uint64(1)).astype(np.int64)
    votes = weights @ (2 * bits - 1)
    return int(np.sum(np.left_shift(np.uint64(1), _BITS[votes > 0]), dtype=np.uint64))


def prompt_simhash(prompt: Prompt) -> int:
    """SimHash of the normalized prompt."""
    return simhash(normalize_prompt(prompt))


def fingerprint(prompt: Prompt) -> Fingerprint:
    """Both fingerprints of a prompt, normalized once."""
    text = normalize_prompt(prompt)
    return Fingerprint(hashlib.sha256(text.encode("utf-8")).hexdigest(), simhash(text))


def hamming(a: int, b: int) -> int:
    """Bits in which two SimHashes differ (`bit_count(a xor b)` in SQL)."""
    return (a ^ b).bit_count()
