"""Where the real public exports used by the tests are: `<repo>/../shared/samples` (see the common brief)."""

from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / ".." / "shared" / "samples"


def sample_files(pattern: str = "*/*") -> list[Path]:
    """The sample files matching `pattern` under the samples folder; fails (never skips) when it is missing."""
    assert SAMPLES.is_dir(), f"real sample exports not found at {SAMPLES.resolve()}: check out ../shared/samples"
    found = sorted(p for p in SAMPLES.glob(pattern) if p.is_file())
    assert found, f"no sample matches {pattern} under {SAMPLES.resolve()}"
    return found
