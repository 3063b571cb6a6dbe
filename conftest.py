"""Repository-wide pytest settings; the bench itself is the `citebench` plugin (bench/plugin.py)."""

from hypothesis import settings

# Deterministic fuzzing in CI: the same examples every run, no example database on disk.
settings.register_profile("citebench", derandomize=True, database=None, deadline=None)
settings.load_profile("citebench")
