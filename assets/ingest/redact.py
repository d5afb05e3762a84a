"""Redacted raw copies for sources that can carry prompt or response text.

Raw keeps what a source delivered so any day can be recomputed, but apportion never stores prompt or response
text. A kind whose files may hold text (OTLP spans with `gen_ai.input.messages`, say) lands a copy with that text
removed instead of the bytes as delivered; everything apportion reads stays. The stream is handled line by line,
one OTLP export request (a batch of spans) at a time, never as a whole file in memory.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import IO, Any

CONTENT_KEYS = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "gen_ai.tool.definitions",
    "gen_ai.prompt",
    "gen_ai.completion",
    "input.value",
    "output.value",
    "llm.input_messages",
    "llm.output_messages",
)
"""Attribute keys (and key prefixes: `gen_ai.prompt.0.content`) that hold message text in GenAI telemetry."""


def _is_content(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in CONTENT_KEYS)


def _strip(node: Any) -> Any:
    """The node without content attributes anywhere (span and resource attributes, span events' attributes)."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "attributes" and isinstance(value, list):
                value = [a for a in value if not (isinstance(a, dict) and _is_content(str(a.get("key", ""))))]
            out[key] = _strip(value)
        return out
    if isinstance(node, list):
        return [_strip(item) for item in node]
    return node


def _open(path: Path, mode: str) -> IO[bytes]:
    return gzip.open(path, mode) if path.suffix == ".gz" else path.open(mode)  # type: ignore[return-value]


def redact_otlp_json(source: Path, target: Path) -> None:
    """Copy OTLP JSON lines from `source` to `target` without message content. A line that is not JSON cannot be
    inspected, so it is replaced by a line that says so (still not JSON: it is quarantined as malformed, as the
    original would have been); blank lines stay as they are, so line numbers keep pointing at the same records."""
    with _open(source, "rb") as reader, _open(target, "wb") as writer:
        for line in reader:
            text = line.strip()
            if not text:
                writer.write(line if line.endswith(b"\n") else line + b"\n")
                continue
            try:
                request = json.loads(text)
            except (ValueError, UnicodeDecodeError):
                digest = hashlib.sha256(text).hexdigest()[:16]
                writer.write(f"<redacted line that was not JSON: {len(text)} bytes, sha256 {digest}>\n".encode())
                continue
            writer.write(json.dumps(_strip(request), separators=(",", ":"), ensure_ascii=False).encode() + b"\n")
