"""Where the shared real sample exports are: `<repo>/../shared/samples` (as in CI). Tests that use them fail, naming
the folder, when it is absent: they are never skipped."""

from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / ".." / "shared" / "samples"


def sample(relative: str) -> Path:
    """The sample file `relative` (e.g. `aws/koku_test_cur.csv`); an AssertionError names where it was looked for."""
    path = SAMPLES.resolve() / relative
    assert path.is_file(), (
        f"sample export {relative} not found under {SAMPLES.resolve()}: the shared samples must sit beside the "
        "repository (<repo>/../shared/samples)"
    )
    return path


def sample_files(pattern: str = "*/*") -> list[Path]:
    """The sample files matching `pattern` under the samples folder; fails (never skips) when it is missing."""
    assert SAMPLES.is_dir(), f"real sample exports not found at {SAMPLES.resolve()}: check out ../shared/samples"
    found = sorted(p for p in SAMPLES.glob(pattern) if p.is_file())
    assert found, f"no sample matches {pattern} under {SAMPLES.resolve()}"
    return found
