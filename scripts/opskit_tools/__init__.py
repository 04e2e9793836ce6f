"""Build, validation, demo and benchmark tooling for opskit (used by scripts/*.py and the tests)."""
