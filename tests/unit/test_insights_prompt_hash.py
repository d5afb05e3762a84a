"""Prompt fingerprints: the normalized-prompt hash for exact duplicates and the 64-bit SimHash for near ones."""

from __future__ import annotations

import hashlib

from assets.ingest.prompt_hash import fingerprint, hamming, normalize_prompt, prompt_hash, prompt_simhash, simhash

TICKET = (
    "You are a support assistant. Summarize the following ticket for the billing team and suggest a next step. "
    "Ticket: the customer cannot log in after resetting the password, sees error {code} on the login page, and "
    "was charged twice for the annual plan last month. They want a refund of the second charge."
)


def test_the_hash_is_sha256_of_the_normalized_text():
    assert normalize_prompt("  Hello,\r\n\tworld  \u00a0! ") == "Hello, world !"
    assert prompt_hash("Hello,   world !") == hashlib.sha256(b"Hello, world !").hexdigest()
    assert prompt_hash("Hello, world") != prompt_hash("hello, world")  # case can change the answer


def test_chat_messages_are_fingerprinted_role_by_role():
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hi  there"}]},
    ]
    assert normalize_prompt(messages) == "system Be brief.\n\x1e\nuser Hi there"
    assert prompt_hash(messages) != prompt_hash([{"role": "user", "content": "Be brief."}, messages[1]])
    assert fingerprint(messages).as_usage() == {
        "prompt_hash": prompt_hash(messages),
        "prompt_simhash": prompt_simhash(messages),
    }


def test_near_identical_prompts_are_a_few_bits_apart_and_unrelated_ones_are_not():
    a, b = simhash(TICKET.format(code=42)), simhash(TICKET.format(code=43))
    other = simhash("Write a haiku sequence about autumn leaves falling on a quiet river at dusk, one per season.")
    assert 0 < hamming(a, b) <= 8
    assert hamming(a, other) >= 20
    assert simhash(TICKET.format(code=42)) == a  # deterministic across runs (BLAKE2b, no salted hash())
    assert 0 <= a < 2**64


def test_text_without_words_has_simhash_zero():
    assert simhash("") == 0 and simhash(" ... !") == 0
    assert simhash("one") == simhash("ONE") != 0
