"""Exports of apportion's results in standard formats other tools read: `focus` (FOCUS Cost and Usage)."""
