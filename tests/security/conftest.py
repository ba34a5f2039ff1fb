"""auth-service + gateway once for this folder (starting processes costs CPU)."""

from __future__ import annotations

import pytest

from tests.fixtures.auth import AuthStack, auth_stack  # noqa: F401 - the fixture


@pytest.fixture
def stack(auth_stack: AuthStack) -> AuthStack:  # noqa: F811
    return auth_stack
