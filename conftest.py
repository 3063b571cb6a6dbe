"""Repository-wide pytest settings: none. The bench is the `citebench` plugin (bench/plugin.py).

Nothing here may import a test-only package: `bench run` loads this file with the runtime
dependencies alone. The test suite's own settings (Hypothesis profiles) live in tests/conftest.py.
"""
