"""Root conftest: shared fixtures live in tests/fixtures/ as plugins."""

import importlib.util

pytest_plugins = ["tests.fixtures.infra"]
# One registration each, so session fixtures (the sandbox, the auth stack) start once per
# run rather than once per folder that imports them.
for _plugin in ("tests.fixtures.sandbox", "tests.fixtures.auth"):
    if importlib.util.find_spec(_plugin) is not None:
        pytest_plugins.append(_plugin)
