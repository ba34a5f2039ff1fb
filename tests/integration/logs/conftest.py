"""log-service test fixtures (defined in tests/fixtures/logs.py and tests/fixtures/auth.py)."""

from tests.fixtures.logs import publisher, rpc  # noqa: F401
