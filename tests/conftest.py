"""Root conftest: shared fixtures live in tests/fixtures/ as plugins."""

import importlib.util

pytest_plugins = ["tests.fixtures.infra"]
if importlib.util.find_spec("tests.fixtures.sandbox") is not None:
    pytest_plugins.append("tests.fixtures.sandbox")
